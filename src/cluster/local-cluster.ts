// LocalCluster: a broker (a private redis-server) plus `flotilla worker` child processes on this
// machine, scaled between minWorkers and maxWorkers by the adaptive policy. The Dask LocalCluster
// of Flotilla: `new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 1, maxWorkers: 4 }) })`.
//
// Invariants: options are compiled once, in the constructor; the broker password reaches workers
// only through their environment; no worker outlives this process: each runs in its own process
// group, removed with SIGTERM then, after `workerKillGraceMs`, SIGKILL of the whole group (a task
// stuck in a CPU loop hears no SIGTERM), and every group left is SIGKILLed when this process exits;
// a worker whose parent is gone exits (stdin pipe closed, parent watch); none outlives the broker
// for longer than the worker death timeout.

import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { z as Z } from "zod";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { zod } from "../core/zod-on-demand.ts";
import { type BrokerEndpoint, describeBroker } from "./broker.ts";
import type {
  BrokerLease,
  Cluster,
  ClusterHooks,
  ClusterRun,
  ClusterSession,
  ProviderEvent,
  WorkerLaunch,
  WorkerProvider,
} from "./cluster.ts";
import { type LocalBrokerOptions, prepareLocalBroker } from "./local-broker.ts";
import { Env } from "./process-env.ts";
import { ReconcilingCluster } from "./reconciler.ts";
import { minNotAboveMax, SCALING_DEFAULTS, scalingSchema } from "./scaling.ts";

const z = zod();

/** The options of a LocalCluster: the scaling vocabulary (scaling.ts) plus the local broker's and workers'. */
const Schema = scalingSchema(SCALING_DEFAULTS.local)
  .extend({
    /** Address the broker binds to. @default "127.0.0.1" */
    brokerHost: z.string().min(1).default("127.0.0.1"),
    /** After SIGTERM, how long a worker has before its process group is SIGKILLed, in ms. @default 3000 */
    workerKillGraceMs: z.number().int().min(0).default(3000),
    /**
     * The script workers run, with `worker` arguments. @default this package's bin/flotilla.js (which
     * loads only the `worker` command's modules).
     */
    bin: z.string().min(1).optional(),
    /** Extra environment for workers. */
    env: z.record(z.string(), z.string()).default({}),
    /** redis-server executable. @default "redis-server" */
    redisServer: z.string().min(1).default("redis-server"),
  })
  .superRefine((o, ctx) => {
    const problem = minNotAboveMax(o);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, path: ["minWorkers"] });
  });

/**
 * Options of a LocalCluster. Scaling (defaults in SCALING_DEFAULTS.local): `minWorkers` 1,
 * `maxWorkers` 2, `initialWorkers` minWorkers, `concurrency` 16 task runs per worker,
 * `idleTimeoutMs` 2000, `workerDeathTimeoutMs` 10000.
 */
export type LocalClusterOptions = Z.input<typeof Schema>;

/** The compiled options of a LocalCluster. */
export type ResolvedLocalClusterOptions = Z.output<typeof Schema>;

export class LocalCluster implements Cluster {
  readonly kind = "local";
  readonly options: ResolvedLocalClusterOptions;
  #session: ClusterSession | undefined;

  /** The broker of the running session (tools and tests connect to it), if started. */
  get broker(): BrokerEndpoint | undefined {
    return this.#session?.broker;
  }

  constructor(options: LocalClusterOptions = {}) {
    const parsed = Schema.safeParse(options);
    if (!parsed.success) {
      throw new FlotillaError(ErrorCode.OptionsInvalid, `LocalCluster: ${z.prettifyError(parsed.error)}`, {
        hint: "e.g. new LocalCluster({ minWorkers: 1, maxWorkers: 4 })",
      });
    }
    this.options = parsed.data;
  }

  async start(run: ClusterRun, hooks: ClusterHooks): Promise<ClusterSession> {
    const o = this.options;
    this.#session = await ReconcilingCluster.start(new ProcessWorkerProvider(o), run, hooks, {
      minWorkers: o.minWorkers,
      maxWorkers: o.maxWorkers,
      ...(o.initialWorkers !== undefined ? { initialWorkers: o.initialWorkers } : {}),
      concurrency: o.concurrency,
      idleTimeoutMs: o.idleTimeoutMs,
      workerDeathTimeoutMs: o.workerDeathTimeoutMs,
    });
    return this.#session;
  }
}

/** Workers as child processes of this one. */
export class ProcessWorkerProvider implements WorkerProvider {
  readonly kind = "process";
  readonly #o: ResolvedLocalClusterOptions;
  readonly #children = new Map<string, { child: ChildProcess; tail: string[]; exited: Promise<void> }>();
  #listener: (e: ProviderEvent) => void = () => {};

  constructor(options: ResolvedLocalClusterOptions) {
    this.#o = options;
  }

