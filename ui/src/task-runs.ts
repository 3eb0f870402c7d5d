// A run's task runs, kept live. The page paints from the run's task runs in brief (?view=summary:
// every task's own run, the children neither Pending nor Success, and each mapped task's child
// states as one character each), not from every task run: a 10,000-way map is a 10 kB string, not
// 1.5 MB of rows. A mapped task opened in the panel fetches its children a page at a time as its
// list is scrolled (?slug=&after=&states=, those not Success first), the timeline every task run.
// The changed task runs the event stream carries (`task-runs` events) are applied in place, at
// most once a frame, to the rows and the child states alike. A batch too big for one
// event, or a reconnect (events were lost), fetches what was fetched again.

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api } from "./api.ts";
import { endpoints } from "./endpoints.ts";
import { useLiveEvents, useThrottled } from "./events.ts";
import { isFinal } from "./states.tsx";
import { items, type TaskRun, type TaskRunsAnswer } from "./types.ts";

/** The characters the summary writes a child's state with (the server's STATE_DIGITS). */
const DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A mapped task's children by state, kept live. */
export interface ChildStates {
  /** Child i's state (undefined: not known). */
  states: (string | undefined)[];
  counts: Record<string, number>;
  total: number;
  startedAt?: number;
  endedAt?: number;
}

/** The summary's briefs decoded (child i's state from its character and the answer's codes). */
export function decodeBriefs(answer: TaskRunsAnswer): Map<string, ChildStates> {
  const out = new Map<string, ChildStates>();
  for (const t of answer.tasks ?? []) {
    const states = [...t.states].map((c) => (c === "-" ? undefined : answer.codes?.[DIGITS.indexOf(c)]));
    out.set(t.slug, {
      states,
      counts: { ...t.counts },
      total: t.total,
      ...(t.startedAt !== undefined ? { startedAt: t.startedAt } : {}),
      ...(t.endedAt !== undefined ? { endedAt: t.endedAt } : {}),
    });
  }
  return out;
}

/** Applies a child's update to its task's states as the store does (a final state stays). */
export function applyChild(all: Map<string, ChildStates>, u: TaskRun): void {
  let c = all.get(u.slug);
  if (!c) {
    c = { states: [], counts: {}, total: 0 };
    all.set(u.slug, c);
  }
  const prev = c.states[u.mapIndex];
  if (prev !== undefined && isFinal(prev) && !isFinal(u.state)) return;
  if (prev !== undefined) c.counts[prev] = (c.counts[prev] ?? 1) - 1;
  else c.total++;
  if (prev !== undefined && c.counts[prev] === 0) delete c.counts[prev];
  c.counts[u.state] = (c.counts[u.state] ?? 0) + 1;
  c.states[u.mapIndex] = u.state;
  if (u.startedAt !== undefined && (c.startedAt === undefined || u.startedAt < c.startedAt))
    c.startedAt = u.startedAt;
  if (u.endedAt !== undefined && (c.endedAt === undefined || u.endedAt > c.endedAt)) c.endedAt = u.endedAt;
}

/** Children a page of an opened mapped task holds. */
const CHILD_PAGE = 500;

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
  /**
   * The task runs fetched or seen live (not every child of a mapped task: those of an opened task,
   * or all of them once the timeline asked), in the server's order (slug, then map index), new
   * ones after.
   */
  taskRuns: TaskRun[] | undefined;
  /** Each mapped task's child states, counts and times (every child, fetched or not). */
  children: ReadonlyMap<string, ChildStates>;
  /** Earlier attempts of retried task runs (each as it ended, Retrying with its error). */
  attempts: TaskRun[];
  /** Whether `taskRuns` holds every task run of `slug` (undefined: of the run). */
  has: (slug?: string) => boolean;
  /** Fetch every task run of `slug` (undefined: of the run), once. */
  want: (slug?: string) => void;
  /**
   * Fetch the next page of mapped task `slug`'s children: those not Success first, then the
   * Success ones, each in map-index order (so a page only adds rows after those listed).
   */
  more: (slug: string) => void;
  /**
   * How many of `slug`'s children its pages brought so far (children seen live may be more: the
   * next page is due when the list is scrolled near this many rows).
   */
  pagedRows: (slug: string) => number;
  reload: () => void;
  /** When the last live change was applied (performance.now()), for the dashboard's own timing. */
  appliedAt: number | undefined;
}

