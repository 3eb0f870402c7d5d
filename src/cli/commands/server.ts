// `flotilla server`: the API, the scheduler loop and the dashboard in one process, on SQLite in
// the Flotilla home unless --database names PostgreSQL. Binds 127.0.0.1 unless --host says
// otherwise, prints its URL (and a dashboard link), and stops cleanly on SIGINT/SIGTERM.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { outputOption } from "../output.ts";
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

export interface ServerInstallCommandOptions {
  namespace: string;
  image?: string;
  database?: string;
  databaseSecret: string;
  storage: string;
  /** The port the server's container listens on and its Service exposes (default 4200). */
  port?: string;
  output?: "yaml" | "json";
}

/** What `flotilla server install` prints: YAML documents, or a JSON List. Never the database URL. */
export async function serverInstall(o: ServerInstallCommandOptions): Promise<string> {
  if (!o.image) {
    throw new FlotillaError(ErrorCode.Usage, "server install: no image for the server", {
      hint: "pass --image REF: any image flotilla build makes (its entrypoint is flotilla)",
      usage: true,
    });
  }
  if (o.database !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(o.database);
    } catch {}
    if (!url || !/^postgres(ql)?:$/.test(url.protocol)) {
      throw new FlotillaError(
        ErrorCode.Usage,
        "--database: expected a postgres://user:password@host:port/db URL (the value is not shown)",
        { hint: "omit --database for SQLite on a PersistentVolumeClaim", usage: true },
      );
    }
  }
  const listen = o.port === undefined ? undefined : port(o.port);
  if (listen === 0) {
    throw new FlotillaError(ErrorCode.Usage, "server install --port 0: a manifest needs a fixed port", {
      hint: "pass --port 1-65535, or omit it for 4200",
      usage: true,
    });
  }
  const { buildServerInstall } = await import("../../server/install.ts");
  const objects = buildServerInstall({
    namespace: o.namespace,
    image: o.image,
    storage: o.storage,
    ...(listen !== undefined ? { port: listen } : {}),
    ...(o.database !== undefined ? { databaseSecret: o.databaseSecret } : {}),
  });
  if (o.output === "json")
    return `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`;
  const { stringify } = await import("yaml");
  return objects.map((x) => stringify(x)).join("---\n");
}

export const serverCommand = (program: Command): void => {
  const server = program
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
  server
    .command("install")
    .description(
      "print the server's Deployment (one replica, Recreate), Service and, for SQLite, its PersistentVolumeClaim for kubectl apply -f -",
    )
    .option("-n, --namespace <ns>", "the server's namespace", "flotilla")
    .option("--image <ref>", "an image with flotilla as its entrypoint (any image flotilla build makes)")
    .option(
      "--database <url>",
      "an external PostgreSQL (its URL goes in a Secret, never in the output); default: SQLite on a PVC",
    )
    .option("--database-secret <name>", "the Secret (key url) with the PostgreSQL URL", "flotilla-database")
    .option("--storage <size>", "size of the SQLite volume", "1Gi")
    .addOption(outputOption(["yaml", "json"]))
    .action(async (own: ServerInstallCommandOptions) => {
      // commander gives --database to `server` wherever it is on the line: take it from there
      const given = Object.fromEntries(
        Object.entries(server.opts()).filter(([k]) => server.getOptionValueSource(k) === "cli"),
      );
      // the server's own flags mean nothing in a manifest: refuse them instead of ignoring them
      const local = Object.keys(given).filter((k) => !["database", "port"].includes(k));
      if (local.length > 0) {
        const flags = local.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
        throw new FlotillaError(
          ErrorCode.Usage,
          `server install: ${flags.join(", ")} applies to flotilla server, not to the manifest it prints`,
          {
            hint: "server install takes -n, --image, --database, --database-secret, --storage, --port, -o",
            usage: true,
          },
        );
      }
      const o = { ...own, ...given } as ServerInstallCommandOptions;
      process.stdout.write(await serverInstall(o));
      if (o.database !== undefined) {
        process.stderr.write(
          `the server reads its database URL from Secret ${o.databaseSecret} (key url), which this output does not hold: create it with\n` +
            `  kubectl -n ${o.namespace} create secret generic ${o.databaseSecret} --from-literal=url='postgres://USER:PASSWORD@HOST:5432/DB'\n`,
        );
      }
    });
};
