// The final summary of a flow run: a table (task, state, attempts, duration) for people and a
// JSON document for scripts.

import type { FlowRunState } from "../core/states.ts";
import { describeState } from "../core/states.ts";
import { summarizeTasks } from "../core/summary.ts";
import { paintState } from "./color.ts";

export { summarizeTasks, type TaskSummary } from "../core/summary.ts";

export interface RenderTableOptions {
  /** Colour the states (see color.ts for when). @default false */
  color?: boolean;
}

export function renderTable(state: FlowRunState, options: RenderTableOptions = {}): string {
  const color = options.color === true;
  const summaries = summarizeTasks(state, { results: false }); // in taskRuns order
  const rows = Object.entries(state.taskRuns).map(([slug, rec], i) => {
    const sum = summaries[i]!;
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
  const fmt = (r: string[], paint = false) =>
    r
      .map((c, i) => {
        const cell = c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c;
        const padding = " ".repeat(Math.max(0, widths[i]! - cell.length));
        // the STATE column is coloured; the padding stays outside the colour so columns align
        return (paint && i === 1 ? paintState(cell, color) : cell) + padding;
      })
      .join("  ")
      .trimEnd();
  const total = state.finishedAt !== undefined ? formatMs(state.finishedAt - state.startedAt) : "-";
  const verdict = paintState(state.type === "Success" ? "Success" : `${state.type}: ${state.message}`, color);
  return [
    fmt(header),
    ...rows.map((r) => fmt(r, true)),
    "",
    `Flow run "${state.flow}" ${verdict} in ${total} (run ${state.runId})`,
    // a run-level error (broker lost, workers cannot start, fingerprint mismatch) says how to fix it
    ...(state.type !== "Success" && state.error?.hint ? [`  ${state.error.hint}`] : []),
    "",
  ].join("\n");
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}
