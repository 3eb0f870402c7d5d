// Live progress of a flow run: on a terminal, one status line redrawn at most ten times a second
// (counts by state, a bar per mapped task, the worker count); elsewhere, plain lines for the
// events a reader wants in a log (task finished, retrying, workers changed).

import type { RunEvent } from "../core/executor.ts";
import type { FinalTaskState } from "../core/states.ts";
import { describeTally, type TallySnapshot } from "../engine/run-tally.ts";
import { scrub } from "../secrets/redact.ts";

export interface ProgressOptions {
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  tty?: boolean;
  now?: () => number;
}

interface MapBar {
  total: number;
  done: number;
}

export class Progress {
  readonly #out: NonNullable<ProgressOptions["stream"]>;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #start: number;
  readonly #counts = new Map<string, number>();
  readonly #maps = new Map<string, MapBar>();
  #running = 0;
  #retries = 0;
  #workers: number | undefined;
  #workersKey = "";
  #timer: NodeJS.Timeout | undefined;
  #lineShown = false;

  constructor(options: ProgressOptions = {}) {
    this.#out = options.stream ?? process.stderr;
    this.#tty = options.tty ?? Boolean((this.#out as { isTTY?: boolean }).isTTY);
    this.#now = options.now ?? Date.now;
    this.#start = this.#now();
  }

  /** Feed a run event. */
  readonly onEvent = (event: RunEvent): void => {
    switch (event.type) {
      case "taskStarted":
        if (event.attempt === 1) this.#running++;
        break;
      case "taskRetrying":
        // The task's logger already reported the failed attempt; count it for the status line.
        this.#retries++;
        break;
      case "taskFinished":
        this.#finished(event.slug, event.mapIndex, event.state);
        break;
      case "mapped":
        this.#maps.set(event.slug, { total: event.children, done: 0 });
        if (!this.#tty) this.#line(`${event.slug}: mapped over ${event.children} elements`);
        break;
      case "workers": {
        // The cluster logs each scaling decision with its reason; progress shows the count as it changes.
        const key = `${event.count}/${event.pending}`;
        if (key !== this.#workersKey) {
          this.#workersKey = key;
          this.#workers = event.count;
          if (!this.#tty)
            this.#line(
              `workers: ${event.count} running${event.pending ? `, ${event.pending} starting` : ""}`,
            );
        }
        break;
      }
      case "log":
        // Log lines reach the run's logger; they are not progress.
        break;
    }
    this.#schedule();
  };

  #finished(slug: string, mapIndex: number, state: FinalTaskState): void {
    this.#counts.set(state.type, (this.#counts.get(state.type) ?? 0) + 1);
    if (state.type !== "Skipped" && state.type !== "TriggerFailed")
      this.#running = Math.max(0, this.#running - 1);
    if (mapIndex >= 0) {
      if (state.type !== "Success" && !this.#tty) this.#line(`${label(slug, mapIndex)} ${summary(state)}`);
      const bar = this.#maps.get(slug);
      if (bar) {
        bar.done++;
        if (!this.#tty && bar.done === bar.total)
          this.#line(`${slug}: ${bar.done}/${bar.total} mapped runs finished`);
      }
      return;
    }
    if (state.type === "Mapped") return;
    if (!this.#tty || state.type !== "Success") this.#line(`${label(slug, mapIndex)} ${summary(state)}`);
  }

  /**
   * The task counts of a run followed from elsewhere (a runner pod's tally), in place of the task
   * events: the status line on a terminal, one line per change elsewhere.
   */
  readonly onTally = (s: TallySnapshot): void => {
    this.#counts.clear();
    for (const [type, n] of Object.entries(s.counts)) this.#counts.set(type, n);
    this.#running = s.running;
    for (const [slug, [done, total]] of Object.entries(s.maps)) this.#maps.set(slug, { done, total });
    if (!this.#tty) this.#line(`tasks: ${describeTally(s)}`);
    this.#schedule();
  };

  /** A stream for log lines: each is written above the status line, which is then redrawn. */
  readonly logStream = {
    write: (chunk: string): boolean => {
      this.#line(chunk.endsWith("\n") ? chunk.slice(0, -1) : chunk);
      return true;
    },
  };

  /** Print a line above the status line (scrubbed: a task's failure message may quote a secret it read). */
  #line(text: string): void {
    if (this.#tty && this.#lineShown) this.#out.write("\r\x1b[2K");
    this.#out.write(`${scrub(text)}\n`);
    this.#lineShown = false;
    if (this.#tty) this.#render();
  }

  #schedule(): void {
    if (!this.#tty || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#render();
    }, 100);
    this.#timer.unref();
  }

  #render(): void {
    if (!this.#tty) return;
    const secs = ((this.#now() - this.#start) / 1000).toFixed(1);
    const parts = [`${secs}s`];
    for (const [slug, bar] of this.#maps) {
      if (bar.total === 0 || bar.done === bar.total) continue;
      const width = 20;
      const filled = Math.round((bar.done / bar.total) * width);
      parts.push(`${slug} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${bar.done}/${bar.total}`);
    }
    if (this.#workers !== undefined)
      parts.push(`workers ${this.#workersKey.replace("/0", "").replace("/", "+")}`);
    if (this.#running) parts.push(`${this.#running} running`);
    for (const [type, n] of this.#counts) parts.push(`${n} ${type}`);
    if (this.#retries) parts.push(`${this.#retries} retried`);
    // a line longer than the terminal wraps and breaks the redraw: cut it one short of the width;
    // a terminal that reports no width (0 columns: some CI ptys, serial consoles) gets it whole
    const cols = (this.#out as { columns?: number }).columns;
    const line = parts.join(" · ");
    this.#out.write(`\r\x1b[2K${cols !== undefined && cols > 1 ? line.slice(0, cols - 1) : line}`);
    this.#lineShown = true;
  }

  /** Clear the status line (before the summary). */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.#lineShown) this.#out.write("\r\x1b[2K");
    this.#lineShown = false;
  }
}

function label(slug: string, mapIndex: number): string {
  return mapIndex >= 0 ? `${slug}[${mapIndex}]` : slug;
}

function summary(state: FinalTaskState): string {
  return state.type === "Success" || state.type === "Mapped" ? state.type : `${state.type}: ${state.message}`;
}
