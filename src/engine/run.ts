// Runs a flow here: validates it, resolves parameters, and drives the flow runner's commands
// through the executor it is given until the final state. `flow.run()` and LocalEnvironment end
// up here (with LocalExecutor unless the flow or the caller names another), and so does the
// runner inside a Kubernetes Job.

import { randomUUID } from "node:crypto";
import { serializeError } from "../core/errors.ts";
import type { Executor, ExecutorContext, ExecutorSession } from "../core/executor.ts";
import { flowFingerprint } from "../core/fingerprint.ts";
import type { Flow, RunOptions } from "../core/flow.ts";
import type { FlowRunState } from "../core/states.ts";
import { scrubProcessOutput } from "../secrets/process-output.ts";
import { setDefaultLogger } from "./context.ts";
import { FlowRunner, type RunnerCommand } from "./flow-runner.ts";
import { createLogger } from "./logging.ts";

export function newRunId(): string {
  return randomUUID();
}

/** The options of runFlow: a run's options, with the executor given apart. */
export type FlowRunOptions = Omit<RunOptions, "executor">;

/** Run `flow` here, its task runs carried out by `executor`; resolves with the final state. */
export async function runFlow(
  flow: Flow,
  executor: Executor,
  options: FlowRunOptions = {},
): Promise<FlowRunState> {
  flow.validate();
  const parameters = flow.resolveParameters(options.parameters);
  const runId = options.runId ?? newRunId();
  const logger = options.logger ?? createLogger();
  setDefaultLogger(logger);
  const onEvent = options.onEvent ?? (() => {});
  const runner = new FlowRunner(flow, { runId, parameters, onEvent });
  const abort = new AbortController();

  let session: ExecutorSession | undefined;
  let queued: RunnerCommand[] = [];
  let resolveDone!: (state: FlowRunState) => void;
  const done = new Promise<FlowRunState>((r) => {
    resolveDone = r;
  });

  const apply = (commands: RunnerCommand[]) => {
    if (session === undefined) {
      queued.push(...commands);
      return;
    }
    for (const c of commands) {
      if (c.type === "submit") session.submit(c.runs);
      else resolveDone(c.state);
    }
  };

  const context: ExecutorContext = {
    flow,
    runId,
    fingerprint: flowFingerprint(flow),
    logger,
    onResult: (result) => apply(runner.handle(result)),
    onEvent: (event) => {
      if (event.type === "taskStarted")
        runner.started(event.slug, event.mapIndex, event.attempt, event.worker);
      onEvent(event);
    },
    onFatal: (error) => {
      logger.error({ code: error.code }, error.message);
      apply(runner.fail(error));
    },
    signal: abort.signal,
  };

  // console.* and direct writes of tasks running here go through the scrubber, as in a worker
  const restoreOutput = scrubProcessOutput();
  // A task whose promise never settles holds nothing open: without this the process would end
  // (exit 13, unsettled await) with the run unfinished. The run waits until it ends or is cancelled.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const onAbort = () => apply(runner.fail(new Error("the run was cancelled")));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  try {
    session = await executor.start(context);
    // A fatal error or a cancel may have ended the run while the executor was starting.
    const first = [...queued, ...runner.start()];
    queued = [];
    apply(first);
    return await done;
  } catch (error) {
    if (session === undefined) throw error;
    runner.fail(serializeError(error));
    return runner.state;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    abort.abort();
    try {
      await session?.close();
    } finally {
      clearInterval(keepAlive);
      restoreOutput();
    }
  }
}
