// A position in a run's log lines, as the logs API hands it out: `<chunk id>.<lines read in it>`.
// Lines are stored in chunks (one per reporter batch, ids increasing per run in the order the
// chunks were committed: one writer on SQLite, a per-run lock on PostgreSQL, so no chunk ever
// appears behind a cursor already handed out), and "after this cursor" is every line of later
// chunks plus the unread rest of its own. Opaque to clients: they pass back the `next` they were
// given.

import { ErrorCode, FlotillaError } from "../core/errors.ts";

export interface LogCursor {
  chunk: number;
  /** Lines of `chunk` already read. */
  line: number;
}

export function formatLogCursor(chunk: number, line: number): string {
  return `${chunk}.${line}`;
}

/** Read a cursor the logs API gave out; anything else is an error naming it. */
export function parseLogCursor(text: string): LogCursor {
  const m = /^(\d{1,15})\.(\d{1,9})$/.exec(text);
  if (!m) {
    throw new FlotillaError(ErrorCode.Usage, `log cursor ${JSON.stringify(text.slice(0, 40))} is not valid`, {
      hint: "pass the `next` value of the previous logs answer as ?after=",
      usage: true,
    });
  }
  return { chunk: Number(m[1]), line: Number(m[2]) };
}
