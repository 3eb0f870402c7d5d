// The SQLite adapter's driver (better-sqlite3 12): one connection, WAL, prepared statements
// cached by text. better-sqlite3 is synchronous, so one async mutex orders transactions: a
// statement outside a transaction never lands inside another caller's BEGIN … COMMIT. One
// process owns the file (agents and runners speak HTTP, never open it).

import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Database, Statement } from "better-sqlite3";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { SqlDriver, SqlExec, SqlValue } from "./driver.ts";

/** Open (creating it and its folder) the SQLite file at `file`, or ":memory:". */
export async function openSqliteDriver(file: string): Promise<SqlDriver> {
  let BetterSqlite: typeof import("better-sqlite3");
  try {
    BetterSqlite = (await import("better-sqlite3")).default;
  } catch (cause) {
    throw new FlotillaError(ErrorCode.Internal, "the SQLite driver (better-sqlite3) could not be loaded", {
      cause,
      hint: "reinstall flotilla's dependencies (npm install) so better-sqlite3 builds for this Node version",
    });
  }
  if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
  let db: Database;
  try {
    db = new BetterSqlite(file);
  } catch (cause) {
    throw new FlotillaError(
      ErrorCode.Storage,
      `cannot open the SQLite database ${file}: ${(cause as Error).message}`,
      {
        cause,
        hint: "check that the folder exists and is writable, or pass --database postgres://…",
      },
    );
  }
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  return new SqliteDriver(db);
}

class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  readonly #db: Database;
  readonly #cache = new Map<string, Statement>();
  #tail: Promise<void> = Promise.resolve();
  #held = 0;
  readonly #direct: SqlExec;

  constructor(db: Database) {
    this.#db = db;
    this.#direct = {
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => this.#stmt(sql).all(...params) as T[],
      run: async (sql: string, params: readonly SqlValue[] = []) => {
        const st = this.#stmt(sql);
        if (!st.reader) return st.run(...params).changes;
        st.all(...params);
        return 0;
      },
    };
  }

  #stmt(sql: string): Statement {
    let st = this.#cache.get(sql);
    if (st === undefined) {
      st = this.#db.prepare(sql);
      if (this.#cache.size > 500) this.#cache.clear();
      this.#cache.set(sql, st);
    }
    return st;
  }

  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((r) => {
      release = r;
    });
    this.#held++;
    try {
      await previous;
      return await fn();
    } finally {
      this.#held--;
      release();
    }
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#held === 0
      ? this.#direct.all<T>(sql, params)
      : this.#exclusive(() => this.#direct.all<T>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#held === 0
      ? this.#direct.run(sql, params)
      : this.#exclusive(() => this.#direct.run(sql, params));
  }

  transaction<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      this.#stmt("BEGIN IMMEDIATE").run();
      try {
        const out = await fn(this.#direct);
        this.#stmt("COMMIT").run();
        return out;
      } catch (error) {
        if (this.#db.inTransaction) this.#stmt("ROLLBACK").run();
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.#exclusive(async () => {
      this.#cache.clear();
      this.#db.close();
    });
  }
}
