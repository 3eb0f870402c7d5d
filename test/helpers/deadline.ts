// Test helper: a deadline on a wait. `within(p, ms, what)` settles as `p` does, or rejects after
// `ms` naming what was awaited, so a wait that never ends fails its test instead of stalling the
// run; the timer is cleared either way and never keeps the process alive.

/** `promise`, or a rejection naming `what` once `ms` have passed without it settling. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
