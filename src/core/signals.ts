// Signals: errors user code may throw inside a task to choose the task run's state.

/** Base class of every signal; never thrown as such. */
export class Signal extends Error {
  override readonly name: string = "Signal";
}

/** End the task run as Failed, without retries. */
export class FailSignal extends Signal {
  override readonly name = "FailSignal";
}

/** End the task run as Skipped; downstream tasks skip too unless `skipOnUpstreamSkip: false`. */
export class SkipSignal extends Signal {
  override readonly name = "SkipSignal";
}

/** Fail this attempt and ask for a retry after a given delay; counted against the task's `retries`. */
export class RetrySignal extends Signal {
  override readonly name = "RetrySignal";
  readonly delayMs: number | undefined;
  constructor(message: string, delayMs?: number) {
    super(message);
    this.delayMs = delayMs;
  }
}

export const signals = {
  /** Throw to end the task run as Failed, with no retry. */
  fail(message = "failed by the task"): never {
    throw new FailSignal(message);
  },
  /** Throw to end the task run as Skipped. */
  skip(message = "skipped by the task"): never {
    throw new SkipSignal(message);
  },
  /** Throw to retry the task run after `delayMs` (default: the task's `retryDelayMs`), within its `retries`. */
  retryLater(message = "retry requested by the task", options: { delayMs?: number } = {}): never {
    throw new RetrySignal(message, options.delayMs);
  },
};
