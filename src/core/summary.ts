// A per-task summary of a flow run's final state: state, attempts, duration, children counts for
// mapped tasks. What the CLI's table and JSON show, and what the runner's termination message
// carries back from Kubernetes. Pure.

import { previewValue } from "./preview.ts";
import type { FlowRunState, TaskRunRecord } from "./states.ts";

export interface TaskSummary {
  task: string;
  state: string;
  attempts: number;
  durationMs: number | null;
  message?: string;
  children?: Record<string, number>;
  /** A successful task's result, when its JSON takes at most 10,000 characters. */
  result?: unknown;
  /** Instead of `result` when it is too big, binary or not JSON: what it is and how it starts. */
  resultPreview?: ResultPreview;
}

/** What the summary says of a result it does not print whole. */
export interface ResultPreview {
  type: string;
  size?: number;
  unit?: string;
  /** The start of its JSON, cut with "…" (empty for binary data). */
  preview: string;
  /** Why it is not printed: "too big to print (over 10,000 characters of JSON)", "binary data, N bytes"... */
  reason: string;
}

/** Options of {@link summarizeTasks}. */
export interface SummarizeOptions {
  /** Include results (bounded: see `TaskSummary.result`). @default true */
  results?: boolean;
  /** Applied to a preview before it is cut, so that no cut leaves half a secret. */
  redact?: (text: string) => string;
}

/** One line per task run; results sized without ever being serialised whole. */
export function summarizeTasks(state: FlowRunState, options: SummarizeOptions = {}): TaskSummary[] {
  return Object.entries(state.taskRuns).map(([slug, rec]) => {
    const s = rec.state;
    if (s.type === "Mapped") {
      const children: Record<string, number> = {};
      let attempts = 0;
      let start = Number.POSITIVE_INFINITY;
      let end = Number.NEGATIVE_INFINITY;
      let unfinished = false;
      for (const c of s.children) {
        children[c.state.type] = (children[c.state.type] ?? 0) + 1;
        attempts += c.attempts;
        if (c.startedAt !== undefined) start = Math.min(start, c.startedAt);
        if (c.finishedAt !== undefined) end = Math.max(end, c.finishedAt);
        else if (c.startedAt !== undefined) unfinished = true;
      }
      // from the first child's start to the last one's end; unknown (as for an unfinished task)
      // while a started child has not finished, or when none has started or finished
      const known = Number.isFinite(start) && Number.isFinite(end) && !unfinished;
      return {
        task: slug,
        state: "Mapped",
        attempts,
        durationMs: known ? Math.max(0, end - start) : null,
        children,
      };
    }
    const out: TaskSummary = { task: slug, state: s.type, attempts: rec.attempts, durationMs: duration(rec) };
    if ("message" in s && s.message) out.message = s.message;
    if (s.type === "Success" && s.result !== undefined && options.results !== false) {
      const p = previewValue(s.result, options.redact ? { redact: options.redact } : {});
      if (p.complete) out.result = s.result;
      else {
        out.resultPreview = {
          type: p.type,
          ...(p.size !== undefined ? { size: p.size } : {}),
          ...(p.unit !== undefined ? { unit: p.unit } : {}),
          preview: p.json,
          reason: p.reason ?? "not printable",
        };
      }
    }
    return out;
  });
}

function duration(rec: TaskRunRecord): number | null {
  return rec.startedAt !== undefined && rec.finishedAt !== undefined ? rec.finishedAt - rec.startedAt : null;
}
