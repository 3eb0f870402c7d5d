// The runner's final state as a container termination message: compact JSON, at most 4096 bytes
// (the kubelet's limit), written by `flotilla execute` and read back by the launcher from the pod
// status. Holds the flow state, counts of task states and the failed tasks (messages truncated
// until it fits), never results (they may be large or secret).

import type { FlowRunState, FlowStateType } from "../core/states.ts";
import { summarizeTasks } from "../core/summary.ts";

/** The kubelet truncates termination messages beyond this many bytes. */
export const TERMINATION_MESSAGE_MAX_BYTES = 4096;

/** One task in the termination message: state type, attempts, duration (ms), mapped children by state. */
export interface TaskLine {
  s: string;
  a: number;
  d: number | null;
  c?: Record<string, number>;
}

/** What the termination message carries. */
export interface TerminationSummary {
  v: 2;
  type: FlowStateType;
  message: string;
  flow: string;
  runId: string;
  /** Number of task runs per state type. */
  counts: Record<string, number>;
  /** Every task by slug (state, attempts, duration, children); dropped first when the message is too long. */
  tasks?: Record<string, TaskLine>;
  /** Failed task runs (slug and message), most relevant first. */
  failed: { task: string; message: string }[];
  startedAt: number;
  finishedAt?: number;
}

/** Summarise a final state for the termination message. */
export function summarize(state: FlowRunState): TerminationSummary {
  const counts: Record<string, number> = {};
  const failed: { task: string; message: string }[] = [];
  const tasks: Record<string, TaskLine> = {};
  for (const t of summarizeTasks(state, { results: false })) {
    tasks[t.task] = { s: t.state, a: t.attempts, d: t.durationMs, ...(t.children ? { c: t.children } : {}) };
    counts[t.state] = (counts[t.state] ?? 0) + 1;
    if (
      (t.state === "Failed" || t.state === "TimedOut" || t.state === "TriggerFailed") &&
      t.message !== undefined
    )
      failed.push({ task: t.task, message: t.message });
  }
  return {
    v: 2,
    type: state.type,
    message:
      state.type === "Failed" && state.error && !state.message.includes(state.error.message)
        ? `${state.message}: ${state.error.message}`
        : state.message,
    flow: state.flow,
    runId: state.runId,
    counts,
    tasks,
    failed,
    startedAt: state.startedAt,
    ...(state.finishedAt !== undefined ? { finishedAt: state.finishedAt } : {}),
  };
}

/** Encode a summary in at most `TERMINATION_MESSAGE_MAX_BYTES`, shortening messages as needed. */
export function encodeTermination(summary: TerminationSummary): string {
  const s = structuredClone(summary);
  for (let limit = 512; ; limit = Math.floor(limit / 2)) {
    const text = JSON.stringify(s);
    if (Buffer.byteLength(text) <= TERMINATION_MESSAGE_MAX_BYTES) return text;
    if (s.tasks !== undefined) {
      delete s.tasks;
      continue;
    }
    s.message = cut(s.message, limit);
    s.failed = s.failed.map((f) => ({ task: cut(f.task, 128), message: cut(f.message, limit) }));
    if (limit < 16) {
      const kept = s.failed.length;
      s.failed = s.failed.slice(0, Math.max(0, Math.floor(kept / 2)));
      s.message = cut(`${s.message} (+${kept - s.failed.length} more failed tasks)`, 256);
      if (kept === 0) return JSON.stringify({ ...s, message: cut(s.message, 64), counts: {} });
    }
  }
}

/** Read a termination message back; undefined when it is not one of ours. */
export function decodeTermination(text: string | undefined): TerminationSummary | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<TerminationSummary>;
    return v && v.v === 2 && typeof v.type === "string" ? (v as TerminationSummary) : undefined;
  } catch {
    return undefined;
  }
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}
