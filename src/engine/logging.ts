// Logging: pino for structure (JSON in pods, where collectors read it), a compact line format on
// terminals. Every line goes through the secret scrubber first, so a registered secret value can
// never reach an output, whatever logged it.

import { pino } from "pino";
import type { Logger } from "../core/logger.ts";
import { scrub } from "../secrets/redact.ts";

export type LogFormat = "pretty" | "json";

export interface LoggerOptions {
  format?: LogFormat;
  level?: string;
  /** Where lines go. @default process.stderr */
  stream?: { write(line: string): unknown };
  /** Fields on every line. */
  base?: Record<string, unknown>;
  /** Also given every scrubbed line as pino's JSON (the run reporter ships them to the server). */
  tap?: (json: string) => void;
}

/** pino's numeric levels by name (what a JSON log line's `level` holds). */
export const LOG_LEVELS = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
} as const satisfies Record<number, pino.Level>;
/** Fields a readable log line shows in its prefix (or leaves out), not as key=value. */
export const LOG_PREFIX_FIELDS: ReadonlySet<string> = new Set([
  "level",
  "time",
  "msg",
  "pid",
  "hostname",
  "task",
  "mapIndex",
  "worker",
  "runId",
  "flow",
  "attempt",
]);

/** A pino logger writing scrubbed lines, as JSON or in a compact human format. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const out = options.stream ?? process.stderr;
  const format = options.format ?? "pretty";
  const destination = {
    write(line: string) {
      const clean = scrub(line);
      options.tap?.(clean);
      out.write(format === "json" ? clean : prettyLine(clean));
    },
  };
  return pino({ level: options.level ?? "info", base: options.base ?? null }, destination);
}

function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = LOG_LEVELS[rec.level as keyof typeof LOG_LEVELS] ?? "info";
  const where: string[] = [];
  if (typeof rec.task === "string") {
    where.push(
      typeof rec.mapIndex === "number" && rec.mapIndex >= 0 ? `${rec.task}[${rec.mapIndex}]` : rec.task,
    );
  }
  if (typeof rec.worker === "string") where.push(`@${rec.worker}`);
  const extra = Object.entries(rec)
    .filter(([k]) => !LOG_PREFIX_FIELDS.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const prefix = where.length ? `[${where.join(" ")}] ` : "";
  const tag = level === "info" ? "" : `${level.toUpperCase()} `;
  return `${tag}${prefix}${String(rec.msg ?? "")}${extra.length ? ` ${extra.join(" ")}` : ""}\n`;
}

/** A logger that drops everything (benchmarks, quiet tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** One pino JSON line, read back: its level's name, its message and its other fields. */
export interface RelayedLine {
  level: pino.Level;
  message: string;
  fields: Record<string, unknown>;
}

/**
 * Re-log one pino JSON line another process wrote (a worker's task log, the runner pod's output)
 * on `logger`, which scrubs it again. Returns what was relayed, or undefined for a line that is
 * not a JSON object (the caller decides what a plain line is).
 */
export function relayLogLine(line: string, logger: Logger): RelayedLine | undefined {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (rec === null || typeof rec !== "object" || Array.isArray(rec)) return undefined;
  const { level, msg, time: _time, ...fields } = rec as Record<string, unknown>;
  const name = LOG_LEVELS[level as keyof typeof LOG_LEVELS] ?? "info";
  const message = typeof msg === "string" ? msg : msg === undefined ? "" : String(msg);
  logger[name](fields, message);
  return { level: name, message, fields };
}
