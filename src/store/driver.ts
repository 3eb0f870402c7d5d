// The small SQL driver both adapters provide: statements with `?` placeholders, rows as plain
// objects, transactions. SqlStore (sql-store.ts) holds all the queries on top of it.

import type { Dialect } from "./migrations.ts";

export type SqlValue = string | number | null;

/** Runs statements (inside or outside a transaction). */
export interface SqlExec {
  all<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlDriver extends SqlExec {
  readonly dialect: Dialect;
  /** Run `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
