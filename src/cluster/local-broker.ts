// A local broker: a private `redis-server` child process owned by this process, for LocalCluster
// and tests.
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
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { registerSecret, scrub } from "../secrets/redact.ts";
import { type BrokerEndpoint, describeBroker } from "./broker.ts";
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
  // its temp folder goes with it, even when the process that started it died first
  'rm -rf "$(dirname "$1")"',
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

/** A local broker whose address is known and whose process is starting (see prepareLocalBroker). */
export interface PreparedBroker {
  endpoint: BrokerEndpoint;
  /** Resolves once redis-server accepts connections; rejects if it cannot start. */
  started: Promise<LocalBroker>;
}

/**
 * Pick the broker's address and password and start redis-server, without waiting for it: a
 * cluster starts its first workers meanwhile (they retry their connection until it is up). No
 * retry on another port: the workers already have this one.
 */
export async function prepareLocalBroker(options: LocalBrokerOptions = {}): Promise<PreparedBroker> {
  const host = options.host ?? "127.0.0.1";
  const executable = resolveExecutable(options.redisServer ?? "redis-server");
  const password = randomBytes(24).toString("base64url");
  registerSecret(password);
  const port = options.port || (await freePort(host));
  const started = launch(executable, host, port, password, options);
  started.catch(() => {});
  return { endpoint: { host, port, password }, started };
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
