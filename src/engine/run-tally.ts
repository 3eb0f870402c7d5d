// A run's task counts as one small document: counts by final state, runs in flight, and each
// mapped task's done/total. The runner pod logs it (at most once a second, when it changed) so the
// launcher can show the same status line as a local run without one log line per task. Pure.

import type { RunEvent } from "../core/executor.ts";

/** The counts at one moment. */
export interface TallySnapshot {
  /** Finished task runs by state type (Success, Failed, …; Mapped parents excluded). */
  counts: Record<string, number>;
  /** Task runs started and not finished. */
  running: number;
  /** Mapped tasks: [done, total] children. */
  maps: Record<string, [number, number]>;
}

/** Counts RunEvents; `version` changes whenever the snapshot would. */
export class RunTally {
  #counts: Record<string, number> = {};
  #running = 0;
  #maps: Record<string, [number, number]> = {};
  #version = 0;

  get version(): number {
    return this.#version;
  }

  readonly onEvent = (e: RunEvent): void => {
    switch (e.type) {
      case "taskStarted":
        if (e.attempt !== 1) return;
        this.#running++;
        break;
      case "taskFinished": {
        const type = e.state.type;
        if (type === "Mapped") return;
        this.#counts[type] = (this.#counts[type] ?? 0) + 1;
        if (type !== "Skipped" && type !== "TriggerFailed") this.#running = Math.max(0, this.#running - 1);
        const map = e.mapIndex >= 0 ? this.#maps[e.slug] : undefined;
        if (map) map[0]++;
        break;
      }
      case "mapped":
        this.#maps[e.slug] = [0, e.children];
        break;
      default:
        return;
    }
    this.#version++;
  };

  snapshot(): TallySnapshot {
    return {
      counts: { ...this.#counts },
      running: this.#running,
      maps: Object.fromEntries(Object.entries(this.#maps).map(([k, v]) => [k, [v[0], v[1]]])),
    };
  }
}

/** "3 Success, 1 Failed, 2 running, work 4/10": a snapshot in words. */
export function describeTally(s: TallySnapshot): string {
  const parts = [
    ...Object.entries(s.counts).map(([type, n]) => `${n} ${type}`),
    ...(s.running ? [`${s.running} running`] : []),
    ...Object.entries(s.maps).map(([slug, [done, total]]) => `${slug} ${done}/${total}`),
  ];
  return parts.length ? parts.join(", ") : "no task run yet";
}

/** A snapshot read back from a log line's `progress` field, or undefined when it is not one. */
export function readTally(value: unknown): TallySnapshot | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as Partial<TallySnapshot>;
  if (typeof v.running !== "number" || typeof v.counts !== "object" || typeof v.maps !== "object")
    return undefined;
  return { counts: { ...v.counts }, running: v.running, maps: { ...v.maps } } as TallySnapshot;
}
