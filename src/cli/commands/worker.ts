// `flotilla worker`: a worker process of a cluster run. Thin: options (flags, then FLOTILLA_* env
// fallbacks for pods), then `runWorker`. Exit 0 after a drain, 1 when the broker was lost for
// longer than the death timeout, 3 when the worker runs different code than the runner.

import { Worker } from "node:worker_threads";
import type { Command } from "commander";
import { brokerFromEnv, parseBrokerUrl } from "../../cluster/broker.ts";
import { Env } from "../../cluster/process-env.ts";
import { SCALING_DEFAULTS, scalingFields } from "../../cluster/scaling.ts";
import { runWorker, type WorkerExit } from "../../cluster/worker.ts";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import type { LogFormat } from "../../engine/logging.ts";
import { numberFlag, positiveIntFromEnv } from "../flags.ts";
import { stopSignals } from "../signals.ts";

export interface WorkerCommandOptions {
  /** `redis://host:port`; the password may come from FLOTILLA_BROKER_PASSWORD. @default $FLOTILLA_BROKER_URL */
  broker?: string;
  /** @default $FLOTILLA_FLOW_MODULE */
  flowModule?: string;
  /** @default $FLOTILLA_FLOW */
  flow?: string;
  /** @default $FLOTILLA_CONCURRENCY, else SCALING_DEFAULTS.worker.concurrency (16) */
  concurrency?: number;
  /** @default $FLOTILLA_RUN_ID, else the broker's current run */
  runId?: string;
  /** @default $FLOTILLA_WORKER_ID (the pod name), else `<hostname>-<pid>` */
  workerId?: string;
  /** @default SCALING_DEFAULTS.worker.workerDeathTimeoutMs (30000) */
  deathTimeoutMs?: number;
  logFormat?: LogFormat;
  /** Exit when stdin closes (the parent process is gone); LocalCluster sets it. */
  exitWithStdin?: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Called once the worker serves the run (see WorkerOptions.onServing). */
  onServing?: () => void;
}

export async function worker(options: WorkerCommandOptions): Promise<WorkerExit> {
  const env = options.env ?? process.env;
  const password = env[Env.brokerPassword] || undefined;
  const broker = options.broker !== undefined ? parseBrokerUrl(options.broker, password) : brokerFromEnv(env);
  if (broker === undefined) {
    throw new FlotillaError(ErrorCode.Usage, "flotilla worker: no broker given", {
      hint: "pass --broker redis://host:port or set FLOTILLA_BROKER_URL (and FLOTILLA_BROKER_PASSWORD)",
      usage: true,
    });
  }
  const flowModule = options.flowModule ?? env[Env.flowModule];
  if (flowModule === undefined || flowModule === "") {
    throw new FlotillaError(ErrorCode.Usage, "flotilla worker: no flow module given", {
      hint: "pass --flow-module PATH or set FLOTILLA_FLOW_MODULE",
      usage: true,
    });
  }
  const concurrency = options.concurrency ?? positiveIntFromEnv(env, Env.concurrency);
  const flow = options.flow ?? (env[Env.flow] || undefined);
  const runId = options.runId ?? (env[Env.runId] || undefined);
  const workerId = options.workerId ?? (env[Env.workerId] || undefined);
  return runWorker({
    broker,
    flowModule,
    ...(flow !== undefined ? { flow } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(runId !== undefined ? { runId } : {}),
    ...(workerId !== undefined ? { workerId } : {}),
    ...(options.deathTimeoutMs !== undefined ? { deathTimeoutMs: options.deathTimeoutMs } : {}),
    ...(options.logFormat !== undefined ? { logFormat: options.logFormat } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    ...(options.onServing !== undefined ? { onServing: options.onServing } : {}),
  });
}

export const workerCommand = (program: Command): void => {
  program
    .command("worker")
    .description(
      "run task runs of a cluster run: take them from the broker until drained (SIGTERM) or retired",
    )
    .option(
      "--broker <url>",
      "redis://host:port (password in FLOTILLA_BROKER_PASSWORD); env FLOTILLA_BROKER_URL",
    )
    .option("--flow-module <path>", "the flow module, as the runner loaded it; env FLOTILLA_FLOW_MODULE")
    .option("--flow <name>", "the flow, when the module exports several; env FLOTILLA_FLOW")
    .option(
      "--concurrency <n>",
      `task runs at once (default ${SCALING_DEFAULTS.worker.concurrency}); env FLOTILLA_CONCURRENCY`,
      numberFlag("--concurrency", scalingFields.concurrency),
    )
    .option("--run-id <id>", "the run to work for (default: the broker's current run); env FLOTILLA_RUN_ID")
    .option("--worker-id <id>", "this worker's id (default: hostname-pid); env FLOTILLA_WORKER_ID")
    .option(
      "--death-timeout-ms <ms>",
      `exit when the broker is unreachable this long (default ${SCALING_DEFAULTS.worker.workerDeathTimeoutMs})`,
      numberFlag("--death-timeout-ms", scalingFields.workerDeathTimeoutMs),
    )
    .option("--log-format <format>", "json or pretty", "json")
    .option("--exit-with-stdin", "exit when stdin closes (used by LocalCluster)")
    .action(async (opts: WorkerCommandOptions) => {
      // The first SIGTERM (or SIGINT) drains; a second one forces the worker out at once.
      const signals = stopSignals({ prefix: "flotilla worker: " });
      if (opts.exitWithStdin) {
        // The parent is gone: nobody will read our results; stop at once.
        process.stdin.on("end", () => process.exit(1));
        process.stdin.resume();
      }
      // The parent watch thread starts once tasks may run: until then the main thread is free to
      // hear stdin close, and the thread's start-up (~70 ms of CPU on a loaded machine) would
      // compete with the worker's own.
      const result = await worker({
        ...opts,
        signal: signals.signal,
        ...(opts.exitWithStdin ? { onServing: watchParent } : {}),
      });
      process.stdin.pause();
      if (result.exitCode !== 0) process.stderr.write(`flotilla worker: ${result.reason}\n`);
      // Exit now: everything a drain owes the runner was awaited by runWorker, and after a lost
      // broker BullMQ's and ioredis's reconnect timers would keep the process up for seconds.
      // (stderr is synchronous for files, pipes and terminals on Linux: the reason is written.)
      process.exit(result.exitCode);
    });
};

/**
 * A thread that SIGKILLs this process when its parent is gone (it was re-parented): it runs even
 * while a task blocks the main thread in a CPU loop, where no stdin "end" or signal handler can.
 */
function watchParent(): void {
  const code = `
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) process.kill(process.pid, "SIGKILL");
    }, 500);
  `;
  const watcher = new Worker(code, { eval: true, stdout: false, stderr: false });
  watcher.unref();
}
