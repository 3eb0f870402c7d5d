// The Environment contract: how a flow run is launched (here, or as a Job on Kubernetes). The
// contract adds the `environment` option to the flow's options.

import type { Flow, RunOptions } from "./flow.ts";
import type { FlowRunState } from "./states.ts";

declare module "./flow.ts" {
  interface FlowOptions {
    /** How runs of the flow are launched. @default LocalEnvironment */
    environment?: Environment;
  }
}

/** A launched flow run, followed until its end. */
export interface RunHandle {
  readonly runId: string;
  /** Resolves with the final state. */
  wait(): Promise<FlowRunState>;
  /** Stop the run and everything it created. */
  cancel(): Promise<void>;
}

export interface Environment {
  readonly kind: string;
  /** Prepare what runs need (e.g. an image pull Secret); idempotent. */
  setup(flow: Flow): Promise<void>;
  /** Launch a run of `flow`. */
  execute(flow: Flow, options: RunOptions): Promise<RunHandle>;
}
