// The reconciling core both LocalCluster and KubeCluster use (`ReconcilingCluster`), over a
// WorkerProvider (cluster.ts) and the run's channel (run-channel.ts: heartbeats, retire requests).
//
// "Reconcile, don't script": the core keeps `desired` (moved only by the adaptive policy or
// `scale`), the workers it requested and what it observed of them (provider lifecycle + broker
// heartbeats); one locked `reconcile()` closes the difference. A provider only knows how to start
// one worker, remove one worker and report their lifecycle, and where the broker is.
//
// Invariants: a worker is removed by identity; scale-down cancels not-yet-started workers before
// retiring running ones and never retires a busy one; a retire is a drain request through the
// broker (the worker finishes its task runs, then exits); workers that keep dying at start-up
// fail the run instead of looping forever; `close()` retires everything, waits a bounded time,
// then removes what is left.

import { ErrorCode, FlotillaError, serializeError } from "../core/errors.ts";
import { settlesWithin } from "../engine/deadline.ts";
import {
  type Bounds,
  chooseToRemove,
  type History,
  initialSize,
  type ObservedWorker,
  plan,
} from "./adaptive.ts";
import { type BrokerEndpoint, connectBroker, describeBroker } from "./broker.ts";
import type {
  BrokerLease,
  ClusterHooks,
  ClusterRun,
  ClusterSession,
  ProviderEvent,
  WorkerProvider,
} from "./cluster.ts";
import type { Heartbeat, WorkerPhase } from "./protocol.ts";
import { type ReconcilerChannel, RedisRunChannel } from "./run-channel.ts";
import { SCALING_DEFAULTS } from "./scaling.ts";
import { systemTimers, type Timers } from "./timers.ts";

/**
 * Options of the reconciling core (LocalCluster and KubeCluster pass theirs through; the scaling
 * ones default to LocalCluster's, SCALING_DEFAULTS.local).
 */
export interface ReconcilerOptions {
  /** @default 1 */
  minWorkers: number;
  /** @default 2 */
  maxWorkers: number;
  /**
   * Workers requested at start, clamped to `minWorkers..maxWorkers`; then the adaptive policy
   * applies (idle workers above `minWorkers` are retired after `idleTimeoutMs`). @default minWorkers
   */
  initialWorkers?: number;
  /** Task runs per worker at once. @default 16 */
  concurrency: number;
  /** Sustained low demand before scaling down, in ms. @default 2000 */
  idleTimeoutMs: number;
  /** How often the policy runs, in ms. @default 200 */
  adaptIntervalMs: number;
  /** Workers exit when the broker is gone this long, in ms. @default 10000 */
  workerDeathTimeoutMs: number;
  /** How long `close()` waits for retired workers before removing them, in ms. @default 10000 */
  closeGraceMs: number;
  /** Workers exiting within this time of their start count as start-up failures, in ms. @default 5000 */
  startFailureWindowMs: number;
  /** Start-up failures in a row that fail the run. @default 3 */
  maxStartFailures: number;
  /** Clock (tests). @default Date.now */
  now: () => number;
  /** Timers of the adaptive loop and of close() (tests; its clock is `now`). @default the global ones */
  timers: Timers;
  /** Opens the run's channel to the workers (tests: a MemoryRunChannel). @default a RedisRunChannel on the broker */
  openChannel: (broker: BrokerEndpoint, runId: string) => Promise<ReconcilerChannel>;
}

async function openRedisChannel(broker: BrokerEndpoint, runId: string): Promise<ReconcilerChannel> {
  const redis = await connectBroker(broker, { connectionName: "flotilla-cluster" });
  redis.on("error", () => {});
  return new RedisRunChannel(redis, broker, runId);
}

const defaultReconcilerOptions: ReconcilerOptions = {
  minWorkers: SCALING_DEFAULTS.local.minWorkers,
  maxWorkers: SCALING_DEFAULTS.local.maxWorkers,
  concurrency: SCALING_DEFAULTS.local.concurrency,
  idleTimeoutMs: SCALING_DEFAULTS.local.idleTimeoutMs,
  adaptIntervalMs: 200,
  workerDeathTimeoutMs: SCALING_DEFAULTS.local.workerDeathTimeoutMs,
  closeGraceMs: 10000,
  startFailureWindowMs: 5000,
  maxStartFailures: 3,
  now: Date.now,
  timers: systemTimers,
  openChannel: openRedisChannel,
};

