// The final summary of a flow run: a table (task, state, attempts, duration) for people and a
// JSON document for scripts.

import type { FlowRunState, TaskRunRecord } from "../core/states.ts";
import { describeState } from "../core/states.ts";

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

export function renderTable(state: FlowRunState): string {
  const rows = Object.entries(state.taskRuns).map(([slug, rec]) => {
    const sum = summarizeTasks({ ...state, taskRuns: { [slug]: rec } })[0]!;
    return [
      slug,
      rec.state.type === "Mapped"
        ? describeState(rec.state)
        : sum.message
          ? `${sum.state}: ${sum.message}`
          : sum.state,
      String(sum.attempts),
      sum.durationMs === null ? "-" : formatMs(sum.durationMs),
    ];
  });
  const header = ["TASK", "STATE", "ATTEMPTS", "DURATION"];
  const widths = header.map((h, i) => Math.min(70, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const total = state.finishedAt !== undefined ? formatMs(state.finishedAt - state.startedAt) : "-";
  const verdict = state.type === "Success" ? "Success" : `${state.type}: ${state.message}`;
  return [
    fmt(header),
    ...rows.map(fmt),
    "",
    `Flow run "${state.flow}" ${verdict} in ${total} (run ${state.runId})`,
    "",
  ].join("\n");
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}
