// Batched task runs: how many task runs one queue job carries. The runner keeps an estimate of
// each task's duration (from the results and hand-backs it reads) and cuts the ready task runs of
// a slug into batches of about `targetBatchMs` of work: large while tasks are tiny, down to one as
// they get long. A batch is never so large that fewer than `minJobs` jobs carry a wide stage, so
// every worker gets some. A worker hands the unstarted rest of a batch back when the batch has run
// longer than `handBackMs` (a slow member, a retry delay, a drain), so a slow task never holds back
// the task runs behind it. Pure: no I/O, no clock.

/** The batching knobs. */
export interface BatchingOptions {
  /** Work one batch should carry, in ms of estimated task time. */
  targetBatchMs: number;
  /** The largest batch. */
  maxBatch: number;
  /** The batch size for a task whose duration is not known yet. */
  unknownBatch: number;
  /** A wide stage goes out in at least this many jobs (when it has that many task runs). */
  minJobs: number;
  /** A worker hands a batch's unstarted members back once the batch has run this long, in ms. */
  handBackMs: number;
}

/** The defaults: 20 ms of work per batch, at most 500 task runs, hand-back after 50 ms. */
export const BATCHING_DEFAULTS: BatchingOptions = {
  targetBatchMs: 20,
  maxBatch: 500,
  unknownBatch: 64,
  minJobs: 8,
  handBackMs: 50,
};

/** The smallest duration an estimate takes (a no-op measures 0 ms at the results' resolution). */
const FLOOR_MS = 0.02;
/** Weight of a new sample in the moving average. */
const ALPHA = 0.25;

/** Per-task duration estimates, a moving average of observed task run durations. */
export class DurationEstimates {
  readonly #ms = new Map<string, number>();

  /** A task run of `slug` took `ms` (finished, or still running when it held a batch back). */
  observe(slug: string, ms: number): void {
    const sample = Math.max(FLOOR_MS, ms);
    const prev = this.#ms.get(slug);
    this.#ms.set(slug, prev === undefined ? sample : prev + ALPHA * (sample - prev));
  }

  /** The estimate, or undefined before any task run of `slug` was observed. */
  get(slug: string): number | undefined {
    return this.#ms.get(slug);
  }
}

/** How many task runs of one slug go in each job, for `count` ready ones. */
export function batchSize(count: number, estimateMs: number | undefined, o: BatchingOptions): number {
  const byWork =
    estimateMs === undefined ? o.unknownBatch : Math.floor(o.targetBatchMs / Math.max(FLOOR_MS, estimateMs));
  const bySpread = Math.ceil(count / o.minJobs);
  return Math.max(1, Math.min(o.maxBatch, byWork, bySpread));
}

/** Cut `items` into consecutive batches of `size` (the last may be shorter). */
export function cut<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
