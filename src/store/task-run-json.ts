// A run's task runs as JSON text built by the database itself, one object a row, for the API's
// task-runs answer: a 10,000-task run is 10,000 rows, and turning each into a JS object, then
// serializing it again, cost more than the query (`runs get` of such a run). Each row's text is
// the object `taskRunOf` builds (same keys, same order, absent rather than null), so parsing the
// joined array gives what `Store.taskRuns` returns.

import type { Dialect } from "./migrations.ts";

/** The JSON string literal of a text column, in `dialect`. */
const quote = (dialect: Dialect, column: string): string =>
  dialect === "postgres" ? `to_json(${column})::text` : `json_quote(${column})`;

/** `,"key":value` when `column` is not null, else nothing; `raw` columns hold JSON already. */
function optional(dialect: Dialect, key: string, column: string, kind: "number" | "text" | "raw"): string {
  const value =
    kind === "text" ? quote(dialect, column) : kind === "number" ? `CAST(${column} AS TEXT)` : column;
  return `CASE WHEN ${column} IS NULL THEN '' ELSE ',"${key}":' || ${value} END`;
}

/**
 * A SELECT of one column `j`, one JSON object a task run of a run, ordered as `Store.taskRuns`
 * orders them. Its two parameters: the object's opening with the run's id
 * ({@link taskRunJsonPrefix}), then the run's id.
 */
export function taskRunJsonSql(
  dialect: Dialect,
  table: "task_runs" | "task_run_attempts",
  orderBy: string,
): string {
  const parts = [
    "CAST(? AS TEXT)",
    quote(dialect, "slug"),
    `',"mapIndex":'`,
    "CAST(map_index AS TEXT)",
    `',"attempt":'`,
    "CAST(attempt AS TEXT)",
    `',"state":'`,
    quote(dialect, "state"),
    optional(dialect, "startedAt", "started_at", "number"),
    optional(dialect, "endedAt", "ended_at", "number"),
    optional(dialect, "worker", "worker", "text"),
    optional(dialect, "message", "message", "text"),
    optional(dialect, "error", "error", "raw"),
    `'}'`,
  ];
  return `SELECT ${parts.join(" || ")} AS j FROM ${table} WHERE run_id = ? ORDER BY ${orderBy}`;
}

/** The text every task run object of `runId` starts with, up to its slug's value. */
export function taskRunJsonPrefix(runId: string): string {
  return `{"runId":${JSON.stringify(runId)},"slug":`;
}