/** The task runs of run `id` (null: not loaded yet), kept up to date from the event stream. */
export function useTaskRuns(id: string | null): LiveTaskRuns {
  const rows = useRef(new Map<string, TaskRun>());
  const kids = useRef(new Map<string, ChildStates>());
  const attempts = useRef(new Map<string, TaskRun>());
  const queued = useRef<TaskRun[][]>([]);
  const loaded = useRef(false);
  /** What was fetched in full: slugs, and "" for the whole run. */
  const full = useRef(new Set<string>());
  /** What of `full` has come. */
  const fetched = useRef(new Set<string>());
  const [version, setVersion] = useState<{ n: number; appliedAt?: number }>({ n: 0 });
  const frame = useRef<number | undefined>(undefined);

  const take = (u: TaskRun) => {
    if (u.state === "Retrying") attempts.current.set(`${key(u)}\u0000${u.attempt}`, u);
    const k = key(u);
    const next = mergeTaskRun(rows.current.get(k), u);
    if (u.mapIndex >= 0) applyChild(kids.current, u);
    if (!next) return false;
    rows.current.set(k, next);
    return true;
  };
  const apply = () => {
    frame.current = undefined;
    if (!loaded.current) return; // applied after the fetch lands
    let changed = false;
    for (const batch of queued.current.splice(0)) for (const u of batch) changed = take(u) || changed;
    if (changed) setVersion((v) => ({ n: v.n + 1, appliedAt: performance.now() }));
  };
  const schedule = () => {
    if (frame.current !== undefined) return;
    frame.current = requestAnimationFrame(apply);
  };
  const bump = () =>
    setVersion((v) => ({ n: v.n + 1, ...(v.appliedAt !== undefined ? { appliedAt: v.appliedAt } : {}) }));
  /** Rows fetched from the server replace what the page had of them. */
  const adopt = (data: TaskRunsAnswer, attemptsToo: boolean) => {
    for (const r of items(data)) {
      rows.current.set(key(r), r);
      if (r.mapIndex >= 0) applyChild(kids.current, r);
    }
    if (attemptsToo)
      for (const r of data.attempts ?? []) attempts.current.set(`${key(r)}\u0000${r.attempt}`, r);
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
    const extra = [...full.current];
    api<TaskRunsAnswer>(extra.includes("") ? endpoints.taskRuns(id) : endpoints.taskRunSummary(id))
      .then(async (data) => {
        rows.current = new Map();
        // paged tasks start over from their first page (the panel asks again as it needs rows)
        for (const slug of paging.current.keys()) fetched.current.delete(slug);
        paging.current = new Map();
        kids.current = decodeBriefs(data);
        attempts.current = new Map();
        adopt(data, true);
        for (const slug of extra.filter((s) => s !== ""))
          adopt(await api(endpoints.taskRunsOf(id, slug)), true);
        loaded.current = true;
        bump();
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
  // biome-ignore lint/correctness/useExhaustiveDependencies: adopt and bump touch refs and state setters only
  const want = useCallback(
    (slug?: string) => {
      const k = slug ?? "";
      if (id === null || full.current.has(k) || full.current.has("")) return;
      full.current.add(k);
      api<TaskRunsAnswer>(slug === undefined ? endpoints.taskRuns(id) : endpoints.taskRunsOf(id, slug))
        .then((data) => {
          adopt(data, true);
          fetched.current.add(k);
          bump();
        })
        .catch(() => full.current.delete(k));
    },
    [id],
  );
  /** Each paged task's next page: its phase (0: not Success, 1: Success) and where it starts. */
  const paging = useRef(new Map<string, { phase: 0 | 1; after: number; busy: boolean; rows: number }>());
  // biome-ignore lint/correctness/useExhaustiveDependencies: adopt and bump touch refs and state setters only
  const more = useCallback(
    (slug: string) => {
      if (id === null || fetched.current.has(slug) || fetched.current.has("")) return;
      let p = paging.current.get(slug);
      if (!p) {
        p = { phase: 0, after: -1, busy: false, rows: 0 };
        paging.current.set(slug, p);
      }
      if (p.busy) return;
      const page = p;
      page.busy = true;
      const states = page.phase === 0 ? "!Success" : "Success";
      api<TaskRunsAnswer>(endpoints.taskRunsPage(id, slug, page.after, states, CHILD_PAGE))
        .then((data) => {
          if (paging.current.get(slug) !== page) return; // a reload started over
          adopt(data, true);
          page.rows += data.items.length;
          if (data.next !== undefined) page.after = data.next;
          else if (page.phase === 0) Object.assign(page, { phase: 1, after: -1 });
          else fetched.current.add(slug);
          page.busy = false;
          bump();
        })
        .catch(() => {
          page.busy = false;
        });
    },
    [id],
  );
  // biome-ignore lint/correctness/useExhaustiveDependencies: paging is a ref; version says when it changed
  const pagedRows = useCallback((slug: string) => paging.current.get(slug)?.rows ?? 0, [version.n]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: fetched is a ref; version says when it changed
  const done = useMemo(() => new Set(fetched.current), [version.n]);
  const has = useCallback((slug?: string) => done.has("") || (slug !== undefined && done.has(slug)), [done]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new run id starts over
  useEffect(() => {
    rows.current = new Map();
    kids.current = new Map();
    attempts.current = new Map();
    full.current = new Set();
    fetched.current = new Set();
    paging.current = new Map();
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
  // biome-ignore lint/correctness/useExhaustiveDependencies: kids is a ref; version says when it changed
  const children = useMemo(() => new Map(kids.current), [version.n]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: attempts is a ref; version says when it changed
  const attemptList = useMemo(() => [...attempts.current.values()], [version.n]);
  return {
    taskRuns,
    children,
    attempts: attemptList,
    has,
    want,
    more,
    pagedRows,
    reload: load,
    appliedAt: version.appliedAt,
  };
}
