// Pure helpers over task runs: per-task state counts (a mapped task is one entry with counts of its
// children), done/total, and the per-worker lanes of the timeline.

import { isFinal } from "./states.tsx";
import type { ChildStates } from "./task-runs.ts";
import type { FlowDag, FlowRun, TaskRun } from "./types.ts";

export interface TaskSummary {
  slug: string;
  mapped: boolean;
  counts: Record<string, number>;
  total: number;
  /** The parent (map index -1) of a mapped task, or the single run of an unmapped one. */
  head?: TaskRun;
  startedAt?: number;
  endedAt?: number;
  upstream: string[];
}

/**
 * Groups task runs by slug in the DAG's order (tasks not in the DAG come after, by start). With
 * `children` (each mapped task's child states, every child known), a mapped task's counts, total
 * and times come from there, and `taskRuns` need not hold its every child.
 */
export function summarizeTasks(
  taskRuns: readonly TaskRun[],
  dag: FlowDag | undefined,
  children?: ReadonlyMap<string, ChildStates>,
): Map<string, TaskSummary> {
  const out = new Map<string, TaskSummary>();
  for (const t of dag?.tasks ?? []) {
    out.set(t.slug, {
      slug: t.slug,
      mapped: t.mapped ?? false,
      counts: {},
      total: 0,
      upstream: t.upstream ?? [],
    });
  }
  for (const e of dag?.edges ?? []) {
    const s = out.get(e.downstream);
    if (s && !s.upstream.includes(e.upstream)) s.upstream.push(e.upstream);
  }
  for (const r of taskRuns) {
    let s = out.get(r.slug);
    if (!s) {
      s = { slug: r.slug, mapped: false, counts: {}, total: 0, upstream: [] };
      out.set(r.slug, s);
    }
    if (r.mapIndex >= 0) {
      s.mapped = true;
      if (children) continue;
      s.counts[r.state] = (s.counts[r.state] ?? 0) + 1;
      s.total++;
    } else {
      s.head = r;
    }
    if (r.startedAt !== undefined && (s.startedAt === undefined || r.startedAt < s.startedAt))
      s.startedAt = r.startedAt;
    if (r.endedAt !== undefined && (s.endedAt === undefined || r.endedAt > s.endedAt)) s.endedAt = r.endedAt;
  }
  for (const [slug, c] of children ?? []) {
    let s = out.get(slug);
    if (!s) {
      s = { slug, mapped: true, counts: {}, total: 0, upstream: [] };
      out.set(slug, s);
    }
    s.mapped = true;
    s.counts = { ...c.counts };
    s.total = c.total;
    if (c.startedAt !== undefined && (s.startedAt === undefined || c.startedAt < s.startedAt))
      s.startedAt = c.startedAt;
    if (c.endedAt !== undefined && (s.endedAt === undefined || c.endedAt > s.endedAt)) s.endedAt = c.endedAt;
  }
  for (const s of out.values()) {
    if (!s.mapped && s.head) {
      s.counts = { [s.head.state]: 1 };
      s.total = 1;
    } else if (s.mapped && s.total === 0 && s.head) {
      s.counts = { [s.head.state]: 1 };
    }
  }
  return out;
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

function sameSummary(a: TaskSummary, b: TaskSummary): boolean {
  return (
    a.slug === b.slug &&
    a.mapped === b.mapped &&
    a.total === b.total &&
    a.head === b.head &&
    a.startedAt === b.startedAt &&
    a.endedAt === b.endedAt &&
    a.upstream.length === b.upstream.length &&
    a.upstream.every((u, i) => u === b.upstream[i]) &&
    sameCounts(a.counts, b.counts)
  );
}

/**
 * `next` with each summary that did not change replaced by the one in `prev`, so a live update
 * that moved 50 tasks of 1,000 hands 50 new objects to the graph and the other 950 nodes are not
 * drawn again (task runs keep their identity until they change, so `head` compares by reference).
 */
export function shareUnchanged(
  prev: ReadonlyMap<string, TaskSummary> | undefined,
  next: Map<string, TaskSummary>,
): Map<string, TaskSummary> {
  if (!prev) return next;
  for (const [slug, s] of next) {
    const old = prev.get(slug);
    if (old && sameSummary(old, s)) next.set(slug, old);
  }
  return next;
}

/** The state a task's node shows: its own run's, or for a mapped task the most telling child state. */
export function taskState(s: TaskSummary): string {
  if (!s.mapped) return s.head?.state ?? "Pending";
  const states = Object.keys(s.counts);
  const pick = (re: RegExp) => states.find((x) => re.test(x));
  const total = s.total;
  const finals = states.filter(isFinal).reduce((a, k) => a + (s.counts[k] ?? 0), 0);
  if (total > 0 && finals === total)
    return pick(/fail|crash|timed|trigger/i) ?? pick(/success/i) ?? states[0] ?? "Pending";
  return (
    pick(/running|retrying/i) ??
    (s.head?.state === "Pending" || !s.head ? "Pending" : (s.head?.state ?? "Running"))
  );
}

/**
 * Task runs by state over every task: a mapped task's children (not its parent), a plain task's
 * run; with `live`, a task of the DAG that has not run yet counts as Pending.
 */
export function taskCounts(summaries: Iterable<TaskSummary>, live: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of summaries) {
    if (s.mapped && s.total === 0) continue; // not expanded yet: its children are unknown
    if (!s.mapped && !s.head) {
      if (live) out.Pending = (out.Pending ?? 0) + 1;
      continue;
    }
    for (const [state, n] of Object.entries(s.counts)) out[state] = (out[state] ?? 0) + n;
  }
  return out;
}

