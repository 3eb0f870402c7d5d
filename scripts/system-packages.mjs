// The system programs the test suite needs (redis-server, kubectl, PostgreSQL's server binaries,
// Chromium): where to find them on this machine and which Debian package provides each. Plain
// JavaScript so that `npm test` can use it before anything is compiled; the tests read the same
// lookups through test/helpers/system.ts.
import { accessSync, constants, readdirSync, realpathSync } from "node:fs";
import path from "node:path";

/** True when `file` exists and is executable. */
function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable called `name` on PATH, or undefined. */
export function which(name) {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

/** A directory holding PostgreSQL's initdb, pg_ctl and postgres, or undefined. */
function findPgBin() {
  const has = (dir) => ["initdb", "pg_ctl", "postgres"].every((b) => isExecutable(path.join(dir, b)));
  const fromEnv = process.env.FLOTILLA_TEST_PG_BIN;
  if (fromEnv) return has(fromEnv) ? fromEnv : undefined;
  // Debian keeps the server binaries out of PATH, one directory per major version: take the newest.
  let versions = [];
  try {
    versions = readdirSync("/usr/lib/postgresql")
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
  } catch {}
  for (const v of versions) {
    const dir = path.join("/usr/lib/postgresql", v, "bin");
    if (has(dir)) return dir;
  }
  const initdb = which("initdb");
  if (initdb) {
    const dir = path.dirname(realpathSync(initdb));
    if (has(dir)) return dir;
  }
  return undefined;
}

/** The first of several executables, from an env override or PATH. */
function findProgram(envName, names) {
  const fromEnv = process.env[envName];
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  for (const name of names) {
    const found = which(name);
    if (found) return found;
  }
  return undefined;
}

/**
 * What the suite needs: per requirement, the env variable the tests read it from, the Debian
 * package that provides it, whether that package starts a service on install, and how to find it.
 */
export const requirements = [
  {
    env: "FLOTILLA_TEST_REDIS_SERVER",
    what: "redis-server",
    debian: "redis-server",
    service: "redis-server",
    find: () => findProgram("FLOTILLA_TEST_REDIS_SERVER", ["redis-server"]),
  },
  {
    env: "FLOTILLA_TEST_KUBECTL",
    what: "kubectl",
    debian: "kubernetes-client",
    find: () => findProgram("FLOTILLA_TEST_KUBECTL", ["kubectl"]),
  },
  {
    env: "FLOTILLA_TEST_PG_BIN",
    what: "PostgreSQL server binaries (initdb, pg_ctl, postgres)",
    debian: "postgresql",
    service: "postgresql",
    find: findPgBin,
  },
  {
    env: "FLOTILLA_TEST_CHROMIUM",
    what: "chromium",
    debian: "chromium",
    find: () => findProgram("FLOTILLA_TEST_CHROMIUM", ["chromium", "chromium-browser"]),
  },
];

/** Look every requirement up: the found paths by env name, and the requirements not found. */
export function findSystemPackages() {
  const found = {};
  const missing = [];
  for (const r of requirements) {
    const at = r.find();
    if (at) found[r.env] = at;
    else missing.push(r);
  }
  return { found, missing };
}
