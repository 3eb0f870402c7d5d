// The PostgreSQL adapter's driver (pg): a pool, `?` placeholders rewritten to `$n`, BIGINT and
// COUNT read as numbers. A URL that cannot connect is one error naming host, port and database,
// never the password.

import type { Pool, PoolClient } from "pg";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { SqlDriver, SqlExec, SqlValue } from "./driver.ts";

/** `postgres://user:***@host:port/db`, safe to print. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}${u.pathname && u.pathname !== "/" ? u.pathname : ""}`;
  } catch {
    return "(a URL that does not parse)";
  }
}

const converted = new Map<string, string>();
function toPg(sql: string): string {
  let out = converted.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    converted.set(sql, out);
  }
  return out;
}

export async function openPostgresDriver(
  url: string,
  options: { connectTimeoutMs?: number } = {},
): Promise<SqlDriver> {
  const pg = (await import("pg")).default;
  const parseInt8 = (v: string) => Number(v);
  const types = {
    getTypeParser: (oid: number, format?: "text" | "binary") =>
      oid === 20 ? parseInt8 : pg.types.getTypeParser(oid, format as "text"),
  };
  const pool = new pg.Pool({
    connectionString: url,
    max: 8,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    types,
  } as import("pg").PoolConfig);
  pool.on("error", () => {}); // an idle client's error surfaces on its next query
  const where = describeDatabaseUrl(url);
  try {
    const c = await pool.connect();
    c.release();
  } catch (cause) {
    await pool.end().catch(() => {});
    const reason = (cause as { code?: string; message?: string }).code ?? (cause as Error).message;
    throw new FlotillaError(
      ErrorCode.Storage,
      `cannot connect to PostgreSQL at ${where}: ${scrubUrl(String(reason), url)}`,
      {
        hint: "check that the server is up and that host, port, database, user and password in --database (or FLOTILLA_DATABASE_URL) are right",
      },
    );
  }
  return new PostgresDriver(pool);
}

function scrubUrl(text: string, url: string): string {
  try {
    const pw = decodeURIComponent(new URL(url).password);
    return pw ? text.split(pw).join("***") : text;
  } catch {
    return text;
  }
}

function exec(q: Pool | PoolClient): SqlExec {
  return {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) =>
      (await q.query(toPg(sql), params as SqlValue[])).rows as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) =>
      (await q.query(toPg(sql), params as SqlValue[])).rowCount ?? 0,
  };
}

class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  readonly #pool: Pool;
  readonly #exec: SqlExec;

  constructor(pool: Pool) {
    this.#pool = pool;
    this.#exec = exec(pool);
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#exec.all<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.#exec.run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlExec) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      const out = await fn(exec(client));
      await client.query("COMMIT");
      return out;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
