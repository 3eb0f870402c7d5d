// A per-task summary of a flow run's final state: state, attempts, duration, children counts for
// mapped tasks. What the CLI's table and JSON show, and what the runner's termination message
// carries back from Kubernetes. Pure.

import type { FlowRunState, TaskRunRecord } from "./states.ts";

export interface TaskSummary {
  task: string;
  state: string;
  attempts: number;
  durationMs: number | null;
  message?: string;
  children?: Record<string, number>;
  result?: unknown;
}

export function summarizeTasks(state: FlowRunState): TaskSummary[] {
  return Object.entries(state.taskRuns).map(([slug, rec]) => {
    const s = rec.state;
    if (s.type === "Mapped") {
      const children: Record<string, number> = {};
      let attempts = 0;
      let start = Number.POSITIVE_INFINITY;
      let end = 0;
      for (const c of s.children) {
        children[c.state.type] = (children[c.state.type] ?? 0) + 1;
        attempts += c.attempts;
        if (c.startedAt !== undefined) start = Math.min(start, c.startedAt);
        if (c.finishedAt !== undefined) end = Math.max(end, c.finishedAt);
      }
      return {
        task: slug,
        state: "Mapped",
        attempts,
        durationMs: Number.isFinite(start) ? end - start : null,
        children,
      };
    }
    const out: TaskSummary = { task: slug, state: s.type, attempts: rec.attempts, durationMs: duration(rec) };
    if ("message" in s && s.message) out.message = s.message;
    if (s.type === "Success" && isJsonable(s.result)) out.result = s.result;
    return out;
  });
}

function duration(rec: TaskRunRecord): number | null {
  return rec.startedAt !== undefined && rec.finishedAt !== undefined ? rec.finishedAt - rec.startedAt : null;
}

function isJsonable(v: unknown): boolean {
  if (v === undefined) return false;
  try {
    const s = JSON.stringify(v);
    return s !== undefined && s.length <= 10_000;
  } catch {
    return false;
  }
}
