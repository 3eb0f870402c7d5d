// A task's options: what the user gives (`TaskOptions`), the trigger rules, and the compiled,
// validated form every runner reads (`ResolvedTaskOptions`). Pure data, below the task and the
// flow graph that hold it.

import { ErrorCode, FlotillaError } from "./errors.ts";

export const Trigger = {
  /** Run when every upstream task run succeeded (Success, Skipped, or a Mapped with all children successful). */
  allSuccessful: "allSuccessful",
  /** Run when every upstream task run finished, whatever its state. */
  allFinished: "allFinished",
  /** Run when at least one upstream task run failed (e.g. a clean-up or alert task). */
  anyFailed: "anyFailed",
  /** Run when at least one upstream task run succeeded. */
  anySuccessful: "anySuccessful",
} as const;
export type Trigger = (typeof Trigger)[keyof typeof Trigger];

export interface TaskOptions {
  /** Unique name of the task in a flow; defaults to the task's name. */
  slug?: string;
  /** How many times a failed run is tried again. @default 0 */
  retries?: number;
  /** Wait between attempts, in milliseconds. @default 0 */
  retryDelayMs?: number;
  /** An attempt running longer than this ends as TimedOut (and is retried if retries remain). @default none */
  timeoutMs?: number;
  /** When the task runs, given its upstream states. @default "allSuccessful" */
  trigger?: Trigger;
  /** Skip this task when an upstream task was skipped. @default true */
  skipOnUpstreamSkip?: boolean;
  /**
   * Names of the function's parameters, for `bind`. Read from the function's source when omitted;
   * give them when the function takes destructured or rest parameters.
   */
  params?: readonly string[];
}

/** Compiled, validated task options. */
export interface ResolvedTaskOptions {
  retries: number;
  retryDelayMs: number;
  timeoutMs: number | undefined;
  trigger: Trigger;
  skipOnUpstreamSkip: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: task functions take any arguments
export type TaskFn = (...args: any[]) => unknown;

/** Check the options of task `name` and apply the defaults; throws a FlotillaError naming the field. */
export function resolveTaskOptions(name: string, o: TaskOptions): ResolvedTaskOptions {
  const where = `task "${name}"`;
  const nonNegInt = (field: string, v: number | undefined) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new FlotillaError(
        ErrorCode.FlowInvalid,
        `${where}: ${field} must be a whole number >= 0, got ${v}`,
      );
    }
  };
  nonNegInt("retries", o.retries);
  nonNegInt("retryDelayMs", o.retryDelayMs);
  if (o.timeoutMs !== undefined && (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0)) {
    throw new FlotillaError(ErrorCode.FlowInvalid, `${where}: timeoutMs must be > 0, got ${o.timeoutMs}`);
  }
  const trigger = o.trigger ?? "allSuccessful";
  if (!Object.values(Trigger).includes(trigger)) {
    throw new FlotillaError(
      ErrorCode.FlowInvalid,
      `${where}: unknown trigger "${String(trigger)}"; use one of ${Object.values(Trigger).join(", ")}`,
    );
  }
  if (o.slug !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.slug)) {
    throw new FlotillaError(
      ErrorCode.FlowInvalid,
      `${where}: slug "${o.slug}" may hold only letters, digits, ".", "_" and "-", and start with a letter or digit`,
    );
  }
  return {
    retries: o.retries ?? 0,
    retryDelayMs: o.retryDelayMs ?? 0,
    timeoutMs: o.timeoutMs,
    trigger,
    skipOnUpstreamSkip: o.skipOnUpstreamSkip ?? true,
  };
}
