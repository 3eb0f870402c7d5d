// A run's task runs, kept live: fetched once, then the changed task runs the event stream carries
// (`task-runs` events) are applied in place, at most once a frame, so a 10,000-way mapped node's
// counts follow the run without fetching 10,000 rows again. A batch too big for one event, or a
// reconnect (events were lost), fetches the whole list again.

import { useEffect, useMemo, useRef, useState } from "react";
import { api } from "./api.ts";
import { endpoints } from "./endpoints.ts";
import { useLiveEvents, useThrottled } from "./events.ts";
import { isFinal } from "./states.tsx";
import { items, type TaskRun } from "./types.ts";

const key = (r: { slug: string; mapIndex: number }) => `${r.slug}\u0000${r.mapIndex}`;

/**
 * Applies one update the way the server's store does: a final state is never replaced by a
 * non-final one, the first start time and a known worker are kept, the attempt never goes back.
 */
export function mergeTaskRun(prev: TaskRun | undefined, u: TaskRun): TaskRun | undefined {
  if (!prev) return u;
  if (isFinal(prev.state) && !isFinal(u.state)) return undefined;
  return {
    ...u,
    attempt: Math.max(prev.attempt, u.attempt),
    ...(prev.startedAt !== undefined ? { startedAt: prev.startedAt } : {}),
    ...(u.worker === undefined && prev.worker !== undefined ? { worker: prev.worker } : {}),
  };
}

export interface LiveTaskRuns {
  /** In the server's order (slug, then map index) for fetched rows; new ones after. */
  taskRuns: TaskRun[] | undefined;
  /** Earlier attempts of retried task runs (each as it ended, Retrying with its error). */
  attempts: TaskRun[];
  reload: () => void;
  /** When the last live change was applied (performance.now()), for the dashboard's own timing. */
  appliedAt: number | undefined;
}

/** The task runs of run `id` (null: not loaded yet), kept up to date from the event stream. */
export function useTaskRuns(id: string | null): LiveTaskRuns {
  const rows = useRef(new Map<string, TaskRun>());
  const attempts = useRef(new Map<string, TaskRun>());
  const queued = useRef<TaskRun[][]>([]);
  const loaded = useRef(false);
  const [version, setVersion] = useState<{ n: number; appliedAt?: number }>({ n: 0 });
  const frame = useRef<number | undefined>(undefined);

  const apply = () => {
    frame.current = undefined;
    if (!loaded.current) return; // applied after the fetch lands
    let changed = false;
    for (const batch of queued.current.splice(0)) {
      for (const u of batch) {
        if (u.state === "Retrying") attempts.current.set(`${key(u)}\u0000${u.attempt}`, u);
        const k = key(u);
        const next = mergeTaskRun(rows.current.get(k), u);
        if (next) {
          rows.current.set(k, next);
          changed = true;
        }
      }
    }
    if (changed) setVersion((v) => ({ n: v.n + 1, appliedAt: performance.now() }));
  };
  const schedule = () => {
    if (frame.current !== undefined) return;
    frame.current = requestAnimationFrame(apply);
  };

  const fetching = useRef(false);
  const again = useRef(false);
  const load = () => {
    if (id === null) return;
    if (fetching.current) {
      again.current = true;
      return;
    }
    fetching.current = true;
    api<TaskRun[] | { items: TaskRun[]; attempts?: TaskRun[] }>(endpoints.taskRuns(id))
      .then((data) => {
        const m = new Map<string, TaskRun>();
        for (const r of items(data)) m.set(key(r), r);
        rows.current = m;
        const a = new Map<string, TaskRun>();
        for (const r of Array.isArray(data) ? [] : (data.attempts ?? []))
          a.set(`${key(r)}\u0000${r.attempt}`, r);
        attempts.current = a;
        loaded.current = true;
        setVersion((v) => ({ n: v.n + 1, ...(v.appliedAt !== undefined ? { appliedAt: v.appliedAt } : {}) }));
        if (queued.current.length) schedule(); // changes that came while the list was on its way
      })
      .catch(() => {
        // the page shows what it has; the next event or reconnect fetches again
      })
      .finally(() => {
        fetching.current = false;
        if (again.current) {
          again.current = false;
          load();
        }
      });
  };
  const reload = useThrottled(load, 300);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new run id starts over
  useEffect(() => {
    rows.current = new Map();
    attempts.current = new Map();
    queued.current = [];
    loaded.current = false;
    setVersion({ n: 0 });
    load();
    return () => {
      if (frame.current !== undefined) cancelAnimationFrame(frame.current);
      frame.current = undefined;
    };
  }, [id]);

  useLiveEvents(
    (e) => e.type === "task-runs" && id !== null && e.data.runId === id,
    (e) => {
      if (e === "reconnected") return reload();
      const changed = e.data.taskRuns;
      if (Array.isArray(changed)) {
        queued.current.push(changed as TaskRun[]);
        schedule();
      } else reload();
    },
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: rows is a ref; version says when it changed
  const taskRuns = useMemo(() => (loaded.current ? [...rows.current.values()] : undefined), [version.n]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: attempts is a ref; version says when it changed
  const attemptList = useMemo(() => [...attempts.current.values()], [version.n]);
  return { taskRuns, attempts: attemptList, reload: load, appliedAt: version.appliedAt };
}