/** Done and total task runs of a run, from its counts. */
export function doneTotal(run: FlowRun): { done: number; total: number } | undefined {
  if (!run.taskCounts)
    return run.tasksTotal !== undefined ? { done: run.tasksDone ?? 0, total: run.tasksTotal } : undefined;
  let done = 0;
  let total = 0;
  for (const [state, n] of Object.entries(run.taskCounts)) {
    total += n;
    if (isFinal(state)) done += n;
  }
  return { done, total };
}

export interface Lane {
  worker: string;
  runs: TaskRun[];
}

/** Task runs that started, by worker (a run with no worker goes to the "runner" lane). */
export function workerLanes(taskRuns: readonly TaskRun[]): Lane[] {
  const lanes = new Map<string, TaskRun[]>();
  for (const r of taskRuns) {
    // not started (a Pending task run may carry a start time it was scheduled with)
    if (r.startedAt === undefined || r.state === "Pending") continue;
    if (r.mapIndex < 0 && taskRunsHaveChildren(taskRuns, r.slug)) continue;
    const w = r.worker ?? "runner";
    const l = lanes.get(w);
    if (l) l.push(r);
    else lanes.set(w, [r]);
  }
  return [...lanes.entries()]
    .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([worker, runs]) => ({ worker, runs }));
}

/**
 * How long a worker had at least one task run running (the union of the runs' intervals, a run
 * still going up to `now`), not the sum: a worker with 8 slots busy for a minute was busy a minute.
 */
export function busyTime(runs: readonly TaskRun[], now: number): number {
  const spans = runs
    .filter((r) => r.startedAt !== undefined)
    .map((r) => [r.startedAt as number, Math.max(r.startedAt as number, r.endedAt ?? now)] as const)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const [a, b] of spans) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

const mappedCache = new WeakMap<readonly TaskRun[], Set<string>>();
function taskRunsHaveChildren(all: readonly TaskRun[], slug: string): boolean {
  let s = mappedCache.get(all);
  if (!s) {
    s = new Set(all.filter((r) => r.mapIndex >= 0).map((r) => r.slug));
    mappedCache.set(all, s);
  }
  return s.has(slug);
}

/** A task run's error as text: message, then the error's own message and stack when present. */
export function errorText(r: TaskRun): string | undefined {
  const parts: string[] = [];
  if (r.message) parts.push(r.message);
  const e = r.error;
  if (typeof e === "string") parts.push(e);
  else if (e && typeof e === "object") {
    const o = e as { name?: string; message?: string; stack?: string; code?: string; hint?: string };
    if (o.stack) parts.push(o.stack);
    else if (o.message) parts.push(`${o.name ?? "Error"}: ${o.message}`);
    if (o.hint) parts.push(`Hint: ${o.hint}`);
  }
  // Drop a part another one already contains (a message repeated in the stack).
  const uniq = parts.filter(
    (p, i) => !parts.some((q, j) => j !== i && q.includes(p) && (q.length > p.length || j < i)),
  );
  return uniq.length ? uniq.join("\n") : undefined;
}
