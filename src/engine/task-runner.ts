// The task runner: runs one task run to its final state — attempts, retries with delay, timeout,
// signals — inside a task run context carrying its logger. Used by every executor and worker,
// so a task behaves the same in-process and on a cluster.

import { ErrorCode, FlotillaError, type SerializedError, serializeError } from "../core/errors.ts";
import type { RunEvent, TaskRunRequest, TaskRunResult } from "../core/executor.ts";
import type { TaskDefinition } from "../core/graph.ts";
import type { Logger } from "../core/logger.ts";
import { FailSignal, RetrySignal, SkipSignal } from "../core/signals.ts";
import { sleepOrAbort } from "../core/sleep.ts";
import { scrub } from "../secrets/redact.ts";
import { runInContext, type TaskRunContext } from "./context.ts";
import { withDeadline } from "./deadline.ts";

export interface TaskRunnerEnv {
  runId: string;
  flow: string;
  logger: Logger;
  worker?: string;
  onEvent?: (event: RunEvent) => void;
  /** Cancels the run: the current attempt's signal aborts and no retry starts. */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

class Timeout extends Error {}
const NEVER = new AbortController().signal;

/** Run `task` for `request` until it reaches a final state. Never throws. */
export async function runTask(
  task: TaskDefinition,
  request: TaskRunRequest,
  env: TaskRunnerEnv,
): Promise<TaskRunResult> {
  const now = env.now ?? Date.now;
  const sleep = env.sleep ?? sleepOrAbort;
  const { retries, retryDelayMs, timeoutMs } = task.options;
  const maxAttempts = retries + 1;
  const startedAt = now();
  let attempt = request.attempt;
  const finish = (state: TaskRunResult["state"]): TaskRunResult => {
    const result: TaskRunResult = {
      slug: request.slug,
      mapIndex: request.mapIndex,
      state,
      attempts: attempt,
      startedAt,
      finishedAt: now(),
    };
    if (env.worker !== undefined) result.worker = env.worker;
    return result;
  };

  for (;;) {
    env.onEvent?.({
      type: "taskStarted",
      slug: request.slug,
      mapIndex: request.mapIndex,
      attempt,
      ...workerOf(env),
    });
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    const controller = timeoutMs !== undefined ? new AbortController() : undefined;
    const signal =
      controller === undefined
        ? (env.signal ?? NEVER)
        : env.signal === undefined
          ? controller.signal
          : AbortSignal.any([controller.signal, env.signal]);
    const ctx = makeContext(env, request, attempt, signal);
    try {
      const value = await runInContext(ctx, () => callTask(task, request.args, timeoutMs, controller));
      outcome = { ok: true, value };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (outcome.ok) return finish({ type: "Success", result: outcome.value });

    const error = outcome.error;
    if (error instanceof SkipSignal) return finish({ type: "Skipped", message: scrub(error.message) });
    if (error instanceof FailSignal)
      return finish({ type: "Failed", message: scrub(error.message), error: failureOf(error) });
    if (env.signal?.aborted) return finish({ type: "Failed", message: "cancelled", error: failureOf(error) });

    const timedOut = error instanceof Timeout;
    const message = timedOut ? `timed out after ${timeoutMs} ms` : errorMessage(error);
    if (attempt < maxAttempts) {
      const delay =
        error instanceof RetrySignal && error.delayMs !== undefined ? error.delayMs : retryDelayMs;
      const serialized = timedOut
        ? serializeError(new FlotillaError(ErrorCode.TaskTimeout, message))
        : failureOf(error);
      ctx.logger.warn(
        { err: message },
        `attempt ${attempt} of ${maxAttempts} failed; retrying in ${delay} ms`,
      );
      env.onEvent?.({
        type: "taskRetrying",
        slug: request.slug,
        mapIndex: request.mapIndex,
        state: { type: "Retrying", attempt, retryAt: now() + delay, message, error: serialized },
        ...workerOf(env),
      });
      if (delay > 0) await sleep(delay, env.signal);
      attempt++;
      continue;
    }
    if (timedOut) return finish({ type: "TimedOut", message, timeoutMs: timeoutMs ?? 0 });
    return finish({ type: "Failed", message, error: failureOf(error) });
  }
}

function workerOf(env: TaskRunnerEnv): { worker?: string } {
  return env.worker === undefined ? {} : { worker: env.worker };
}

function callTask(
  task: TaskDefinition,
  args: unknown[],
  timeoutMs: number | undefined,
  controller: AbortController | undefined,
): unknown {
  const result = task.fn(...args);
  if (timeoutMs === undefined) return result;
  // A JavaScript function cannot be stopped from outside: on timeout the attempt ends and its
  // signal aborts, so code that watches `context().signal` can stop early.
  return withDeadline(Promise.resolve(result), timeoutMs, () => {
    controller?.abort(new Timeout());
    return new Timeout();
  });
}

function makeContext(
  env: TaskRunnerEnv,
  request: TaskRunRequest,
  attempt: number,
  signal: AbortSignal,
): TaskRunContext {
  let logger: Logger | undefined;
  return {
    runId: env.runId,
    flow: env.flow,
    slug: request.slug,
    mapIndex: request.mapIndex,
    attempt,
    signal,
    worker: env.worker,
    get logger() {
      logger ??= env.logger.child({
        task: request.slug,
        ...(request.mapIndex >= 0 ? { mapIndex: request.mapIndex } : {}),
        attempt,
        ...(env.worker !== undefined ? { worker: env.worker } : {}),
      });
      return logger;
    },
  };
}

// A task's failure leaves this process (to the runner, logs, summaries, a termination message), so
// every secret registered here (e.g. one the task read) is scrubbed from it at the source.
function errorMessage(error: unknown): string {
  if (error instanceof Error)
    return scrub(
      error.message === ""
        ? error.name
        : `${error.name === "Error" ? "" : `${error.name}: `}${error.message}`,
    );
  return scrub(String(error));
}

function failureOf(error: unknown): SerializedError {
  return scrubError(serializeError(error));
}

function scrubError(e: SerializedError): SerializedError {
  const out: SerializedError = { ...e, message: scrub(e.message) };
  if (e.stack !== undefined) out.stack = scrub(e.stack);
  if (e.cause !== undefined) out.cause = scrubError(e.cause);
  return out;
}
