// The executor contract: where the task runs of one flow run execute. The flow runner decides
// what runs (a state machine); an executor only carries task runs out and reports results.
// LocalExecutor runs them in this process; ClusterExecutor sends them to workers over a broker.
// The contract adds the `executor` option to the flow's and the run's options.

import type { SerializedError } from "./errors.ts";
import type { Flow } from "./flow.ts";
import type { Logger } from "./logger.ts";
import type { FinalTaskState, Retrying } from "./states.ts";

declare module "./flow.ts" {
  interface FlowOptions {
    /** Where task runs execute, when the environment does not decide. @default LocalExecutor */
    executor?: Executor;
  }
  interface RunOptions {
    /** Where the task runs execute. @default the flow's executor, else LocalExecutor */
    executor?: Executor;
    /** Called with progress events (task runs started, finished, retrying; worker counts). */
    onEvent?: (event: RunEvent) => void;
  }
}

/** One task run to execute: the task's slug, its resolved inputs, the attempt it starts at. */
export interface TaskRunRequest {
  slug: string;
  /** Index in the mapped input, or -1 for an unmapped task run. */
  mapIndex: number;
  args: unknown[];
  /** 1 for a first run; more when a run is resumed after a lost worker. */
  attempt: number;
}

/** A finished task run. */
export interface TaskRunResult {
  slug: string;
  mapIndex: number;
  state: Exclude<FinalTaskState, { type: "Mapped" }>;
  attempts: number;
  startedAt: number;
  finishedAt: number;
  worker?: string;
}

/** Progress events, for the CLI and for scripts that follow a run. */
export type RunEvent =
  | { type: "taskStarted"; slug: string; mapIndex: number; attempt: number; worker?: string }
  | { type: "taskRetrying"; slug: string; mapIndex: number; state: Retrying; worker?: string }
  | { type: "taskFinished"; slug: string; mapIndex: number; state: FinalTaskState }
  | { type: "mapped"; slug: string; children: number }
  | { type: "workers"; count: number; pending: number; reason: string }
  | { type: "log"; level: string; message: string; slug?: string; mapIndex?: number; worker?: string };

export interface ExecutorContext {
  flow: Flow;
  runId: string;
  fingerprint: string;
  logger: Logger;
  /** Report a finished task run (exactly once per submitted request). */
  onResult(result: TaskRunResult): void;
  /** Report progress. */
  onEvent(event: RunEvent): void;
  /** The executor cannot go on (broker lost, workers run other code): the run fails with this. */
  onFatal(error: SerializedError): void;
  signal: AbortSignal;
}

export interface ExecutorSession {
  /** Hand ready task runs over; a batch may be large (a whole map). Never blocks. */
  submit(runs: readonly TaskRunRequest[]): void;
  /** Release everything the session holds (workers, connections, queues). Idempotent. */
  close(): Promise<void>;
}

export interface Executor {
  readonly kind: string;
  start(context: ExecutorContext): Promise<ExecutorSession>;
}

export type { SerializedError };
