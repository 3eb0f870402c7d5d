// LocalEnvironment: the default environment. A run executes in this process, with the flow's
// executor (LocalExecutor unless the flow or the caller names another).

import type { Environment, RunHandle } from "../core/environment.ts";
import type { Flow, RunOptions } from "../core/flow.ts";
import { newRunId, runFlow } from "./run.ts";

export class LocalEnvironment implements Environment {
  readonly kind = "local";

  async setup(_flow: Flow): Promise<void> {}

  async execute(flow: Flow, options: RunOptions = {}): Promise<RunHandle> {
    const runId = options.runId ?? newRunId();
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    const state = runFlow(flow, { ...options, runId, signal });
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