  /** Returns as soon as redis-server is starting: the first workers start while it does. */
  async openBroker(): Promise<BrokerLease> {
    const options: LocalBrokerOptions = { host: this.#o.brokerHost, redisServer: this.#o.redisServer };
    const { endpoint, started } = await prepareLocalBroker(options);
    return {
      runner: endpoint,
      workers: endpoint,
      ready: started.then(() => {}),
      // a broker that never started is the start's error (ready), not a loss
      lost: started.then(
        (broker) => broker.exited,
        () => new Promise<string>(() => {}),
      ),
      close: () =>
        started.then(
          (broker) => broker.stop(),
          () => {},
        ),
    };
  }

  watch(listener: (e: ProviderEvent) => void): void {
    this.#listener = listener;
  }

  async start(spec: WorkerLaunch): Promise<void> {
    // The CLI loads only the invoked command's module, so `flotilla worker` starts lean.
    const entry = [this.#o.bin ?? fileURLToPath(new URL("../../bin/flotilla.js", import.meta.url)), "worker"];
    const args = [
      ...entry,
      "--broker",
      describeBroker(spec.broker),
      "--flow-module",
      spec.flowModule,
      "--flow",
      spec.flowName,
      "--run-id",
      spec.runId,
      "--worker-id",
      spec.workerId,
      "--concurrency",
      String(spec.concurrency),
      "--death-timeout-ms",
      String(spec.deathTimeoutMs),
      "--exit-with-stdin",
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.#o.env };
    if (spec.broker.password !== undefined) env[Env.brokerPassword] = spec.broker.password;
    // its own process group: a terminal's Ctrl-C reaches only us, and a kill reaches its children too
    const child = spawn(process.execPath, args, { env, stdio: ["pipe", "ignore", "pipe"], detached: true });
    if (child.pid !== undefined) liveGroups.add(child.pid);
    const tail: string[] = [];
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) if (line.trim() !== "") tail.push(line);
      if (tail.length > 20) tail.splice(0, tail.length - 20);
    });
    const exited = new Promise<void>((resolve) => {
      const end = (reason: string, failed: boolean) => {
        if (child.pid !== undefined) {
          killGroup(child.pid, "SIGKILL"); // whatever the worker's tasks started goes with it
          liveGroups.delete(child.pid);
        }
        if (!this.#children.delete(spec.workerId)) return;
        this.#listener({ workerId: spec.workerId, phase: "exited", reason, failed });
        resolve();
      };
      child.once("exit", (code, signal) => {
        end(exitReason(code, signal, tail, killed.has(spec.workerId)), code !== 0);
        killed.delete(spec.workerId);
      });
      // a process that never started emits "error" and no "exit": end it here, or remove() would wait forever
      child.once("error", (error) => {
        if (child.pid === undefined) end(`could not start ${process.execPath}: ${error.message}`, true);
      });
    });
    child.once("spawn", () => this.#listener({ workerId: spec.workerId, phase: "starting" }));
    this.#children.set(spec.workerId, { child, tail, exited });
  }

  /** SIGTERM (a drain), then SIGKILL of the worker's process group after the grace period. */
  async remove(workerId: string): Promise<void> {
    const entry = this.#children.get(workerId);
    if (entry === undefined) return;
    const pid = entry.child.pid;
    killed.add(workerId);
    if (pid !== undefined) killGroup(pid, "SIGTERM");
    else entry.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (pid !== undefined) killGroup(pid, "SIGKILL");
      else entry.child.kill("SIGKILL");
    }, this.#o.workerKillGraceMs);
    await entry.exited;
    clearTimeout(timer);
  }

  /** Process ids of the workers (tests use them to kill one). */
  pids(): Map<string, number> {
    return new Map([...this.#children].map(([id, e]) => [id, e.child.pid ?? -1]));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#children.keys()].map((id) => this.remove(id)));
  }
}

/** Worker process groups alive in this process; SIGKILLed if it exits first (process.exit, a crash). */
const liveGroups = new Set<number>();
/** Workers this process asked to stop (their SIGKILL is ours, not the kernel's). */
const killed = new Set<string>();
process.on("exit", () => {
  for (const pid of liveGroups) killGroup(pid, "SIGKILL");
});

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

/** Why a worker process ended, in words: out of memory and kills by others are said to be so. */
export function exitReason(
  code: number | null,
  signal: NodeJS.Signals | null,
  stderrTail: readonly string[],
  stoppedByUs: boolean,
): string {
  const text = stderrTail.join("\n");
  if (/JavaScript heap out of memory|Allocation failed - process out of memory/i.test(text)) {
    return "ran out of memory (JavaScript heap out of memory); give the worker more memory (NODE_OPTIONS=--max-old-space-size=MB) or make its task runs smaller";
  }
  if (signal === "SIGKILL" && !stoppedByUs) {
    return "killed by SIGKILL, not by Flotilla (the kernel's out-of-memory killer sends SIGKILL: check dmesg)";
  }
  if (signal) return `killed by ${signal}`;
  const last = stderrTail.slice(-3).map(lastMessage).join(" | ");
  return `exit code ${code}${code !== 0 && last ? `: ${last}` : ""}`;
}

function lastMessage(line: string): string {
  try {
    const rec = JSON.parse(line) as { msg?: unknown };
    return typeof rec.msg === "string" ? rec.msg : line;
  } catch {
    return line;
  }
}
