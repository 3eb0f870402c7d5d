// States of task runs and flow runs, as a discriminated union on `type`, plus the predicates
// that triggers and the final-state rule use. States are plain data: they cross processes.

import type { SerializedError } from "./errors.ts";

export const StateType = {
  Pending: "Pending",
  Running: "Running",
  Success: "Success",
  Failed: "Failed",
  Retrying: "Retrying",
  Skipped: "Skipped",
  TriggerFailed: "TriggerFailed",
  TimedOut: "TimedOut",
  Mapped: "Mapped",
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];

export interface Pending {
  type: "Pending";
  message?: string;
}
export interface Running {
  type: "Running";
  attempt: number;
}
export interface Success<T = unknown> {
  type: "Success";
  result: T;
  message?: string;
}
export interface Failed {
  type: "Failed";
  message: string;
  error?: SerializedError;
}
export interface Retrying {
  type: "Retrying";
  /** The attempt that failed (1-based). */
  attempt: number;
  /** When the next attempt starts, ms since the epoch. */
  retryAt: number;
  message: string;
  error?: SerializedError;
}
export interface Skipped {
  type: "Skipped";
  message: string;
}
export interface TriggerFailed {
  type: "TriggerFailed";
  message: string;
}
export interface TimedOut {
  type: "TimedOut";
  message: string;
  timeoutMs: number;
}
/** A mapped task: one child task run per element of its mapped input. */
export interface Mapped {
  type: "Mapped";
  children: TaskRunRecord[];
}

export type TaskState =
  | Pending
  | Running
  | Success
  | Failed
  | Retrying
  | Skipped
  | TriggerFailed
  | TimedOut
  | Mapped;
/** The states a task run can end in. */
export type FinalTaskState = Success | Failed | Skipped | TriggerFailed | TimedOut | Mapped;

/** What the engine knows of one task run (or one mapped parent). */
export interface TaskRunRecord {
  state: TaskState;
  /** How many times the task function was started. */
  attempts: number;
  startedAt?: number;
  finishedAt?: number;
  /** The worker that ran it (cluster executors only). */
  worker?: string;
}

export type FlowStateType = "Pending" | "Running" | "Success" | "Failed";

export interface FlowRunState {
  type: FlowStateType;
  message: string;
  flow: string;
  runId: string;
  /** Task runs by slug; mapped tasks hold their children. */
  taskRuns: Record<string, TaskRunRecord>;
  startedAt: number;
  finishedAt?: number;
  error?: SerializedError;
}

export function isFinished(state: TaskState): state is FinalTaskState {
  switch (state.type) {
    case "Success":
    case "Failed":
    case "Skipped":
    case "TriggerFailed":
    case "TimedOut":
    case "Mapped":
      return true;
    default:
      return false;
  }
}

/** Success-like states, as in Prefect: Success, Skipped, and a Mapped state whose children all succeeded. */
export function isSuccessful(state: TaskState): boolean {
  switch (state.type) {
    case "Success":
    case "Skipped":
      return true;
    case "Mapped":
      return state.children.every((c) => isSuccessful(c.state));
    default:
      return false;
  }
}

/** Failure-like states: Failed, TriggerFailed, TimedOut, and a Mapped state with a failed child. */
export function isFailed(state: TaskState): boolean {
  switch (state.type) {
    case "Failed":
    case "TriggerFailed":
    case "TimedOut":
      return true;
    case "Mapped":
      return state.children.some((c) => isFailed(c.state));
    default:
      return false;
  }
}

export function isSkipped(state: TaskState): boolean {
  return state.type === "Skipped";
}

/** The value a finished task run hands downstream: its result, a mapped task's list of results, or the error. */
export function resultOf(state: TaskState): unknown {
  switch (state.type) {
    case "Success":
      return state.result;
    case "Mapped":
      return state.children.map((c) => resultOf(c.state));
    case "Failed":
      return state.error;
    default:
      return undefined;
  }
}

/** A one-line description of a state, for tables and logs. */
export function describeState(state: TaskState): string {
  switch (state.type) {
    case "Success":
      return "Success";
    case "Mapped": {
      const counts = new Map<string, number>();
      for (const c of state.children) counts.set(c.state.type, (counts.get(c.state.type) ?? 0) + 1);
      const parts = [...counts].map(([t, n]) => `${n} ${t}`);
      return `Mapped (${state.children.length}${parts.length ? `: ${parts.join(", ")}` : ""})`;
    }
    case "Running":
      return `Running (attempt ${state.attempt})`;
    case "Pending":
      return "Pending";
    default:
      return `${state.type}: ${state.message}`;
  }
}
