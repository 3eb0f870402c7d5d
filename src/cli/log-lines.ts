// Log lines as `flotilla runs logs` prints them, from either source: the runner container's output
// on Kubernetes (pino JSON, one object a line) and the log records a server keeps. By default a
// readable line (`time LEVEL [task[i] @worker] message key=value`); with `-o json`, one JSON object
// a line (the runner's own line unchanged; a server record as it is kept), so `jq` reads a
// followed stream as it grows. Pure.

import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { LOG_LEVELS, LOG_PREFIX_FIELDS as SHOWN } from "../engine/logging.ts";
import type { LogLine } from "../store/store.ts";

/** An ISO time to the second, as the run tables show it. */
export function logTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

function levelName(level: unknown): string {
  if (typeof level === "string") return level;
  return LOG_LEVELS[level as keyof typeof LOG_LEVELS] ?? "info";
}

function readable(
  ts: number | undefined,
  level: string,
  task: string | undefined,
  mapIndex: number | undefined,
  worker: string | undefined,
  message: string,
  extra = "",
): string {
  const where = [
    ...(task ? [mapIndex !== undefined && mapIndex >= 0 ? `${task}[${mapIndex}]` : task] : []),
    ...(worker ? [`@${worker}`] : []),
  ];
  return `${ts === undefined ? "" : `${logTime(ts)} `}${level === "info" ? "" : `${level.toUpperCase()} `}${
    where.length ? `[${where.join(" ")}] ` : ""
  }${message}${extra}`;
}

/**
 * One line of a runner container's output, readable: a pino JSON line becomes
 * `time LEVEL [task[i] @worker] message key=value`; any other line (a stack trace, a line a
 * library printed) is kept as it is.
 */
export function formatRunnerLine(line: string): string {
  const text = line.trim();
  if (!text.startsWith("{")) return line;
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec !== "object" || rec === null || !("msg" in rec || "level" in rec)) return line;
  const extra = Object.entries(rec)
    .filter(([k]) => !SHOWN.has(k))
    .map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("");
  return readable(
    typeof rec.time === "number" ? rec.time : undefined,
    levelName(rec.level),
    typeof rec.task === "string" ? rec.task : undefined,
    typeof rec.mapIndex === "number" ? rec.mapIndex : undefined,
    typeof rec.worker === "string" ? rec.worker : undefined,
    String(rec.msg ?? ""),
    extra,
  );
}

/** A log record kept by a server, readable (the same shape as a runner's line). */
export function formatServerLine(l: LogLine): string {
  // a Kubernetes Event of the run's objects: `[k8s pod/NAME] Reason: message`
  if (l.source !== undefined && l.slug === undefined)
    return readable(
      l.ts,
      l.level,
      `${l.source}${l.object ? ` ${l.object}` : ""}`,
      undefined,
      l.worker,
      l.message,
    );
  return readable(l.ts, l.level, l.slug, l.mapIndex, l.worker, l.message);
}

/**
 * A text stream cut into whole lines: `push` takes chunks as they arrive and gives back the
 * complete lines among them; `end` gives the last line if it had no newline.
 */
export class LineSplitter {
  #rest = "";

  push(chunk: string): string[] {
    const text = this.#rest + chunk;
    const lines = text.split("\n");
    this.#rest = lines.pop() ?? "";
    return lines;
  }

  end(): string[] {
    const rest = this.#rest;
    this.#rest = "";
    return rest === "" ? [] : [rest];
  }
}

/**
 * `--tail N` as kubectl reads it: the last N lines, `-1` (the default) for all of them. Undefined
 * means all; anything but an integer of -1 or more is a usage error.
 */
export function parseTail(text: string): number | undefined {
  const n = /^-?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < -1) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `--tail ${text}: expected a number of lines (0 or more; -1 for all)`,
      {
        usage: true,
      },
    );
  }
  return n === -1 ? undefined : n;
}
