// Opens the store a URL names: `postgres://…` (or `postgresql://…`) through pg, otherwise a
// SQLite file (a path, `sqlite:PATH`, or `:memory:`). The default is `flotilla.db` in the
// Flotilla home (FLOTILLA_HOME, else ~/.flotilla).

import { homedir } from "node:os";
import path from "node:path";
import { openPostgresDriver } from "./postgres.ts";
import { SqlStore } from "./sql-store.ts";
import { openSqliteDriver } from "./sqlite.ts";
import type { Store } from "./store.ts";

/** The Flotilla home: FLOTILLA_HOME, else ~/.flotilla. */
export function flotillaHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLOTILLA_HOME && env.FLOTILLA_HOME !== ""
    ? env.FLOTILLA_HOME
    : path.join(homedir(), ".flotilla");
}

/** The database the server uses: --database, else FLOTILLA_DATABASE_URL, else the home's SQLite file. */
export function defaultDatabase(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLOTILLA_DATABASE_URL || path.join(flotillaHome(env), "flotilla.db");
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** Open the store at `url` and apply pending migrations. */
export async function openStore(url: string, options: { connectTimeoutMs?: number } = {}): Promise<Store> {
  if (isPostgresUrl(url)) return SqlStore.open(await openPostgresDriver(url, options));
  const file = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
  return SqlStore.open(await openSqliteDriver(file));
}
