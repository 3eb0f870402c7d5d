// `flotilla server`: the API, the scheduler loop and the dashboard in one process, on SQLite in
// the Flotilla home unless --database names PostgreSQL. Binds 127.0.0.1 unless --host says
// otherwise, prints its URL (and a dashboard link), and stops cleanly on SIGINT/SIGTERM.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { stopSignals } from "../signals.ts";

export interface ServerCommandOptions {
  port?: string;
  host?: string;
  database?: string;
  home?: string;
  retentionDays?: string;
  /** commander's --no-agent */
  agent?: boolean;
  /** Where the URL goes. @default process.stdout */
  stdout?: NodeJS.WritableStream;
}

function port(value: string | undefined): number {
  if (value === undefined) return 4200;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `--port ${value}: expected a port number 0-65535 (0 picks a free one)`,
      {
        usage: true,
      },
    );
  }
  return n;
}

/** Start the server; resolves with a stop function once it listens. */
export async function serve(o: ServerCommandOptions): Promise<{ url: string; stop: () => Promise<void> }> {
  const stdout = o.stdout ?? process.stdout;
  const retentionDays = o.retentionDays === undefined ? 30 : Number(o.retentionDays);
  if (!Number.isFinite(retentionDays) || retentionDays < 0) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `--retention-days ${o.retentionDays}: expected a number of days >= 0 (0 keeps everything)`,
      {
        usage: true,
      },
    );
  }
  const { startServer } = await import("../../server/server.ts");
  const { adminTokenPath } = await import("../../server/auth.ts");
  const { flotillaHome } = await import("../../store/open.ts");
  const home = o.home ?? flotillaHome();
  // The dashboard's login link carries a code valid while this process runs, exchanged for a
  // session holding the home's admin token (never printed).
  const { dashboard, newLoginCode } = await import("../../server/dashboard.ts");
  const loginCode = newLoginCode();
  let adminToken: string | undefined;
  const server = await startServer({
    port: port(o.port),
    home,
    retentionMs: retentionDays * 86_400_000,
    ...(o.agent !== false ? { agent: { pool: "local" } } : {}),
    ...(o.host !== undefined ? { host: o.host } : {}),
    ...(o.database !== undefined ? { database: o.database } : {}),
    dashboard: (app, context) => dashboard(app, { ...context, loginCode, sessionToken: () => adminToken }),
  });
  adminToken = server.adminToken;
  stdout.write(
    `Flotilla server listening on ${server.url}  (API: ${server.url}/api/, store: ${server.store.kind})\n`,
  );
  stdout.write(`Dashboard: ${server.url}/?token=${loginCode}\n`);
  if (server.adminTokenCreated) stdout.write(`admin token written to ${adminTokenPath(home)} (mode 0600)\n`);
  return { url: server.url, stop: () => server.close() };
}

export const serverCommand = (program: Command): void => {
  program
    .command("server")
    .description(
      "run the Flotilla server: API, scheduler and dashboard (SQLite in the Flotilla home by default)",
    )
    .option("--port <n>", "port to listen on (0 picks a free one)", "4200")
    .option("--host <host>", "address to bind (default 127.0.0.1; 0.0.0.0 for every interface)")
    .option(
      "--database <url>",
      "postgres://… or a SQLite file (default: $FLOTILLA_DATABASE_URL, else flotilla.db in the home)",
    )
    .option("--home <dir>", "the Flotilla home (default: $FLOTILLA_HOME, else ~/.flotilla)")
    .option("--retention-days <n>", "delete finished runs older than this, daily (0 keeps everything)", "30")
    .option("--no-agent", "do not run the embedded agent of the local pool")
    .action(async (opts: ServerCommandOptions) => {
      const { stop } = await serve(opts);
      const signals = stopSignals();
      await signals.stopped;
      signals.off();
      await stop();
    });
};
