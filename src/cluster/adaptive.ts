// The adaptive scaling policy, pure: what the cluster's size should be given the load and the
// workers it has. Shared by LocalCluster and KubeCluster; the reconciling core applies it.
//
// Rules (DESIGN.md §6): scale up at once toward ceil((queued + running) / slotsPerWorker), in
// bounded steps (at most doubling or `scaleUpStepWorkers` more, whichever is larger: the default
// scale-up policy of the Kubernetes HPA), capped by maxWorkers; never below minWorkers; scale down only
// after demand stayed below the current size for idleTimeoutMs, at most 25 % of the workers per
// step; cancel workers that have not started before retiring running ones; never retire a busy
// worker. `minWorkers == maxWorkers` is a fixed-size cluster. A cluster starts at
// `initialSize(bounds)` (initialWorkers clamped to the bounds), a starting point, not a floor.
// Every decision carries its reason.

/** A worker as the policy sees it. */
export interface ObservedWorker {
  id: string;
  /** pending: requested, not yet started; starting: process/pod up, not yet taking work. */
  phase: "pending" | "starting" | "running" | "draining";
  /** Task runs it runs now (0 when unknown). */
  active: number;
  /** When it was requested, ms since the epoch (newest are cancelled first). */
  requestedAt: number;
}

export interface Observed {
  nowMs: number;
  /** Task runs submitted and not yet started. */
  queued: number;
  /** Task runs running. */
  running: number;
  workers: readonly ObservedWorker[];
}

export interface Bounds {
  minWorkers: number;
  maxWorkers: number;
  /** Task runs one worker runs at once. */
  slotsPerWorker: number;
  /** How long demand must stay below the size before scaling down, in ms. */
  idleTimeoutMs: number;
  /**
   * Workers requested at start, clamped to `minWorkers..maxWorkers` (a Kubernetes worker spec's
   * `replicas`). Only the starting size: the policy then scales down to `minWorkers` after
   * `idleTimeoutMs` of low demand, as for any other size. @default minWorkers
   */
  initialWorkers?: number;
  /** Largest share of the workers removed in one step. @default 0.25 */
  maxScaleDownFraction?: number;
  /**
   * Workers that may always be added in one step; above it, a step at most doubles the cluster
   * (as the Kubernetes HPA's default scale-up policy: 4 pods or 100 %, whichever is more).
   * @default 4
   */
  scaleUpStepWorkers?: number;
}

/** What the policy remembers between decisions. */
export interface History {
  /** Since when demand has been below the current size (ms since the epoch), if it is. */
  lowSinceMs?: number;
}

export interface Decision {
  /** The number of workers wanted (pending + starting + running, not draining). */
  target: number;
  /** Workers not yet started to cancel (delete). */
  cancelPending: string[];
  /** Running, idle workers to drain and stop. */
  retire: string[];
  reason: string;
  history: History;
}

/** Workers demanded by the load, before bounds. */
export function demand(observed: Pick<Observed, "queued" | "running">, slotsPerWorker: number): number {
  return Math.ceil((observed.queued + observed.running) / Math.max(1, slotsPerWorker));
}

/** The size a cluster starts at: `initialWorkers` (else `minWorkers`) clamped to `minWorkers..maxWorkers`. */
export function initialSize(bounds: Pick<Bounds, "minWorkers" | "maxWorkers" | "initialWorkers">): number {
  const initial = bounds.initialWorkers ?? bounds.minWorkers;
  return Math.min(bounds.maxWorkers, Math.max(bounds.minWorkers, initial));
}

/** Decide the cluster's size. Pure. */
export function plan(observed: Observed, bounds: Bounds, history: History = {}): Decision {
  const live = observed.workers.filter((w) => w.phase !== "draining");
  const current = live.length;
  const need = demand(observed, bounds.slotsPerWorker);
  const wanted = Math.min(bounds.maxWorkers, Math.max(bounds.minWorkers, need));
  const load = `${observed.queued} queued + ${observed.running} running / ${bounds.slotsPerWorker} slots per worker`;

  if (wanted > current) {
    // Below the floor: straight to it; above it: at most double (or add scaleUpStepWorkers) per step.
    const step =
      current < bounds.minWorkers ? wanted - current : Math.max(bounds.scaleUpStepWorkers ?? 4, current, 1);
    const target = Math.min(wanted, current + step);
    const why =
      current < bounds.minWorkers ? `below minWorkers ${bounds.minWorkers}` : `demand ${need} (${load})`;
    return {
      target,
      cancelPending: [],
      retire: [],
      reason: `scale up ${current} -> ${target}: ${why}`,
      history: {},
    };
  }
  if (wanted === current) {
    return {
      target: current,
      cancelPending: [],
      retire: [],
      reason: `steady at ${current}: ${load}`,
      history: {},
    };
  }
  // wanted < current: only after a sustained low.
  const lowSinceMs = history.lowSinceMs ?? observed.nowMs;
  const lowForMs = observed.nowMs - lowSinceMs;
  if (lowForMs < bounds.idleTimeoutMs) {
    return {
      target: current,
      cancelPending: [],
      retire: [],
      reason: `holding ${current}: demand ${need} for ${lowForMs} ms of ${bounds.idleTimeoutMs} ms idle timeout`,
      history: { lowSinceMs },
    };
  }
  const fraction = bounds.maxScaleDownFraction ?? 0.25;
  const maxStep = Math.max(1, Math.floor(current * fraction));
  const excess = Math.min(current - wanted, maxStep);
  const { cancelPending, retire } = chooseToRemove(live, excess);
  const target = current - cancelPending.length - retire.length;
  const busy = excess - cancelPending.length - retire.length;
  const reason =
    target === current
      ? `holding ${current}: demand ${need}, but every worker is busy`
      : `scale down ${current} -> ${target}: demand ${need} (${load}) for ${lowForMs} ms` +
        (busy > 0 ? `; ${busy} busy worker(s) kept` : "");
  return { target, cancelPending, retire, reason, history: { lowSinceMs } };
}

/** Pick `count` workers to remove: not-yet-started first (newest first), then idle running ones; never busy ones. */
export function chooseToRemove(
  workers: readonly ObservedWorker[],
  count: number,
): { cancelPending: string[]; retire: string[] } {
  const byNewest = (a: ObservedWorker, b: ObservedWorker) => b.requestedAt - a.requestedAt;
  const notStarted = workers.filter((w) => w.phase === "pending" || w.phase === "starting").sort(byNewest);
  const idle = workers.filter((w) => w.phase === "running" && w.active === 0).sort(byNewest);
  const cancelPending = notStarted.slice(0, count).map((w) => w.id);
  const retire = idle.slice(0, count - cancelPending.length).map((w) => w.id);
  return { cancelPending, retire };
}
