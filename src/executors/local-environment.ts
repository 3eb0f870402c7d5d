// LocalEnvironment: the default environment. A run executes in this process, with the flow's
// executor (LocalExecutor unless the flow or the caller names another). Loading this module also
// gives `flow.run()` its way to run here (the model cannot import the engine).

import type { Environment, RunHandle } from "../core/environment.ts";
import type { Executor } from "../core/executor.ts";
import { type Flow, provideLocalRun, type RunOptions } from "../core/flow.ts";
import type { FlowRunState } from "../core/states.ts";
import { newRunId, runFlow } from "../engine/run.ts";
import { LocalExecutor } from "./local-executor.ts";

/** The executor of a run here: the caller's, else the flow's, else a LocalExecutor. */
export function executorFor(flow: Flow, options: RunOptions): Executor {
  return options.executor ?? flow.options.executor ?? new LocalExecutor();
}

/** Run `flow` here and resolve with its final state (what `flow.run()` does). */
export function runHere(flow: Flow, options: RunOptions = {}): Promise<FlowRunState> {
  const { executor: _, ...rest } = options;
  return runFlow(flow, executorFor(flow, options), rest);
}

provideLocalRun(runHere);

export class LocalEnvironment implements Environment {
  readonly kind = "local";

  async setup(_flow: Flow): Promise<void> {}

  async execute(flow: Flow, options: RunOptions = {}): Promise<RunHandle> {
    const runId = options.runId ?? newRunId();
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    const state = runHere(flow, { ...options, runId, signal });
    return {
      runId,
      wait: () => state,
      cancel: async () => {
        controller.abort();
        await state.catch(() => {});
      },
    };
  }
}
