// Bounded waits: every wait on a task attempt, the broker, a worker or a process has a
// deadline, and these two helpers are the only way it is written.
//
// Invariants: the timer is cleared as soon as the promise settles (no timer outlives its wait);
// the promise itself is not cancelled, only no longer waited for.

/**
 * Settle as `promise` does, or reject with `timeoutError()` if it has not settled after `ms`
 * milliseconds.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, timeoutError: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError()), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** True if `promise` fulfils within `ms` milliseconds; false if it rejects or takes longer. Never rejects. */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return withDeadline(promise, ms, () => new Error("timeout")).then(
    () => true,
    () => false,
  );
}
