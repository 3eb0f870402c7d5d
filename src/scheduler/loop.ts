// The scheduler loop: once a second, for each active schedule, create the runs of its due ticks
// (idempotent: unique on schedule and time, so two loops never double a tick), and mark Crashed
// the live runs whose agent stopped renewing its lease (the agent is gone; its slot is freed).
// With several servers on one PostgreSQL only the leader (`leader`, an advisory lock) runs it.

import type { EventBus } from "../server/bus.ts";
import type { Store } from "../store/store.ts";
import { dueTicks } from "./expand.ts";

export interface SchedulerOptions {
  store: Store;
  bus?: EventBus;
  /** @default 1000 */
  periodMs?: number;
  now?: () => number;
  onError?: (error: unknown) => void;
  /** Called after runs were created. */
  onRunsCreated?: () => void;
  /**
   * Whether this process may run the loop now (the holder of PostgreSQL's scheduler lock); asked
   * before each pass, so a server takes over when the leader is gone. @default always
   */
  leader?: () => Promise<boolean>;
}

export class Scheduler {
  readonly #o: SchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #leading = false;

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  start(): void {
    const period = this.#o.periodMs ?? 1000;
    const loop = () => {
      if (this.#stopped) return;
      this.#running = this.#pass()
        .catch((e) => this.#o.onError?.(e))
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) this.#timer = setTimeout(loop, period);
        });
    };
    loop();
  }

  /** True when the last pass ran (this process leads the scheduler). */
  get leading(): boolean {
    return this.#leading;
  }

  async #pass(): Promise<void> {
    this.#leading = this.#o.leader ? await this.#o.leader() : true;
    if (this.#leading && !this.#stopped) await this.tick();
  }

  /** One pass: create due runs, expire lost leases. Returns the number of runs created. */
  async tick(): Promise<void> {
    const { store, bus } = this.#o;
    const now = (this.#o.now ?? Date.now)();
    let created = 0;
    for (const s of await store.listSchedules()) {
      if (s.paused) continue;
      const ticks = dueTicks(s, now);
      const lastTick = ticks.length > 0 ? ticks[ticks.length - 1]! : now;
      if (ticks.length === 0 && s.lastTickAt !== undefined && now - s.lastTickAt < 60_000) continue;
      const d = await store.getDeployment(s.deploymentId);
      if (d === undefined) continue;
      const runs = await store.createScheduledRuns(s, d, ticks, Math.max(lastTick, now));
      created += runs.length;
      for (const r of runs) {
        bus?.publish({ type: "run.created", runId: r.id, data: { runId: r.id, run: r } });
        bus?.publish({
          type: "run.state",
          runId: r.id,
          data: { runId: r.id, to: r.state, state: r.state, run: r },
        });
      }
    }
    for (const r of await store.expiredLeases(now)) {
      const to = r.state === "Cancelling" ? "Cancelled" : "Crashed";
      const t = await store.transitionRun(r.id, to, now, {
        reason: `its agent ${r.agentId ?? "?"} stopped renewing the lease (agent gone); the slot is freed`,
      });
      if (t?.ok && t.changed) {
        bus?.publish({
          type: "run.state",
          runId: r.id,
          data: { runId: r.id, from: r.state, to, state: to, run: t.run },
        });
      }
    }
    if (created > 0) this.#o.onRunsCreated?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}
