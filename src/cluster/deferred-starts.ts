// A worker's `taskStarted` events, held back for a short delay. A progress display only needs the
// task runs that are visibly running: a task run that finishes within the delay (most do, in a
// big map) sends no start message of its own; its result carries the start (`started: attempt`)
// and the runner emits the `taskStarted` event just before the result. That halves the messages
// per task run on the output stream and on the runner's event loop.
//
// Invariants: every start is delivered exactly once, either on its own (after `delayMs`, or at
// once when another message about that task run must follow it) or with its result; a start
// always reaches the runner before any later message about the same task run.

import type { RunEvent } from "../core/executor.ts";

type Started = Extract<RunEvent, { type: "taskStarted" }>;

/** Options of DeferredStarts. */
export interface DeferredStartsOptions {
  /** How long a start is held back, in ms; 0 sends every start at once. */
  delayMs: number;
  /** Sends a start on its own. */
  send(event: Started): void;
  /** Timers (tests). @default globalThis.setTimeout / clearTimeout */
  setTimer?: (fn: () => void, ms: number) => unknown;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

export class DeferredStarts {
  readonly #o: DeferredStartsOptions;
  readonly #now: () => number;
  readonly #setTimer: (fn: () => void, ms: number) => unknown;
  /** Held starts by task run key, in the order they started (so the oldest come first). */
  readonly #held = new Map<string, { event: Started; at: number }>();
  #armed = false;

  constructor(options: DeferredStartsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#setTimer =
      options.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return t;
      });
  }

  /** A task run started: hold its event back (or send it now when the delay is 0). */
  started(event: Started): void {
    if (this.#o.delayMs <= 0) {
      this.#o.send(event);
      return;
    }
    const key = keyOf(event.slug, event.mapIndex);
    // A task run starts again only after its earlier attempt's start was sent (flushKey on retry).
    this.#held.set(key, { event, at: this.#now() });
    this.#arm();
  }

  /** Another message about this task run follows: send its held start first. */
  flushKey(slug: string, mapIndex: number): void {
    const key = keyOf(slug, mapIndex);
    const held = this.#held.get(key);
    if (held === undefined) return;
    this.#held.delete(key);
    this.#o.send(held.event);
  }

  /** Send every held start now (e.g. before a task's log line, or when the worker drains). */
  flushAll(): void {
    for (const { event } of this.#held.values()) this.#o.send(event);
    this.#held.clear();
  }

  /**
   * The task run finished: forget its held start and return the attempt the result must carry
   * (the runner emits that start), or undefined when the start was already sent.
   */
  take(slug: string, mapIndex: number): number | undefined {
    const key = keyOf(slug, mapIndex);
    const held = this.#held.get(key);
    if (held === undefined) return undefined;
    this.#held.delete(key);
    return held.event.attempt;
  }

  /** One timer at a time, due when the oldest held start is. */
  #arm(): void {
    if (this.#armed) return;
    const oldest = this.#held.values().next().value;
    if (oldest === undefined) return;
    this.#armed = true;
    this.#setTimer(
      () => {
        this.#armed = false;
        const due = this.#now() - this.#o.delayMs;
        for (const [key, held] of this.#held) {
          if (held.at > due) break;
          this.#held.delete(key);
          this.#o.send(held.event);
        }
        this.#arm();
      },
      Math.max(0, oldest.at + this.#o.delayMs - this.#now()),
    );
  }
}

function keyOf(slug: string, mapIndex: number): string {
  return `${slug}#${mapIndex}`;
}
