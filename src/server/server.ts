// `flotilla server` as a library: open the store (SQLite in the Flotilla home by default), make
// sure an admin token exists, build the API, listen (127.0.0.1 unless told otherwise), and run
// the scheduler loop and a daily retention pass. close() stops all of it.

import type { FastifyInstance } from "fastify";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { Scheduler } from "../scheduler/loop.ts";
import { registerSecret } from "../secrets/redact.ts";
import { defaultDatabase, flotillaHome, isPostgresUrl } from "../store/open.ts";
import type { Store } from "../store/store.ts";
import { type AppOptions, buildApp } from "./app.ts";
import { ensureAdminToken } from "./auth.ts";
import { type BusEvent, EventBus } from "./bus.ts";

export interface ServerOptions {
  /** @default 4200 */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** A postgres:// URL or a SQLite file; default FLOTILLA_DATABASE_URL, else `flotilla.db` in the home. */
  database?: string;
  /** The Flotilla home (admin token, SQLite file). @default FLOTILLA_HOME or ~/.flotilla */
  home?: string;
  /** An open store to use instead of `database` (not closed by close()). */
  store?: Store;
  /** Delete finished runs older than this, once a day. @default 30 days; 0 turns it off */
  retentionMs?: number;
  /** Scheduler period. @default 1000 */
  schedulerPeriodMs?: number;
  dashboard?: AppOptions["dashboard"];
  onRunsChanged?: () => void;
  /** Run an embedded agent for this pool (the laptop's `local` pool). @default none */
  agent?: { pool?: string; capacity?: number; pollMs?: number; leaseMs?: number };
}

export interface RunningServer {
  /** `http://host:port` */
  url: string;
  port: number;
  store: Store;
  bus: EventBus;
  app: FastifyInstance;
  /** The scheduler loop (on PostgreSQL it runs only while this server leads: `scheduler.leading`). */
  scheduler: Scheduler;
  /** The embedded agent, when one was asked for. */
  agent?: import("../agent/agent.ts").Agent;
  /** The home's admin token (for the CLI on this machine; never print it). */
  adminToken: string;
  adminTokenCreated: boolean;
  close(): Promise<void>;
}

const DAY = 86_400_000;

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const home = options.home ?? flotillaHome();
  const env = options.home ? { ...process.env, FLOTILLA_HOME: options.home } : process.env;
  const { openStore } = await import("../store/open.ts");
  const store = options.store ?? (await openStore(options.database ?? defaultDatabase(env)));
  const owned = options.store === undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    const { token, created } = await ensureAdminToken(store, home);
    // the admin token never leaves in what the server writes out (a log download, an error)
    registerSecret(token);
    const bus = new EventBus();
    const coordination = await coordinate(options.database ?? defaultDatabase(env), bus);
    if (coordination) closers.push(() => coordination.close());
    let agent: import("../agent/agent.ts").Agent | undefined;
    const changed = () => {
      agent?.wake();
      options.onRunsChanged?.();
    };
    const app = await buildApp({
      store,
      bus,
      onRunsChanged: changed,
      ...(options.dashboard ? { dashboard: options.dashboard } : {}),
    });
    closers.push(() => app.close());
    const host = options.host ?? "127.0.0.1";
    try {
      await app.listen({ port: options.port ?? 4200, host });
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new FlotillaError(
        ErrorCode.Usage,
        `cannot listen on ${host}:${options.port ?? 4200}: ${code === "EADDRINUSE" ? "the port is in use" : (e as Error).message}`,
        { hint: "choose another port with --port (0 picks a free one)", usage: true },
      );
    }
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : (options.port ?? 4200);
    const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;

    const scheduler = new Scheduler({
      store,
      bus,
      periodMs: options.schedulerPeriodMs ?? 1000,
      onError: (e) => process.emitWarning(`scheduler: ${(e as Error).message}`),
      onRunsCreated: changed,
      ...(coordination ? { leader: () => coordination.leader() } : {}),
    });
    scheduler.start();
    closers.unshift(() => scheduler.stop());

    if (options.agent) {
      const [{ Agent }, { LocalLauncher }, { ApiClient }] = await Promise.all([
        import("../agent/agent.ts"),
        import("../agent/local-launcher.ts"),
        import("./client.ts"),
      ]);
      const launcher = new LocalLauncher();
      const a = new Agent({
        client: new ApiClient({ url: `http://${shown}:${port}`, token }),
        pool: options.agent.pool ?? "local",
        launcher,
        id: `embedded-${options.agent.pool ?? "local"}`,
        name: "embedded local agent",
        ...(options.agent.capacity !== undefined ? { capacity: options.agent.capacity } : {}),
        ...(options.agent.pollMs !== undefined ? { pollMs: options.agent.pollMs } : {}),
        ...(options.agent.leaseMs !== undefined ? { leaseMs: options.agent.leaseMs } : {}),
        onError: (e) => process.emitWarning(`embedded agent: ${(e as Error).message}`),
      });
      agent = a;
      a.start();
      // before the API closes: the runs it launched are cancelled and recorded
      closers.unshift(async () => {
        await a.shutdown();
        launcher.killAll();
      });
    }

    const retention = options.retentionMs ?? 30 * DAY;
    if (retention > 0) {
      const vacuum = () => void store.vacuum(Date.now() - retention, false).catch(() => {});
      const first = setTimeout(vacuum, 60_000);
      const daily = setInterval(vacuum, DAY);
      first.unref();
      daily.unref();
      closers.unshift(async () => {
        clearTimeout(first);
        clearInterval(daily);
      });
    }
    if (owned) closers.push(() => store.close());

    let closing: Promise<void> | undefined;
    return {
      url: `http://${shown}:${port}`,
      port,
      store,
      bus,
      app,
      scheduler,
      ...(agent ? { agent } : {}),
      adminToken: token,
      adminTokenCreated: created,
      close: () => {
        closing ??= (async () => {
          for (const c of closers) await c().catch(() => {});
        })();
        return closing;
      },
    };
  } catch (error) {
    for (const c of closers) await c().catch(() => {});
    if (owned) await store.close().catch(() => {});
    throw error;
  }
}

/**
 * Several servers on one PostgreSQL: events fan out through LISTEN/NOTIFY (the bus relays what
 * this server publishes and delivers the others'), and one of them leads the scheduler.
 */
async function coordinate(database: string, bus: EventBus) {
  if (!isPostgresUrl(database)) return undefined;
  const { openCoordination } = await import("../store/pg-coordination.ts");
  const coordination = await openCoordination(
    database,
    (e) => bus.deliver(e as unknown as BusEvent),
    (e) => process.emitWarning(`PostgreSQL events: ${(e as Error).message}`),
  );
  bus.setRelay((e) => coordination.notify(e));
  return coordination;
}
