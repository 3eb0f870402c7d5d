// The worker's output stream writer: batches messages (results, events, log lines) into one
// entry per event-loop turn on the run's output stream (appended through the run channel). `push` is fire-and-forget; `pushDurable`
// resolves once the message is stored in Redis, which a worker awaits before acknowledging a job
// (so a result can be duplicated by a lost worker, never lost). A message may carry done marks
// (protocol.ts `doneMark`): they are written with the entry that holds it, in one MULTI.
//
// Invariants: messages keep their order; at most one XADD is in flight, the next batch collects
// meanwhile (natural batching under load); a failed write is retried with the next batch, marks
// included.

import { encodeBatch, encodeMessage, type WorkerMessage } from "./protocol.ts";

export class OutputStream {
  readonly #append: (entry: Buffer, done: readonly string[]) => Promise<void>;
  #batch: Buffer[] = [];
  #marks: string[] = [];
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;
  #inFlight: Promise<void> | undefined;

  /** `append` stores one entry (RedisRunChannel.appendOutput). */
  constructor(append: (entry: Buffer, done: readonly string[]) => Promise<void>) {
    this.#append = append;
  }

  /** Queue a message; written with the next batch. */
  push(message: WorkerMessage): void {
    this.#batch.push(encodeMessage(message));
    this.#schedule();
  }

  /**
   * Queue a message (with the done marks stored with it) and wait until it is stored. `urgent`:
   * write now when no write is in flight, instead of at the end of the turn (a lone task run, e.g.
   * a chain's hop, should not wait for a batch that will not come).
   */
  pushDurable(message: WorkerMessage, marks: readonly string[] = [], urgent = false): Promise<void> {
    this.#batch.push(encodeMessage(message));
    for (const mark of marks) this.#marks.push(mark);
    const stored = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (urgent && this.#inFlight === undefined) void this.#write();
    else this.#schedule();
    return stored;
  }

  /** Wait until everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.#batch.length > 0 || this.#inFlight !== undefined) {
      if (this.#inFlight !== undefined) await this.#inFlight.catch(() => {});
      else await this.#write();
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight !== undefined) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#write();
    });
  }

  async #write(): Promise<void> {
    if (this.#inFlight !== undefined || this.#batch.length === 0) return;
    const batch = this.#batch;
    const waiters = this.#waiters;
    const marks = this.#marks;
    this.#batch = [];
    this.#waiters = [];
    this.#marks = [];
    this.#inFlight = this.#append(encodeBatch(batch), marks)
      .then(
        () => {
          for (const w of waiters) w.resolve();
        },
        (error: unknown) => {
          // Keep the messages for the next attempt (the broker may come back).
          this.#batch = [...batch, ...this.#batch];
          this.#waiters = [...waiters, ...this.#waiters];
          this.#marks = [...marks, ...this.#marks];
          throw error;
        },
      )
      .finally(() => {
        this.#inFlight = undefined;
        if (this.#batch.length > 0) this.#schedule();
      });
    await this.#inFlight.catch(() => {});
  }
}