interface Tracked extends ObservedWorker {
  startedAt?: number;
  exited?: { reason: string; failed: boolean };
}

/** The reconciling core: one per run, over a provider. */
export class ReconcilingCluster implements ClusterSession {
  readonly broker: BrokerEndpoint;
  readonly #provider: WorkerProvider;
  readonly #lease: BrokerLease;
  readonly #run: ClusterRun;
  readonly #hooks: ClusterHooks;
  readonly #o: ReconcilerOptions;
  readonly #workers = new Map<string, Tracked>();
  #channel: ReconcilerChannel | undefined;
  #desired: number;
  #adaptive = true;
  #history: History = {};
  #seq = 0;
  #lock: Promise<void> = Promise.resolve();
  #timer: unknown;
  /** A tick is running or scheduled: ticks never overlap. */
  #ticking = false;
  #closing: Promise<void> | undefined;
  #startFailures = 0;
  #brokerLost = false;
  /** Workers kept failing to start; the run was failed and nothing more is started. */
  #gaveUp = false;
  #lastEvent = "";
  #lastReason = "";
  /** Woken whenever a worker exits (close() waits on them instead of polling). */
  readonly #exitWaiters = new Set<() => void>();

  private constructor(
    provider: WorkerProvider,
    lease: BrokerLease,
    run: ClusterRun,
    hooks: ClusterHooks,
    o: ReconcilerOptions,
  ) {
    this.#provider = provider;
    this.#lease = lease;
    this.broker = lease.runner;
    this.#run = run;
    this.#hooks = hooks;
    this.#o = o;
    this.#desired = initialSize(o);
  }

  /** Open the broker, request the initial workers (`initialWorkers`, else `minWorkers`) and start the adaptive loop. */
  static async start(
    provider: WorkerProvider,
    run: ClusterRun,
    hooks: ClusterHooks,
    options: Partial<ReconcilerOptions> = {},
  ): Promise<ReconcilingCluster> {
    const o = { ...defaultReconcilerOptions, ...options };
    const lease = await provider.openBroker(run);
    const cluster = new ReconcilingCluster(provider, lease, run, hooks, o);
    provider.watch((e) => cluster.#onProvider(e));
    void lease.lost?.then((reason) => {
      cluster.#brokerLost = true;
      if (cluster.#closing === undefined) {
        hooks.onFatal(
          serializeError(
            new FlotillaError(
              ErrorCode.Broker,
              `lost the broker at ${describeBroker(lease.runner)}: ${reason}`,
              {
                hint: "the run cannot continue without its broker; run it again",
              },
            ),
          ),
        );
      }
    });
    try {
      // The first workers start while the broker does (they retry their connection until it is up).
      await Promise.all([cluster.reconcile(), lease.ready]);
      cluster.#channel = await o.openChannel(lease.runner, run.runId);
    } catch (error) {
      // the caller gets no session to close: do not leave the broker and the first workers behind
      await cluster.close();
      throw error;
    }
    cluster.#timer = o.timers.setInterval(() => cluster.#scheduleTick(), o.adaptIntervalMs);
    return cluster;
  }

  /** Workers the cluster has now, by phase (for tests and the CLI). */
  get workers(): readonly ObservedWorker[] {
    return [...this.#workers.values()].filter((w) => w.exited === undefined);
  }

  observe(workerId: string, phase: WorkerPhase, reason?: string): void {
    const w = this.#workers.get(workerId);
    if (w === undefined || w.exited !== undefined) return;
    if (phase === "running" && (w.phase === "pending" || w.phase === "starting")) {
      w.phase = "running";
      this.#startFailures = 0;
      this.#emit(`worker ${workerId} is running`);
    } else if (phase === "draining") {
      w.phase = "draining";
    } else if (phase === "exited") {
      this.#run.logger.debug({ worker: workerId, reason }, "worker reported exit");
    }
  }

  async scale(workers: number): Promise<void> {
    this.#adaptive = false;
    this.#desired = Math.max(0, Math.floor(workers));
    this.#emit(`scaled to ${this.#desired} by request`);
    await this.reconcile();
  }

  /** Close the difference between desired and requested workers. Serialised by a lock. */
  reconcile(): Promise<void> {
    const next = this.#lock.then(() => this.#reconcileOnce());
    this.#lock = next.catch((e: unknown) => {
      this.#run.logger.warn({ err: String(e) }, "reconcile failed; retrying on the next tick");
    });
    return this.#lock;
  }

