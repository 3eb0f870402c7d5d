// The broker: the Redis a cluster run talks through. Either a local `redis-server` child process
// owned by this process (`startLocalBroker`), or an existing Redis given by URL (`parseBrokerUrl`,
// `brokerFromEnv`). `connectBroker` opens a checked connection and turns socket and auth failures
// into FlotillaErrors that name the broker (never its password).
//
// Invariants: a local broker has a random password (registered with the secret scrubber), no
// persistence, `maxmemory-policy noeviction`, and is bound to one address; the password never
// appears on a command line (it is in a 0600 config file deleted once Redis is up); and no
// redis-server outlives its owner, even one killed with SIGKILL: redis runs under a tiny `sh`
// supervisor that kills it as soon as the owner's end of its stdin pipe closes.

import { type ChildProcess, spawn as nodeSpawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ConnectionOptions } from "bullmq";
import { Redis, type RedisOptions } from "ioredis";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { withDeadline } from "../engine/deadline.ts";
import { registerSecret, scrub } from "../secrets/redact.ts";

/** Where a broker is and how to log in. */
export interface BrokerEndpoint {
  host: string;
  port: number;
  /** The broker password; registered as a secret. */
  password?: string;
  /** Redis database index. @default 0 */
  db?: number;
}

/** `redis://host:port/db`, without the password: safe for logs and errors. */
export function describeBroker(endpoint: BrokerEndpoint): string {
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  return `redis://${host}:${endpoint.port}${endpoint.db ? `/${endpoint.db}` : ""}`;
}

/**
 * Parse `redis://[:password@]host:port[/db]`. A password given separately (e.g. from
 * `FLOTILLA_BROKER_PASSWORD`) wins over one in the URL.
 */
export function parseBrokerUrl(url: string, password?: string): BrokerEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FlotillaError(ErrorCode.Usage, `the broker URL "${redactUrl(url)}" is not a URL`, {
      hint: "give it as redis://host:port (the password separately, in FLOTILLA_BROKER_PASSWORD)",
      usage: true,
    });
  }
  if (parsed.protocol !== "redis:") {
    throw new FlotillaError(
      ErrorCode.Usage,
      `the broker URL must start with redis://, got ${parsed.protocol}//`,
      { hint: "give it as redis://host:port[/db], e.g. redis://127.0.0.1:6379", usage: true },
    );
  }
  const fromUrl = parsed.password === "" ? undefined : decodeURIComponent(parsed.password);
  const secret = password ?? fromUrl;
  if (secret !== undefined) registerSecret(secret);
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const endpoint: BrokerEndpoint = { host, port: parsed.port === "" ? 6379 : Number(parsed.port) };
  if (secret !== undefined && secret !== "") endpoint.password = secret;
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "") {
    if (!/^\d+$/.test(db)) {
      throw new FlotillaError(
        ErrorCode.Usage,
        `the broker URL's path must be a database number, got "/${db}"`,
        {
          hint: "give it as redis://host:port/N with N a Redis database number, e.g. redis://127.0.0.1:6379/0",
          usage: true,
        },
      );
    }
    endpoint.db = Number(db);
  }
  return endpoint;
}

/** The broker from `FLOTILLA_BROKER_URL` and `FLOTILLA_BROKER_PASSWORD`, or undefined. */
export function brokerFromEnv(env: NodeJS.ProcessEnv = process.env): BrokerEndpoint | undefined {
  const url = env.FLOTILLA_BROKER_URL;
  if (url === undefined || url === "") return undefined;
  return parseBrokerUrl(url, env.FLOTILLA_BROKER_PASSWORD || undefined);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//[redacted]@");
}

/** Options of `connectBroker`. */
export interface ConnectOptions {
  /** How long the first connection may take, in ms. @default 5000 */
  connectTimeoutMs?: number;
  /** Name shown in `CLIENT LIST`. */
  connectionName?: string;
  /** Extra ioredis options (e.g. `maxRetriesPerRequest: null` for blocking readers). */
  redis?: RedisOptions;
}

