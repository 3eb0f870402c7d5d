// The task run context: which task run the current code belongs to, its logger and its abort
// signal, carried by AsyncLocalStorage so user code can ask for it anywhere below the task call.

import { AsyncLocalStorage } from "node:async_hooks";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";

export interface TaskRunContext {
  readonly runId: string;
  readonly flow: string;
  readonly slug: string;
  /** Index in the mapped input, or -1. */
  readonly mapIndex: number;
  readonly attempt: number;
  /** Aborted when the attempt times out or the run is cancelled. */
  readonly signal: AbortSignal;
  readonly worker: string | undefined;
  /** The task run's logger (created on first use). */
  readonly logger: Logger;
}

const storage = new AsyncLocalStorage<TaskRunContext>();

export function runInContext<T>(context: TaskRunContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The current task run's context, or undefined outside a task. */
export function currentContext(): TaskRunContext | undefined {
  return storage.getStore();
}

/** The current task run's context; throws outside a task. */
export function context(): TaskRunContext {
  const c = storage.getStore();
  if (c === undefined) {
    throw new FlotillaError(ErrorCode.Usage, "context() was called outside a task run", {
      hint: "call context() inside a task function or code it calls while the task runs",
    });
  }
  return c;
}

let fallback: Logger | undefined;
/** Set the logger `getLogger()` returns outside a task run. */
export function setDefaultLogger(logger: Logger): void {
  fallback = logger;
}

/** The current task run's logger (lines carry task, map index, attempt), or the run's logger. */
export function getLogger(): Logger {
  const c = storage.getStore();
  if (c !== undefined) return c.logger;
  if (fallback === undefined) {
    throw new FlotillaError(ErrorCode.Usage, "getLogger() was called before a flow run started", {
      hint: "call getLogger() inside a task or after flow.run() has begun; outside a run, use createLogger()",
    });
  }
  return fallback;
}
