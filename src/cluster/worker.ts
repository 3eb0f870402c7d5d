// The worker process of a cluster run (`flotilla worker`): loads the flow module once, checks
// that it runs the same code as the runner (fingerprint handshake), then takes task runs from the
// run's BullMQ queue and runs them with the same task runner as LocalExecutor (retries, timeouts,
// logs). Results, events and task log lines go back on the run's output stream.
//
// Invariants: a worker whose fingerprint or protocol version differs takes no job and tells the
// runner (fatal, exit code 3); a drain (SIGTERM or a retire request) finishes the task runs in
// progress, takes no new one and exits 0; a broker unreachable for longer than `deathTimeoutMs`
// ends the worker with exit code 1; `console.*` inside a task goes to that task's logger.

import { hostname } from "node:os";
import { format } from "node:util";
import { Worker as BullWorker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import { ErrorCode, FlotillaError, serializeError } from "../core/errors.ts";
import type { RunEvent, TaskRunResult } from "../core/executor.ts";
import { flowFingerprint } from "../core/fingerprint.ts";
import type { Flow } from "../core/flow.ts";
import type { Logger } from "../core/logger.ts";
import { currentContext } from "../engine/context.ts";
import { withDeadline } from "../engine/deadline.ts";
import { createLogger, type LogFormat } from "../engine/logging.ts";
import { runTask, type TaskRunnerEnv } from "../engine/task-runner.ts";
import { scrubProcessOutput } from "../secrets/process-output.ts";
import { loadFlowModule, selectFlow } from "../storage/module.ts";
import { type BrokerEndpoint, bullConnection, connectBroker, describeBroker } from "./broker.ts";
import { DeferredStarts } from "./deferred-starts.ts";
import { OutputStream } from "./output.ts";
import {
  CURRENT_RUN_KEY,
  decodeJob,
  type Heartbeat,
  type JobData,
  keys,
  PROTOCOL_VERSION,
  queueName,
  type RunSettings,
  type WorkerPhase,
} from "./protocol.ts";
import { WorkerSecrets } from "./secret-channel.ts";

/** Options of a worker, as given by the CLI or a test. */
export interface WorkerOptions {
  broker: BrokerEndpoint;
  /** The flow module to load (the same file as the runner's). */
  flowModule: string;
  /** The flow's name or export name, when the module exports several. */
  flow?: string;
  /** Task runs at once in this worker. @default 16 */
  concurrency?: number;
  /** The run to work for. @default the broker's current run (`flotilla:current-run`) */
  runId?: string;
  /** This worker's id (a pod name in Kubernetes). @default `<hostname>-<pid>` */
  workerId?: string;
  /** Exit (code 1) when the broker has been unreachable this long, in ms. @default 60000 */
  deathTimeoutMs?: number;
  /** Log line format on stderr. @default "json" */
  logFormat?: LogFormat;
  /** Where the worker's own log lines go. @default process.stderr */
  stderr?: { write(line: string): unknown };
  /** Also write task log lines to stderr (they always go to the runner). @default true */
  taskLogsToStderr?: boolean;
  /**
   * How long a task run's `taskStarted` event is held back, in ms: a task run that finishes sooner
   * sends it with its result (one message instead of two). 0 sends every start at once. @default 100
   */
  startedEventDelayMs?: number;
  /** Stops the worker like SIGTERM does (drain, then exit 0). */
  signal?: AbortSignal;
}

/** How a worker ended. */
export interface WorkerExit {
  exitCode: number;
  reason: string;
}

const OptionsSchema = z.object({
  concurrency: z.number().int().min(1).max(10000).default(16),
  deathTimeoutMs: z.number().int().min(100).default(60000),
  workerId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-'")
    .default(`${hostname()}-${process.pid}`),
  runId: z.string().min(1).optional(),
  startedEventDelayMs: z.number().int().min(0).default(100),
});

function compileOptions(options: WorkerOptions) {
  const parsed = OptionsSchema.safeParse({
    concurrency: options.concurrency,
    deathTimeoutMs: options.deathTimeoutMs,
    workerId: options.workerId,
    runId: options.runId,
    startedEventDelayMs: options.startedEventDelayMs,
  });
  if (!parsed.success) {
    throw new FlotillaError(ErrorCode.OptionsInvalid, `flotilla worker: ${z.prettifyError(parsed.error)}`, {
      usage: true,
    });
  }
  return parsed.data;
}

/** Run a worker until it drains, is refused, or loses the broker. Never throws after start-up. */
export async function runWorker(options: WorkerOptions): Promise<WorkerExit> {
  const o = compileOptions(options);
  const stderr = options.stderr ?? process.stderr;
  const workerId = o.workerId;
  const where = describeBroker(options.broker);
  let output: OutputStream | undefined;
  let starts: DeferredStarts | undefined;
  const forward = options.taskLogsToStderr ?? true;
  const fmt = options.logFormat ?? "json";
  const pretty = createLogger({ format: fmt, stream: stderr, base: { worker: workerId } });
  // Task log lines (those with a `task` field) go to the runner; all lines go to stderr.
  const logger: Logger = createLogger({
    format: "json",
    base: { worker: workerId },
    stream: {
      write(line: string) {
        const isTask = line.includes('"task":');
        if (isTask && output !== undefined) {
          // A task's log line follows its start.
          starts?.flushAll();
          output.push({ t: "log", line });
        }
        if (!isTask || forward) {
          if (fmt === "json") stderr.write(line);
          else pretty.info(JSON.parse(line) as object);
        }
      },
    },
  });

  const flow = selectFlow(await loadFlowModule(options.flowModule), options.flow);
  const fingerprint = flowFingerprint(flow);

  // Connect, retrying until the death timeout: pods may start before the broker is up.
  const control = await connectWithin(options.broker, o.deathTimeoutMs, `flotilla-worker-${workerId}`);
  if (control instanceof FlotillaError) return { exitCode: 1, reason: control.message };
  // Connection errors while the broker is away are expected; the death timeout decides.
  control.on("error", (e: Error) => logger.debug({ err: e.message }, "broker connection error"));

  // Until the run starts, a read that gets no answer for the death timeout means the broker is gone.
  const lost = () =>
    new FlotillaError(
      ErrorCode.Broker,
      `the broker at ${where} has been unreachable for ${o.deathTimeoutMs} ms (death timeout) before the run started; exiting`,
    );
  const read = (get: () => Promise<string | null>) => () => withDeadline(get(), o.deathTimeoutMs, lost);
  let runId: string | undefined;
  let settingsJson: string | undefined;
  try {
    runId =
      o.runId ??
      (await waitFor(
        read(() => control.get(CURRENT_RUN_KEY)),
        options.signal,
      ));
    if (runId !== undefined) {
      settingsJson = await waitFor(
        read(() => control.hget(keys(runId!).meta, "settings")),
        options.signal,
      );
    }
  } catch (error) {
    control.disconnect();
    const reason = error instanceof Error ? error.message : String(error);
    logger.error({ code: ErrorCode.Broker }, reason);
    return { exitCode: 1, reason };
  }
  if (runId === undefined || settingsJson === undefined) {
    control.disconnect();
    return { exitCode: 0, reason: "stopped before the run started" };
  }
  const k = keys(runId);
  const settings = JSON.parse(settingsJson) as RunSettings;
  output = new OutputStream(control, k.out);
  const out = output;
  const phase = (p: WorkerPhase, reason?: string) =>
    out.push({ t: "phase", worker: workerId, phase: p, ...(reason !== undefined ? { reason } : {}) });

  // A worker that would misread the run refuses it and tells the runner, which fails the run at once.
  const refusal =
    settings.protocol !== PROTOCOL_VERSION
      ? `worker ${workerId} speaks Flotilla protocol ${PROTOCOL_VERSION} and the flow runner ${settings.protocol}`
      : settings.fingerprint !== fingerprint
        ? `worker ${workerId} runs different code than the flow runner: flow "${flow.name}" has fingerprint ` +
          `${fingerprint} in the worker and ${settings.fingerprint} in the runner`
        : undefined;
  if (refusal !== undefined) {
    out.push({
      t: "fatal",
      worker: workerId,
      error: serializeError(
        new FlotillaError(ErrorCode.Fingerprint, refusal, {
          hint: "run workers from the same image (or flow file) as the runner; rebuild and push the image if the flow changed",
        }),
      ),
    });
    phase("exited", "refused the run: different code or protocol");
    await out.flush();
    control.disconnect();
    logger.error({ code: ErrorCode.Fingerprint }, refusal);
    return { exitCode: 3, reason: refusal };
  }

  // The run's secrets are scrubbed here before any task runs; those a task reads go to the runner.
  const secrets = new WorkerSecrets(control, runId, (m) => out.pushDurable(m));
  await withDeadline(secrets.start(), o.deathTimeoutMs, lost).catch((e: unknown) => {
    logger.warn({ err: String(e) }, "could not read the run's secrets yet");
  });
  const restoreOutput = scrubProcessOutput();
  const restoreConsole = routeConsole();
  let active = 0;
  let draining: string | undefined;
  const deferred = new DeferredStarts({
    delayMs: o.startedEventDelayMs,
    send: (event) => out.push({ t: "event", event }),
  });
  starts = deferred;
  const onEvent = (event: RunEvent) => {
    if (event.type === "taskStarted") {
      deferred.started(event);
      return;
    }
    if (event.type === "taskRetrying") deferred.flushKey(event.slug, event.mapIndex);
    out.push({ t: "event", event });
  };
  const env: TaskRunnerEnv = { runId, flow: flow.name, logger, worker: workerId, onEvent };

  const processor = async (job: Job<JobData>): Promise<number> => {
    active++;
    try {
      let result: TaskRunResult;
      try {
        await secrets.catchUp(job.data.v);
        const request = decodeJob(job.data);
        // A task run that lost its worker starts again with its attempt counted.
        request.attempt += Math.max(0, (job.attemptsStarted ?? 1) - 1);
        result = await runTask(taskOf(flow, request.slug), request, env);
      } catch (error) {
        result = failedResult(job.data, workerId, error);
      }
      const started = deferred.take(result.slug, result.mapIndex);
      await out.pushDurable(
        started === undefined ? { t: "result", result } : { t: "result", result, started },
      );
      return 0;
    } finally {
      active--;
    }
  };

  const bull = new BullWorker<JobData, number>(queueName(runId), processor, {
    connection: bullConnection(options.broker, `flotilla-worker-${workerId}`),
    concurrency: o.concurrency,
    lockDuration: settings.lockDurationMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: settings.maxStalledCount,
    drainDelay: 1,
    autorun: false,
  });
  bull.on("error", (e) => logger.debug({ err: e.message }, "queue connection error"));
  bull.on("failed", (job, err) => {
    // Only BullMQ itself fails jobs (our processor never throws): a task run whose worker was lost too often.
    if (job === undefined) return;
    const data = job.data;
    const at = data.i >= 0 ? `${data.s}[${data.i}]` : data.s;
    out.push({
      t: "result",
      result: failedResult(
        data,
        workerId,
        new FlotillaError(
          ErrorCode.WorkerStart,
          `task run "${at}" lost its worker more than ${settings.maxStalledCount} times (${err.message}); ` +
            "a worker died or blocked its event loop longer than the lock duration",
        ),
      ),
    });
  });

  let resolveExit!: (exit: WorkerExit) => void;
  const exited = new Promise<WorkerExit>((r) => {
    resolveExit = r;
  });

  const heartbeat = async () => {
    const beat: Heartbeat = {
      active,
      concurrency: o.concurrency,
      phase: draining ? "draining" : "running",
      at: Date.now(),
      pid: process.pid,
      host: hostname(),
    };
    const replies = await control
      .multi()
      .hset(k.workers, workerId, JSON.stringify(beat))
      .sismember(k.retire, workerId)
      .exec();
    return replies?.[1]?.[1] === 1;
  };

  let lastContact = Date.now();
  let beating = false;
  const timer = setInterval(() => {
    const silentMs = Date.now() - lastContact;
    if (silentMs > o.deathTimeoutMs) {
      const reason = `the broker at ${where} has been unreachable for ${Math.round(silentMs / 1000)} s (death timeout ${o.deathTimeoutMs} ms); exiting`;
      logger.error({ code: ErrorCode.Broker }, reason);
      void stop(reason, 1, true);
      return;
    }
    if (beating) return;
    beating = true;
    withDeadline(heartbeat(), Math.max(200, settings.heartbeatMs * 2), () => new Error("heartbeat timed out"))
      .then((retire) => {
        lastContact = Date.now();
        if (retire) void stop("retired by the runner", 0, false);
      })
      .catch(() => {})
      .finally(() => {
        beating = false;
      });
  }, settings.heartbeatMs);

  let stopping = false;
  const stop = async (reason: string, exitCode: number, abandon: boolean) => {
    if (stopping) return;
    stopping = true;
    draining = reason;
    deferred.flushAll();
    if (!abandon) {
      phase("draining", reason);
      logger.info({ active }, `draining: ${reason}`);
      await bull.close();
      await heartbeat().catch(() => {});
      phase("exited", reason);
      await out.flush().catch(() => {});
    } else {
      void bull.close(true).catch(() => {});
    }
    clearInterval(timer);
    secrets.stop();
    restoreConsole();
    restoreOutput();
    control.disconnect();
    resolveExit({ exitCode, reason });
  };

  const onSignal = () => void stop("SIGTERM", 0, false);
  options.signal?.addEventListener("abort", onSignal, { once: true });
  await withDeadline(heartbeat(), o.deathTimeoutMs, lost).catch(() => {
    // The broker went quiet at once: the death-timeout check of the timer ends the worker.
  });
  phase("running");
  logger.info(
    { runId, concurrency: o.concurrency, fingerprint },
    `worker ${workerId} running flow "${flow.name}"`,
  );
  void bull.run().catch((e: unknown) => logger.error({ err: String(e) }, "the worker loop stopped"));
  const exit = await exited;
  options.signal?.removeEventListener("abort", onSignal);
  return exit;
}

function taskOf(flow: Flow, slug: string) {
  const node = flow.node(slug);
  if (node === undefined) {
    throw new FlotillaError(
      ErrorCode.Fingerprint,
      `flow "${flow.name}" has no task "${slug}" in this worker`,
    );
  }
  return node.task;
}

function failedResult(data: JobData, worker: string, error: unknown): TaskRunResult {
  const now = Date.now();
  return {
    slug: data.s,
    mapIndex: data.i,
    state: {
      type: "Failed",
      message: error instanceof Error ? error.message : String(error),
      error: serializeError(error),
    },
    attempts: data.a,
    startedAt: now,
    finishedAt: now,
    worker,
  };
}

async function connectWithin(
  broker: BrokerEndpoint,
  deathTimeoutMs: number,
  name: string,
): Promise<Redis | FlotillaError> {
  const deadline = Date.now() + deathTimeoutMs;
  for (;;) {
    try {
      return await connectBroker(broker, {
        connectTimeoutMs: Math.min(5000, deathTimeoutMs),
        connectionName: name,
      });
    } catch (error) {
      const e = error instanceof FlotillaError ? error : new FlotillaError(ErrorCode.Broker, String(error));
      if (/refused the password/.test(e.message) || Date.now() >= deadline) return e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function waitFor(
  read: () => Promise<string | null>,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  for (;;) {
    if (signal?.aborted) return undefined;
    const v = await read();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Route console output made inside a task run to that task's logger; restore with the returned function. */
function routeConsole(): () => void {
  const methods = ["log", "info", "warn", "error", "debug"] as const;
  const original = methods.map((m) => console[m]);
  const level = { log: "info", info: "info", warn: "warn", error: "error", debug: "debug" } as const;
  methods.forEach((m, i) => {
    const orig = original[i]!;
    console[m] = (...args: unknown[]) => {
      const ctx = currentContext();
      if (ctx === undefined) return orig.apply(console, args);
      ctx.logger[level[m]](format(...args));
    };
  });
  return () => {
    methods.forEach((m, i) => {
      console[m] = original[i]!;
    });
  };
}