/** ioredis options for an endpoint. */
function redisOptions(endpoint: BrokerEndpoint, extra: RedisOptions = {}): RedisOptions {
  const options: RedisOptions = { host: endpoint.host, port: endpoint.port, ...extra };
  if (endpoint.password !== undefined) options.password = endpoint.password;
  if (endpoint.db !== undefined) options.db = endpoint.db;
  return options;
}

/** BullMQ connection options for an endpoint (blocking-safe, reconnecting quickly). */
export function bullConnection(endpoint: BrokerEndpoint, connectionName?: string): ConnectionOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    ...(endpoint.db !== undefined ? { db: endpoint.db } : {}),
    ...(connectionName !== undefined ? { connectionName } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(50 * times, 500),
  };
}

/**
 * Open a connection and check it with PING. Throws a FlotillaError (FLOTILLA_BROKER) saying
 * whether the broker is unreachable or refused the password.
 */
export async function connectBroker(endpoint: BrokerEndpoint, options: ConnectOptions = {}): Promise<Redis> {
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  const redis = new Redis(
    redisOptions(endpoint, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: null,
      // Retry quickly while the run lives; callers decide when "gone for too long" is fatal.
      retryStrategy: (times) => Math.min(50 * times, 500),
      ...(options.connectionName ? { connectionName: options.connectionName } : {}),
      ...options.redis,
    }),
  );
  let lastError: unknown;
  const onError = (e: unknown) => {
    lastError = e;
  };
  redis.on("error", onError);
  try {
    await withDeadline(
      (async () => {
        await redis.connect();
        await redis.ping();
      })(),
      timeoutMs,
      () => new Error(`no answer within ${timeoutMs} ms`),
    );
    return redis;
  } catch (error) {
    redis.disconnect();
    throw brokerError(endpoint, lastError ?? error);
  } finally {
    redis.off("error", onError);
  }
}

/** Turn a Redis/socket error into a FlotillaError naming the broker. */
function brokerError(endpoint: BrokerEndpoint, error: unknown): FlotillaError {
  const where = describeBroker(endpoint);
  const message = error instanceof Error ? error.message : String(error);
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test(message)) {
    return new FlotillaError(ErrorCode.Broker, `the broker at ${where} refused the password`, {
      hint: "check FLOTILLA_BROKER_PASSWORD (or the password in the broker URL)",
    });
  }
  return new FlotillaError(
    ErrorCode.Broker,
    `cannot reach the broker at ${where}: ${message || "timed out"}`,
    {
      cause: error,
      hint: "check that Redis runs there and that this machine can reach it",
    },
  );
}

/** Options of `startLocalBroker`. */
export interface LocalBrokerOptions {
  /** Address Redis binds to. @default "127.0.0.1" */
  host?: string;
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** The redis-server executable. @default "redis-server" (looked up in PATH) */
  redisServer?: string;
  /** How long Redis may take to accept connections, in ms. @default 10000 */
  startTimeoutMs?: number;
  /** Spawn function (tests). @default child_process.spawn */
  spawn?: typeof nodeSpawn;
}

/** A redis-server child process owned by this process. */
export interface LocalBroker {
  readonly endpoint: BrokerEndpoint;
  /** `redis://host:port`, without the password. */
  readonly url: string;
  readonly password: string;
  /** Resolves when redis-server exits, for whatever reason, with a description of why. */
  readonly exited: Promise<string>;
  /** Stop redis-server and wait for it to exit. Idempotent. */
  stop(): Promise<void>;
}

// The supervisor: start redis, and kill it when stdin reaches EOF (the owner closed it or died),
// or exit with redis's status when redis ends first.
// (A background job's stdin is /dev/null in a non-interactive sh, hence the copy on fd 3.)
const SUPERVISOR = [
  "exec 3<&0",
  '"$0" "$1" </dev/null 3<&- & r=$!',
  '( cat <&3 >/dev/null; kill -TERM "$r" 2>/dev/null ) &',
  "exec 3<&-",
  'wait "$r"; s=$?',
  "exit $s",
].join("\n");

