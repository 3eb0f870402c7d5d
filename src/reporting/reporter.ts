// The runner's reporter: turns a run's events (task runs started, retried, finished; worker
// counts and scaling decisions) and its log lines into batches sent to the server every 500 ms,
// so history is at most about a second behind. It never blocks the run and never fails it: a
// slow server only makes batches bigger (task-run updates coalesce per task run), a server that
// is down costs one warning, and the buffers are bounded (the oldest log lines and samples are
// dropped first, and counted).

import type { RunEvent } from "../core/executor.ts";
import { LOG_LEVELS } from "../engine/logging.ts";
import type { ApiClient } from "../server/client.ts";
import type { LogLine, RunReport, ScalingDecision, TaskRunUpdate, WorkerSample } from "../store/store.ts";

export interface ReporterOptions {
  client: ApiClient;
  runId: string;
  /** @default 500 */
  flushMs?: number;
  /** Task-run updates kept while the server is away. @default 200000 */
  maxTaskRuns?: number;
  /** Log lines kept while the server is away. @default 20000 */
  maxLogs?: number;
  /** Called once, the first time the server cannot be reached or refuses a batch. */
  warn?: (message: string) => void;
  now?: () => number;
}

/** One message longer than this is cut (a task printing megabytes must not stall reporting). */
const MAX_MESSAGE = 8192;
/** Task runs per request; a bigger backlog goes out over several flushes. */
const BATCH_TASK_RUNS = 20_000;

export class RunReporter {
  readonly runId: string;
  readonly #o: ReporterOptions;
  readonly #now: () => number;
  #tasks = new Map<string, TaskRunUpdate>();
  #logs: LogLine[] = [];
  #samples: WorkerSample[] = [];
  #decisions: ScalingDecision[] = [];
  #lastCount: number | undefined;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #warned = false;
  #failing = false;
  #closed = false;
  /** Batches the server accepted (for tests and the bench). */
  sent = 0;

  constructor(options: ReporterOptions) {
    this.#o = options;
    this.runId = options.runId;
    this.#now = options.now ?? Date.now;
    this.#timer = setInterval(() => void this.flush(), options.flushMs ?? 500);
    this.#timer.unref();
  }

