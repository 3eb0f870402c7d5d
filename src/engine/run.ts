// Runs a flow here: validates it, resolves parameters, and drives the flow runner's commands
// through an executor until the final state. `flow.run()` and LocalEnvironment end up here, and so
// does the runner inside a Kubernetes Job.

import { randomUUID } from "node:crypto";
import { serializeError } from "../core/errors.ts";
import { flowFingerprint } from "../core/fingerprint.ts";
import type { Flow, RunOptions } from "../core/flow.ts";
import type { FlowRunState } from "../core/states.ts";
import { LocalExecutor } from "../executors/local.ts";
import { setDefaultLogger } from "./context.ts";
import type { ExecutorContext, ExecutorSession } from "./executor.ts";
import { FlowRunner, type RunnerCommand } from "./flow-runner.ts";
import { createLogger } from "./logging.ts";

export function newRunId(): string {
  return randomUUID();
}

export async function runFlow(flow: Flow, options: RunOptions = {}): Promise<FlowRunState> {
  flow.validate();
  const parameters = flow.resolveParameters(options.parameters);
  const runId = options.runId ?? newRunId();
  const logger = options.logger ?? createLogger();
  setDefaultLogger(logger);
  const executor = options.executor ?? flow.options.executor ?? new LocalExecutor();
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
    onEvent,
    onFatal: (error) => {
      logger.error({ code: error.code }, error.message);
      apply(runner.fail(error));
    },
    signal: abort.signal,
  };

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
    await session?.close();
  }
}
