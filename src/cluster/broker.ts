// The broker: the Redis a cluster run talks through, as an endpoint (host, port, password) and a
// checked connection. An endpoint comes from a URL (`parseBrokerUrl`, `brokerFromEnv`) or from a
// local redis-server (local-broker.ts). `connectBroker` opens a checked connection and turns socket
// and auth failures into FlotillaErrors that name the broker (never its password).

import type { ConnectionOptions } from "bullmq";
import type * as IORedis from "ioredis";
import type { RedisOptions } from "ioredis";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { withDeadline } from "../engine/deadline.ts";
import { registerSecret } from "../secrets/redact.ts";
import { Env } from "./process-env.ts";
import { queueLibrary } from "./queue-library.ts";

type Redis = IORedis.Redis;

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
  const url = env[Env.brokerUrl];
  if (url === undefined || url === "") return undefined;
  return parseBrokerUrl(url, env[Env.brokerPassword] || undefined);
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
  const redis = new (queueLibrary().Redis)(
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
