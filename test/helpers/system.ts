// Test helper: the system programs the suite runs for real (redis-server, kubectl, PostgreSQL's
// server binaries, Chromium). `npm test` finds or installs them and exports their paths
// (FLOTILLA_TEST_*); a test file run on its own looks them up the same way.
import path from "node:path";
import { requirements } from "../../scripts/system-packages.mjs";

function lookup(env: string): string {
  const fromEnv = process.env[env];
  if (fromEnv) return fromEnv;
  const r = requirements.find((x) => x.env === env)!;
  const found = r.find();
  if (!found) {
    throw new Error(
      `${r.what} not found: run the tests with \`npm test\` (it installs it) or \`apt-get install -y ${r.debian}\``,
    );
  }
  return found;
}

/** Path of the redis-server executable. */
export function redisServerPath(): string {
  return lookup("FLOTILLA_TEST_REDIS_SERVER");
}

/** Path of the kubectl executable. */
export function kubectlPath(): string {
  return lookup("FLOTILLA_TEST_KUBECTL");
}

/** PostgreSQL's server binaries (not on PATH on Debian: /usr/lib/postgresql/<major>/bin). */
export function pgBinaries(): { dir: string; initdb: string; pgCtl: string; postgres: string } {
  const dir = lookup("FLOTILLA_TEST_PG_BIN");
  return {
    dir,
    initdb: path.join(dir, "initdb"),
    pgCtl: path.join(dir, "pg_ctl"),
    postgres: path.join(dir, "postgres"),
  };
}

/** Path of the Chromium executable (for playwright-core's `executablePath`). */
export function chromiumPath(): string {
  return lookup("FLOTILLA_TEST_CHROMIUM");
}
