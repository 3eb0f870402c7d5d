// A run's log lines as a file to download (GET /api/runs/:id/logs/download): every line the run
// kept, oldest first, or one task's (a mapped task's child by its index), as readable text
// (`time LEVEL [task[i] @worker] message`, as `flotilla runs logs` prints them) or as NDJSON (one
// kept record a line). Read from the store a page at a time with the logs cursor and written as it
// is read, so a run with a million lines is never held in memory. Every line goes through the
// secret scrubber: the runner scrubbed it before it reported it, and the server replaces the
// secrets it knows itself (its admin token) too.

import { scrub } from "../secrets/redact.ts";
import type { LogLine, Store } from "../store/store.ts";

/** The formats a download is written in. */
export const LOG_FORMATS = ["text", "ndjson"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogDownloadQuery {
  format: LogFormat;
  /** Only this task's lines. */
  task?: string | undefined;
  /** With `task`: only this child's (map index). */
  index?: number | undefined;
}

/** Lines read from the store at a time. */
const PAGE = 5000;

const time = (ms: number) => new Date(ms).toISOString();

/** One kept line, readable: `time LEVEL [task[i] @worker] message` (a Kubernetes Event: `[k8s pod/NAME]`). */
export function logLineText(l: LogLine): string {
  const task =
    l.slug !== undefined
      ? l.mapIndex !== undefined && l.mapIndex >= 0
        ? `${l.slug}[${l.mapIndex}]`
        : l.slug
      : l.source !== undefined
        ? `${l.source}${l.object ? ` ${l.object}` : ""}`
        : undefined;
  const where = [...(task ? [task] : []), ...(l.worker ? [`@${l.worker}`] : [])];
  return `${time(l.ts)} ${l.level.toUpperCase().padEnd(5)} ${where.length ? `[${where.join(" ")}] ` : ""}${l.message}`;
}

/** Whether a line belongs in the download. */
function wanted(l: LogLine, q: LogDownloadQuery): boolean {
  if (q.task === undefined) return true;
  return l.slug === q.task && (q.index === undefined || l.mapIndex === q.index);
}

/** The file's name: the flow, the run's id and the task, in characters every file system takes. */
export function logFileName(flowName: string, runId: string, q: LogDownloadQuery): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80);
  const task = q.task === undefined ? "" : `-${safe(q.task)}${q.index === undefined ? "" : `-${q.index}`}`;
  return `${safe(flowName) || "run"}-${safe(runId.slice(0, 8))}${task}.${q.format === "ndjson" ? "ndjson" : "log"}`;
}

/** The download's text, a page of lines at a time (each chunk ends with a newline). */
export async function* logDownload(store: Store, runId: string, q: LogDownloadQuery): AsyncGenerator<string> {
  let after = "0.0";
  for (;;) {
    const page = await store.logPage(runId, { after, limit: PAGE });
    let out = "";
    for (const l of page.items) {
      if (!wanted(l, q)) continue;
      out += `${scrub(q.format === "ndjson" ? JSON.stringify(l) : logLineText(l))}\n`;
    }
    if (out) yield out;
    if (page.items.length < PAGE || page.next === after) return;
    after = page.next;
  }
}