  /** A run event (give it to the run's onEvent). Never throws. */
  readonly onEvent = (e: RunEvent): void => {
    if (this.#closed) return;
    const now = this.#now();
    switch (e.type) {
      case "taskStarted":
        this.#task({
          slug: e.slug,
          mapIndex: e.mapIndex,
          attempt: e.attempt,
          state: "Running",
          startedAt: now,
          ...(e.worker ? { worker: e.worker } : {}),
        });
        break;
      case "taskRetrying":
        // its own entry (never merged with the next attempt's start): the server keeps each
        // retried attempt in the task's history
        this.#task(
          {
            slug: e.slug,
            mapIndex: e.mapIndex,
            attempt: e.state.attempt,
            state: "Retrying",
            endedAt: now,
            message: cut(e.state.message),
            ...(e.state.error ? { error: errorOf(e.state.error) } : {}),
            ...(e.worker ? { worker: e.worker } : {}),
          },
          `\u0000attempt ${e.state.attempt}`,
        );
        break;
      case "taskFinished": {
        const s = e.state as {
          type: string;
          message?: string;
          error?: { name?: string; message?: string; code?: string; hint?: string };
        };
        this.#task({
          slug: e.slug,
          mapIndex: e.mapIndex,
          attempt: 0,
          state: s.type,
          endedAt: now,
          ...(s.message ? { message: cut(s.message) } : {}),
          ...(s.error ? { error: errorOf(s.error) } : {}),
        });
        break;
      }
      case "workers": {
        this.#bounded(this.#samples, { ts: now, count: e.count, pending: e.pending });
        if (e.count !== this.#lastCount) {
          this.#bounded(this.#decisions, { ts: now, count: e.count, pending: e.pending, reason: e.reason });
          this.#lastCount = e.count;
        }
        break;
      }
      default:
        break; // log events are read from the logger's lines (logLine), mapped events need nothing
    }
  };

  /** A scrubbed pino JSON line of the run's logger (give it to createLogger's `tap`). Never throws. */
  readonly logLine = (json: string): void => {
    if (this.#closed) return;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(json) as Record<string, unknown>;
    } catch {
      return;
    }
    const line: LogLine = {
      ts: typeof rec.time === "number" ? rec.time : this.#now(),
      level: LOG_LEVELS[rec.level as keyof typeof LOG_LEVELS] ?? "info",
      message: cut(typeof rec.msg === "string" ? rec.msg : ""),
    };
    if (typeof rec.task === "string") line.slug = rec.task;
    if (typeof rec.mapIndex === "number") line.mapIndex = rec.mapIndex;
    if (typeof rec.worker === "string") line.worker = rec.worker;
    if (this.#logs.length >= (this.#o.maxLogs ?? 20_000)) {
      this.#logs.shift();
      this.#dropped++;
    }
    this.#logs.push(line);
  };

  #task(u: TaskRunUpdate, keySuffix = ""): void {
    const key = `${u.slug}\u0000${u.mapIndex}${keySuffix}`;
    const prev = this.#tasks.get(`${u.slug}\u0000${u.mapIndex}`) ?? this.#tasks.get(key);
    if (prev !== undefined) {
      if (u.startedAt === undefined && prev.startedAt !== undefined) u.startedAt = prev.startedAt;
      if (u.attempt === 0) u.attempt = prev.attempt;
      if (u.worker === undefined && prev.worker !== undefined) u.worker = prev.worker;
      this.#tasks.delete(key); // re-insert: the map keeps arrival order
    } else if (this.#tasks.size >= (this.#o.maxTaskRuns ?? 200_000)) {
      const oldest = this.#tasks.keys().next().value;
      if (oldest !== undefined) this.#tasks.delete(oldest);
      this.#dropped++;
    }
    this.#tasks.set(key, u);
  }

  #bounded<T>(list: T[], item: T): void {
    if (list.length >= 10_000) {
      list.shift();
      this.#dropped++;
    }
    list.push(item);
  }

  #take(): RunReport | undefined {
    if (
      this.#tasks.size === 0 &&
      this.#logs.length === 0 &&
      this.#samples.length === 0 &&
      this.#decisions.length === 0
    ) {
      return undefined;
    }
    const report: RunReport = {};
    if (this.#tasks.size > 0) {
      if (this.#tasks.size <= BATCH_TASK_RUNS) {
        report.taskRuns = [...this.#tasks.values()];
        this.#tasks = new Map();
      } else {
        report.taskRuns = [];
        for (const [k, v] of this.#tasks) {
          report.taskRuns.push(v);
          this.#tasks.delete(k);
          if (report.taskRuns.length >= BATCH_TASK_RUNS) break;
        }
      }
    }
    if (this.#logs.length > 0) {
      report.logs = this.#logs;
      this.#logs = [];
    }
    if (this.#samples.length > 0) {
      report.samples = this.#samples;
      this.#samples = [];
    }
    if (this.#decisions.length > 0) {
      report.decisions = this.#decisions;
      this.#decisions = [];
    }
    return report;
  }

  /** Put a batch that could not be sent back in front of what came since (newer task updates win). */
  #giveBack(r: RunReport): void {
    const newer = this.#tasks;
    this.#tasks = new Map();
    for (const u of r.taskRuns ?? []) this.#tasks.set(`${u.slug}\u0000${u.mapIndex}`, u);
    for (const [k, u] of newer) {
      this.#tasks.delete(k);
      this.#tasks.set(k, u);
    }
    const cap = this.#o.maxLogs ?? 20_000;
    const logs = [...(r.logs ?? []), ...this.#logs];
    this.#dropped += Math.max(0, logs.length - cap);
    this.#logs = logs.slice(-cap);
    this.#samples = [...(r.samples ?? []), ...this.#samples].slice(-10_000);
    this.#decisions = [...(r.decisions ?? []), ...this.#decisions].slice(-10_000);
  }

  /** Send what is buffered (one request at a time). Never throws. */
  flush(): Promise<void> {
    if (this.#inFlight) return this.#inFlight;
    const report = this.#take();
    if (report === undefined) return Promise.resolve();
    this.#inFlight = this.#o.client
      .post(`/api/runs/${encodeURIComponent(this.runId)}/report`, report, { timeoutMs: 10_000 })
      .then(
        () => {
          this.sent++;
          if (this.#failing) {
            this.#failing = false;
            this.#o.warn?.(`reporting to ${this.#o.client.url} works again`);
          }
        },
        (error: unknown) => {
          this.#giveBack(report);
          this.#warnOnce(error);
        },
      )
      .finally(() => {
        this.#inFlight = undefined;
      });
    return this.#inFlight;
  }

  #warnOnce(error: unknown): void {
    this.#failing = true;
    if (this.#warned) return;
    this.#warned = true;
    this.#o.warn?.(
      `cannot report run ${this.runId} to ${this.#o.client.url}: ${(error as Error).message}; the run goes on, its history there may be incomplete`,
    );
  }

  /** Updates dropped because the buffers were full. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Flush what is left and stop, within `timeoutMs` (the run's end waits at most that long for a
   * slow server). Never throws.
   */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const deadline = this.#now() + timeoutMs;
    while (this.#now() < deadline) {
      await Promise.race([this.flush(), sleep(Math.max(0, deadline - this.#now()))]);
      if (
        this.#inFlight === undefined &&
        this.#tasks.size === 0 &&
        this.#logs.length === 0 &&
        this.#samples.length === 0 &&
        this.#decisions.length === 0
      )
        break;
      if (this.#failing) break;
    }
    this.#closed = true;
  }
}

/** A task's error as the server keeps it: name, bounded message, code and hint. */
function errorOf(e: {
  name?: string;
  message?: string;
  code?: string;
  hint?: string;
}): Record<string, unknown> {
  return {
    name: e.name,
    message: cut(e.message ?? ""),
    ...(e.code ? { code: e.code } : {}),
    ...(e.hint ? { hint: e.hint } : {}),
  };
}

function cut(s: string): string {
  return s.length > MAX_MESSAGE
    ? `${s.slice(0, MAX_MESSAGE)}… (${s.length - MAX_MESSAGE} more characters)`
    : s;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