  async #reconcileOnce(): Promise<void> {
    if (this.#closing !== undefined || this.#brokerLost || this.#gaveUp) return;
    for (const [id, w] of this.#workers) if (w.exited !== undefined) this.#workers.delete(id);
    const live = [...this.#workers.values()].filter((w) => w.phase !== "draining");
    if (live.length < this.#desired) {
      const starts: Promise<void>[] = [];
      for (let i = live.length; i < this.#desired; i++) starts.push(this.#startOne());
      await Promise.all(starts);
    } else if (live.length > this.#desired) {
      const { cancelPending, retire } = chooseToRemove(live, live.length - this.#desired);
      await Promise.all([
        ...cancelPending.map((id) => this.#remove(id)),
        ...retire.map((id) => this.#retire(id)),
      ]);
    }
  }

  async #startOne(): Promise<void> {
    const workerId = `w${++this.#seq}-${this.#run.runId.slice(0, 8)}`;
    const w: Tracked = { id: workerId, phase: "pending", active: 0, requestedAt: this.#o.now() };
    this.#workers.set(workerId, w);
    await this.#provider.start({
      workerId,
      runId: this.#run.runId,
      flowName: this.#run.flowName,
      flowModule: this.#run.flowModule,
      broker: this.#lease.workers,
      concurrency: this.#o.concurrency,
      deathTimeoutMs: this.#o.workerDeathTimeoutMs,
    });
  }

  async #retire(workerId: string): Promise<void> {
    const w = this.#workers.get(workerId);
    if (w === undefined) return;
    w.phase = "draining";
    await this.#channel?.retire([workerId]);
  }

  async #remove(workerId: string): Promise<void> {
    const w = this.#workers.get(workerId);
    if (w !== undefined) w.phase = "draining";
    await this.#provider.remove(workerId);
  }

  #onProvider(e: ProviderEvent): void {
    const w = this.#workers.get(e.workerId);
    if (w === undefined) return;
    if (e.phase === "starting") {
      if (w.phase === "pending") w.phase = "starting";
      w.startedAt = this.#o.now();
      return;
    }
    const wasDraining = w.phase === "draining";
    w.exited = { reason: e.reason, failed: e.failed };
    for (const wake of this.#exitWaiters) wake();
    this.#hooks.onWorkerGone?.(e.workerId, e.failed);
    if (this.#closing !== undefined) return;
    if (!wasDraining) {
      this.#run.logger.warn({ worker: e.workerId }, `worker ${e.workerId} exited: ${e.reason}`);
      const early =
        w.phase !== "running" ||
        this.#o.now() - (w.startedAt ?? w.requestedAt) < this.#o.startFailureWindowMs;
      if (early && ++this.#startFailures >= this.#o.maxStartFailures) {
        // Stop here: no more starts (they would fail the same way) until the run closes us.
        this.#gaveUp = true;
        this.#hooks.onFatal(
          serializeError(
            new FlotillaError(
              ErrorCode.WorkerStart,
              `workers keep failing to start (${this.#startFailures} in a row); the last one: ${e.reason}`,
              { hint: "run `flotilla worker` by hand with the same flow file to see why" },
            ),
          ),
        );
        return;
      }
    }
    this.#emit(`worker ${e.workerId} exited: ${e.reason}`);
    void this.reconcile();
  }

  demandChanged(): void {
    if (!this.#adaptive || this.#ticking) return;
    const live = this.workers.filter((w) => w.phase !== "draining").length;
    if (live >= this.#o.maxWorkers || this.#hooks.outstanding() <= live * this.#o.concurrency) return;
    this.#ticking = true;
    setImmediate(() => void this.#runTick());
  }

  #scheduleTick(): void {
    if (this.#ticking) return;
    this.#ticking = true;
    void this.#runTick();
  }

  async #runTick(): Promise<void> {
    try {
      await this.#tick();
    } catch (error) {
      this.#run.logger.warn({ err: String(error) }, "adaptive tick failed; retrying on the next one");
    } finally {
      this.#ticking = false;
    }
  }

  async #tick(): Promise<void> {
    if (this.#closing !== undefined || this.#channel === undefined || this.#gaveUp) return;
    let beats: Map<string, Heartbeat>;
    try {
      beats = await this.#channel.heartbeats();
    } catch {
      return;
    }
    let running = 0;
    for (const [id, beat] of beats) {
      const w = this.#workers.get(id);
      if (w === undefined || w.exited !== undefined) continue;
      w.active = beat.active;
      running += beat.active;
      if (beat.phase === "running" && (w.phase === "pending" || w.phase === "starting"))
        this.observe(id, "running");
    }
    if (!this.#adaptive) return;
    const outstanding = this.#hooks.outstanding();
    const decision = plan(
      {
        nowMs: this.#o.now(),
        queued: Math.max(0, outstanding - running),
        running: Math.min(running, outstanding),
        workers: this.workers,
      },
      this.#bounds(),
      this.#history,
    );
    this.#history = decision.history;
    const changed =
      decision.target !== this.#desired || decision.cancelPending.length + decision.retire.length > 0;
    if (changed) {
      this.#desired = decision.target;
      this.#run.logger.info({ target: decision.target }, `workers: ${decision.reason}`);
      await Promise.all([
        ...decision.cancelPending.map((id) => this.#remove(id)),
        ...decision.retire.map((id) => this.#retire(id)),
      ]).catch(() => {});
      await this.reconcile();
      // After the requests, so the event shows the workers just asked for as pending.
      this.#emit(decision.reason);
    }
  }

  #bounds(): Bounds {
    return {
      minWorkers: this.#o.minWorkers,
      maxWorkers: this.#o.maxWorkers,
      slotsPerWorker: this.#o.concurrency,
      idleTimeoutMs: this.#o.idleTimeoutMs,
    };
  }

  #emit(reason: string): void {
    const ws = this.workers;
    const count = ws.filter((w) => w.phase === "running").length;
    const pending = ws.filter((w) => w.phase === "pending" || w.phase === "starting").length;
    const key = `${count}/${pending}`;
    if (key === this.#lastEvent && reason === this.#lastReason) return;
    this.#lastEvent = key;
    this.#lastReason = reason;
    this.#hooks.onEvent({ type: "workers", count, pending, reason });
  }

  /** Resolves when every tracked worker has exited, or after `timeoutMs`. */
  #allExited(timeoutMs: number): Promise<void> {
    const done = () => [...this.#workers.values()].every((w) => w.exited !== undefined);
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        this.#o.timers.clearTimeout(timer);
        this.#exitWaiters.delete(check);
        resolve();
      };
      const check = () => {
        if (done()) finish();
      };
      const timer = this.#o.timers.setTimeout(finish, timeoutMs);
      this.#exitWaiters.add(check);
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#o.timers.clearInterval(this.#timer);
      await this.#lock;
      const live = [...this.#workers.values()].filter((w) => w.exited === undefined);
      // Without a broker, workers cannot hear a retire request: remove them at once.
      const asked =
        !this.#brokerLost &&
        this.#channel !== undefined &&
        (await settlesWithin(this.#channel.retire([...live.map((w) => w.id), "-"]), 1000));
      for (const w of live) w.phase = "draining";
      if (live.length > 0) this.#emit(`run over: retiring ${live.length} worker(s)`);
      if (asked) await this.#allExited(this.#o.closeGraceMs);
      await Promise.all(
        [...this.#workers.values()]
          .filter((w) => w.exited === undefined)
          .map((w) => this.#provider.remove(w.id)),
      );
      await this.#provider.close();
      this.#channel?.close();
      await this.#lease.close();
    })();
    return this.#closing;
  }
}
