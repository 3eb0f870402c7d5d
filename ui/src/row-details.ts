// The runs list's per-row figures (task counts, workers peak) when the list answer lacks them: each
// row's run detail and cluster samples, fetched a few at a time and kept while the run is final
// (a live run's are fetched again when the list reloads).

import { useEffect, useRef, useState } from "react";
import { api } from "./api.ts";
import { endpoints } from "./endpoints.ts";
import { isFinal } from "./states.tsx";
import type { FlowRun, WorkerSample } from "./types.ts";

export interface RowDetail {
  taskCounts?: Record<string, number>;
  workersPeak?: number;
}

const cache = new Map<string, { key: string; detail: RowDetail }>();
const PARALLEL = 4;

async function load(run: FlowRun): Promise<RowDetail> {
  const [detail, cluster] = await Promise.all([
    run.taskCounts ? Promise.resolve(run) : api<FlowRun>(endpoints.run(run.id)),
    run.workersPeak !== undefined
      ? Promise.resolve(undefined)
      : api<{ samples?: WorkerSample[] }>(endpoints.cluster(run.id)).catch(() => undefined),
  ]);
  const samples = cluster?.samples ?? [];
  return {
    ...(detail.taskCounts ? { taskCounts: detail.taskCounts } : {}),
    ...(run.workersPeak !== undefined
      ? { workersPeak: run.workersPeak }
      : samples.length > 0
        ? { workersPeak: Math.max(...samples.map((s) => s.count)) }
        : {}),
  };
}

/** Details by run id for `runs`; `generation` changes when the list reloaded. */
export function useRowDetails(runs: FlowRun[], generation: unknown): Map<string, RowDetail> {
  const [, setTick] = useState(0);
  const latest = useRef(runs);
  latest.current = runs;
  // biome-ignore lint/correctness/useExhaustiveDependencies: fetched again when the list reloaded, not on each render
  useEffect(() => {
    let live = true;
    const todo = latest.current.filter((r) => {
      if (r.taskCounts && r.workersPeak !== undefined) return false;
      const c = cache.get(r.id);
      return !c || !isFinal(r.state) || c.key !== `${r.state}`;
    });
    let next = 0;
    const worker = async () => {
      while (live && next < todo.length) {
        const r = todo[next++] as FlowRun;
        try {
          const detail = await load(r);
          cache.set(r.id, { key: r.state, detail });
          if (live) setTick((t) => t + 1);
        } catch {
          // the row keeps "—"
        }
      }
    };
    for (let i = 0; i < PARALLEL; i++) void worker();
    return () => {
      live = false;
    };
  }, [generation]);
  const out = new Map<string, RowDetail>();
  for (const r of runs) {
    const c = cache.get(r.id)?.detail;
    out.set(r.id, {
      taskCounts: r.taskCounts ?? c?.taskCounts,
      workersPeak: r.workersPeak ?? c?.workersPeak,
    });
  }
  return out;
}
