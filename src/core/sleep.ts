// Waiting that a stop cuts short: retry delays and the polls of commands that follow a run end at
// once when their signal aborts (Ctrl-C, a cancel, a caller's deadline), without an error.

import { setTimeout as delay } from "node:timers/promises";

/** Resolve after `ms`, or as soon as `signal` aborts (at once when it already has); never rejects. */
export function sleepOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : undefined).then(
    () => undefined,
    () => undefined,
  );
}