/** Start a private redis-server (random password, no persistence, noeviction) and wait until it is ready. */
export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const host = options.host ?? "127.0.0.1";
  const executable = resolveExecutable(options.redisServer ?? "redis-server");
  const password = randomBytes(24).toString("base64url");
  registerSecret(password);
  let lastError: FlotillaError | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = options.port || (await freePort(host));
    try {
      return await launch(executable, host, port, password, options);
    } catch (error) {
      if (!(error instanceof FlotillaError) || !/Address already in use/i.test(error.message) || options.port)
        throw error;
      lastError = error;
    }
  }
  throw lastError ?? new FlotillaError(ErrorCode.Broker, "could not start redis-server");
}

// `flotilla run` has no broker flag: an existing broker is the ClusterExecutor's, with hand-started workers
const EXISTING_BROKER_HINT =
  "new ClusterExecutor({ brokerUrl: 'redis://host:port' }) (or $FLOTILLA_BROKER_URL) and workers started with `flotilla worker --broker redis://host:port`";

function resolveExecutable(name: string): string {
  const candidates = name.includes("/")
    ? [name]
    : (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin")
        .split(path.delimiter)
        .map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  throw new FlotillaError(
    ErrorCode.Broker,
    `cannot start a local broker: ${name} is not installed (not found in PATH)`,
    {
      hint: `install Redis (e.g. \`apt-get install redis-server\`), or use an existing broker: ${EXISTING_BROKER_HINT}`,
    },
  );
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function launch(
  executable: string,
  host: string,
  port: number,
  password: string,
  options: LocalBrokerOptions,
): Promise<LocalBroker> {
  const dir = mkdtempSync(path.join(tmpdir(), "flotilla-broker-"));
  const conf = path.join(dir, "redis.conf");
  writeFileSync(
    conf,
    [
      `bind ${host}`,
      `port ${port}`,
      `requirepass "${password}"`,
      'save ""',
      "appendonly no",
      "maxmemory-policy noeviction",
      "protected-mode no",
      "daemonize no",
      'logfile ""',
      `dir ${dir}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const spawn = options.spawn ?? nodeSpawn;
  // /bin/sh, not "sh" from PATH: the supervisor must start whatever PATH the owner has.
  const child: ChildProcess = spawn("/bin/sh", ["-c", SUPERVISOR, executable, conf], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const endpoint: BrokerEndpoint = { host, port, password };
  const where = describeBroker(endpoint);
  let output = "";
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => {
      rmSync(dir, { recursive: true, force: true });
      resolve(signal ? `redis-server was stopped by ${signal}` : `redis-server exited with code ${code}`);
    });
    child.once("error", (e) => resolve(`redis-server could not start: ${e.message}`));
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.stdin?.end();
      reject(
        new FlotillaError(
          ErrorCode.Broker,
          `redis-server at ${where} did not start within ${options.startTimeoutMs ?? 10000} ms`,
          {
            hint: `run \`${executable} --port ${port}\` by hand to see why, or use an existing broker: ${EXISTING_BROKER_HINT}`,
          },
        ),
      );
    }, options.startTimeoutMs ?? 10000);
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((why) => {
      clearTimeout(timer);
      const reason = scrub(lastLines(output));
      reject(
        new FlotillaError(
          ErrorCode.Broker,
          `${why} while starting at ${where}${reason ? `: ${reason}` : ""}`,
        ),
      );
    });
  });
  rmSync(conf, { force: true });
  // Keep draining its output so the pipe never fills.
  child.stdout?.resume();
  child.stderr?.resume();
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    url: where,
    password,
    exited,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.stdin?.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

function lastLines(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return lines.slice(-2).join(" | ");
}
