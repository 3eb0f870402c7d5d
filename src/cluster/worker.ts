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
import type { Redis } from "ioredis";
import { ErrorCode, FlotillaError, serializeError } from "../core/errors.ts";
import type { RunEvent, TaskRunResult } from "../core/executor.ts";
import { flowFingerprint } from "../core/fingerprint.ts";
import type { Flow } from "../core/flow.ts";
import type { FlowNode } from "../core/graph.ts";
import type { Logger } from "../core/logger.ts";
import { zod } from "../core/zod-on-demand.ts";
import { currentContext } from "../engine/context.ts";
import { settlesWithin, withDeadline } from "../engine/deadline.ts";
import { createLogger, type LogFormat } from "../engine/logging.ts";
import { runTask, type TaskRunnerEnv } from "../engine/task-runner.ts";
import { scrubProcessOutput } from "../secrets/process-output.ts";
import { loadFlowModule, selectFlow } from "../storage/module.ts";
import { BATCHING_DEFAULTS } from "./batching.ts";
import { type BrokerEndpoint, connectBroker, describeBroker } from "./broker.ts";
import { chainSuccessor, successorArgs } from "./chain.ts";
import { DeferredStarts } from "./deferred-starts.ts";
import { OutputStream } from "./output.ts";
import {
  DIRECT_STOP,
  type DirectJob,
  decodeDirect,
  decodeRun,
  doneMark,
  type EncodedRun,
  encodeRun,
  type JobData,
  PROTOCOL_VERSION,
  type RunSettings,
  type WorkerMessage,
  type WorkerPhase,
} from "./protocol.ts";
import { type JobConsumer, RedisRunChannel } from "./run-channel.ts";
import { SCALING_DEFAULTS, scalingFields } from "./scaling.ts";
import { WorkerSecrets } from "./secret-channel.ts";
import { systemTimers, type Timers } from "./timers.ts";

const z = zod();

/** Options of a worker, as given by the CLI or a test. */
export interface WorkerOptions {
  broker: BrokerEndpoint;
  /** The flow module to load (the same file as the runner's). */
  flowModule: string;
  /** The flow's name or export name, when the module exports several. */
  flow?: string;
  /** Task runs at once in this worker. @default 16 (SCALING_DEFAULTS.worker) */
  concurrency?: number;
  /** The run to work for. @default the broker's current run (`flotilla:current-run`) */
  runId?: string;
  /** This worker's id (a pod name in Kubernetes). @default `<hostname>-<pid>` */
  workerId?: string;
  /** Exit (code 1) when the broker has been unreachable this long, in ms. @default 30000 (SCALING_DEFAULTS.worker) */
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
  /**
   * Called once, when the worker starts serving the run (task runs may come from then on): what
   * only matters while tasks run starts here rather than compete with the worker's start-up.
   */
  onServing?: () => void;
  /** Clock and timers (tests). @default the global ones */
  timers?: Timers;
}

/** How a worker ended. */
export interface WorkerExit {
  exitCode: number;
  reason: string;
}

const OptionsSchema = z.object({
  concurrency: scalingFields.concurrency.default(SCALING_DEFAULTS.worker.concurrency),
  deathTimeoutMs: scalingFields.workerDeathTimeoutMs.default(SCALING_DEFAULTS.worker.workerDeathTimeoutMs),
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
export function runWorker(options: WorkerOptions): Promise<WorkerExit> {
  return new Worker(options).run();
}

/** What a worker knows once it joined a run. */
interface Joined {
  channel: RedisRunChannel;
  settings: RunSettings;
}

/**
 * One worker process's life, in phases: connect (retrying until the death timeout), join the run
 * (its id and settings), handshake (refuse a run of other code or protocol), serve (take jobs,
 * heartbeat, death timeout), drain (finish what runs, report, exit).
 */
export class Worker {
  readonly #options: WorkerOptions;
  readonly #o: ReturnType<typeof compileOptions>;
  readonly #timers: Timers;
  readonly #id: string;
  readonly #where: string;
  readonly #logger: Logger;
  #output: OutputStream | undefined;
  #starts: DeferredStarts | undefined;

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.#o = compileOptions(options);
    this.#timers = options.timers ?? systemTimers;
    this.#id = this.#o.workerId;
    this.#where = describeBroker(options.broker);
    this.#logger = this.#makeLogger();
  }

  /** Task log lines (those with a `task` field) go to the runner; all lines go to stderr. */
  #makeLogger(): Logger {
    const options = this.#options;
    const stderr = options.stderr ?? process.stderr;
    const forward = options.taskLogsToStderr ?? true;
    const fmt = options.logFormat ?? "json";
    const pretty = createLogger({ format: fmt, stream: stderr, base: { worker: this.#id } });
    return createLogger({
      format: "json",
      base: { worker: this.#id },
      stream: {
        write: (line: string) => {
          const isTask = line.includes('"task":');
          if (isTask && this.#output !== undefined) {
            // A task's log line follows its start.
            this.#starts?.flushAll();
            this.#output.push({ t: "log", line });
          }
          if (!isTask || forward) {
            if (fmt === "json") stderr.write(line);
            else pretty.info(JSON.parse(line) as object);
          }
        },
      },
    });
  }

  async run(): Promise<WorkerExit> {
    // The broker connection opens while the flow module loads (its round trips need no CPU).
    const giveUp = new AbortController();
    const connecting = this.#connect(giveUp.signal);
    let flow: Flow;
    try {
      flow = selectFlow(await loadFlowModule(this.#options.flowModule), this.#options.flow);
    } catch (error) {
      giveUp.abort();
      void connecting.then((c) => c instanceof FlotillaError || c.disconnect());
      throw error;
    }
    const fingerprint = flowFingerprint(flow);
    const control = await connecting;
    if (control instanceof FlotillaError) return { exitCode: 1, reason: control.message };
    const joined = await this.#join(control);
    if ("exitCode" in joined) return joined;
    const { channel, settings } = joined;
    this.#output = new OutputStream((entry, done) => channel.appendOutput(entry, done));
    const refusal = this.#handshake(settings, flow, fingerprint);
    if (refusal !== undefined) return this.#refuse(channel, refusal);
    return this.#serve(channel, settings, flow, fingerprint);
  }

  /** Connect, retrying until the death timeout: pods may start before the broker is up. */
  async #connect(giveUp: AbortSignal): Promise<Redis | FlotillaError> {
    const control = await connectWithin(
      this.#options.broker,
      this.#o.deathTimeoutMs,
      `flotilla-worker-${this.#id}`,
      this.#timers,
      giveUp,
    );
    if (control instanceof FlotillaError) return control;
    // Connection errors while the broker is away are expected; the death timeout decides.
    control.on("error", (e: Error) => this.#logger.debug({ err: e.message }, "broker connection error"));
    return control;
  }

  /** Until the run starts, a read that gets no answer for the death timeout means the broker is gone. */
  #lost = () =>
    new FlotillaError(
      ErrorCode.Broker,
      `the broker at ${this.#where} has been unreachable for ${this.#o.deathTimeoutMs} ms (death timeout) before the run started; exiting`,
    );

  /** Find the run (given, else the broker's current one) and wait for its settings. */
  async #join(control: Redis): Promise<Joined | WorkerExit> {
    const read =
      <T>(get: () => Promise<T | null>) =>
      () =>
        withDeadline(get(), this.#o.deathTimeoutMs, this.#lost);
    const signal = this.#options.signal;
    try {
      const runId =
        this.#o.runId ??
        (await waitFor(
          read(() => RedisRunChannel.currentRun(control)),
          signal,
          this.#timers,
        ));
      if (runId !== undefined) {
        const channel = new RedisRunChannel(control, this.#options.broker, runId);
        const settings = await waitFor(
          read(() => channel.settings()),
          signal,
          this.#timers,
        );
        if (settings !== undefined) return { channel, settings };
      }
    } catch (error) {
      control.disconnect();
      const reason = error instanceof Error ? error.message : String(error);
      this.#logger.error({ code: ErrorCode.Broker }, reason);
      return { exitCode: 1, reason };
    }
    control.disconnect();
    return { exitCode: 0, reason: "stopped before the run started" };
  }

  /** A worker that would misread the run refuses it: the reason, or undefined to serve it. */
  #handshake(settings: RunSettings, flow: Flow, fingerprint: string): string | undefined {
    if (settings.protocol !== PROTOCOL_VERSION) {
      return `worker ${this.#id} speaks Flotilla protocol ${PROTOCOL_VERSION} and the flow runner ${settings.protocol}`;
    }
    if (settings.fingerprint !== fingerprint) {
      return (
        `worker ${this.#id} runs different code than the flow runner: flow "${flow.name}" has fingerprint ` +
        `${fingerprint} in the worker and ${settings.fingerprint} in the runner`
      );
    }
    return undefined;
  }

  /** Tell the runner, which fails the run at once; exit 3. */
  async #refuse(channel: RedisRunChannel, refusal: string): Promise<WorkerExit> {
    const out = this.#output!;
    out.push({
      t: "fatal",
      worker: this.#id,
      error: serializeError(
        new FlotillaError(ErrorCode.Fingerprint, refusal, {
          hint: "run workers from the same image (or flow file) as the runner; rebuild and push the image if the flow changed",
        }),
      ),
    });
    this.#phase("exited", "refused the run: different code or protocol");
    await out.flush();
    channel.close();
    this.#logger.error({ code: ErrorCode.Fingerprint }, refusal);
    return { exitCode: 3, reason: refusal };
  }

  #phase(p: WorkerPhase, reason?: string): void {
    this.#output!.push({
      t: "phase",
      worker: this.#id,
      phase: p,
      ...(reason !== undefined ? { reason } : {}),
    });
  }

  /** Take jobs until drained, retired or the broker is lost for the death timeout. */
  async #serve(
    channel: RedisRunChannel,
    settings: RunSettings,
    flow: Flow,
    fingerprint: string,
  ): Promise<WorkerExit> {
    const serving = new Serving(this.#servingParts(channel, settings, flow));
    const onSignal = () => void serving.stop("SIGTERM", 0, false);
    const signal = this.#options.signal;
    signal?.addEventListener("abort", onSignal, { once: true });
    // a stop while starting (SIGTERM, the broker gone) ends the worker without waiting for the start
    const started = await Promise.race([serving.start().then(() => true), serving.exited.then(() => false)]);
    if (!started) {
      signal?.removeEventListener("abort", onSignal);
      return serving.exited;
    }
    this.#options.onServing?.();
    this.#logger.info(
      { runId: channel.runId, concurrency: this.#o.concurrency, fingerprint },
      `worker ${this.#id} running flow "${flow.name}"`,
    );
    const exit = await serving.exited;
    signal?.removeEventListener("abort", onSignal);
    return exit;
  }

  #servingParts(channel: RedisRunChannel, settings: RunSettings, flow: Flow): ServingParts {
    const out = this.#output!;
    const deferred = new DeferredStarts({
      delayMs: this.#o.startedEventDelayMs,
      send: (event) => out.push({ t: "event", event }),
    });
    this.#starts = deferred;
    return {
      id: this.#id,
      where: this.#where,
      broker: this.#options.broker,
      flow,
      channel,
      settings,
      out,
      deferred,
      logger: this.#logger,
      timers: this.#timers,
      concurrency: this.#o.concurrency,
      deathTimeoutMs: this.#o.deathTimeoutMs,
      lost: this.#lost,
      phase: (p, reason) => this.#phase(p, reason),
    };
  }
}

/** What the serving phase works with. */
interface ServingParts {
  id: string;
  where: string;
  broker: BrokerEndpoint;
  flow: Flow;
  channel: RedisRunChannel;
  settings: RunSettings;
  out: OutputStream;
  deferred: DeferredStarts;
  logger: Logger;
  timers: Timers;
  concurrency: number;
  deathTimeoutMs: number;
  lost: () => FlotillaError;
  phase: (p: WorkerPhase, reason?: string) => void;
}

/** The serving phase: the job consumer, the heartbeat with its death timeout, and the drain. */
class Serving {
  readonly #p: ServingParts;
  readonly #env: TaskRunnerEnv;
  readonly #consumer: JobConsumer;
  readonly #secrets: WorkerSecrets;
  /** The batches running now (a drain hands their unstarted members back). */
  readonly #batches = new Set<BatchRun>();
  /** The chain lane's read loop, and the lane jobs running. */
  #lane: Promise<void> = Promise.resolve();
  #laneReader: Redis | undefined;
  readonly #laneJobs = new Set<Promise<void>>();
  /** Each task's chain successor (chain.ts), null for none, as far as looked up. */
  readonly #successors = new Map<string, FlowNode | null>();
  #hops = 0;
  #active = 0;
  #draining: string | undefined;
  #stopping = false;
  #timer: unknown;
  #lastContact: number;
  #beating = false;
  /** Called by the heartbeat when the broker stops answering during a drain. */
  #onLostDuringDrain: (() => void) | undefined;
  #restoreConsole: () => void = () => {};
  #restoreOutput: () => void = () => {};
  #resolveExit!: (exit: WorkerExit) => void;
  readonly exited = new Promise<WorkerExit>((r) => {
    this.#resolveExit = r;
  });

  constructor(parts: ServingParts) {
    this.#p = parts;
    this.#lastContact = parts.timers.now();
    const onEvent = (event: RunEvent) => {
      if (event.type === "taskStarted") {
        parts.deferred.started(event);
        return;
      }
      if (event.type === "taskRetrying") parts.deferred.flushKey(event.slug, event.mapIndex);
      parts.out.push({ t: "event", event });
    };
    this.#env = {
      runId: parts.channel.runId,
      flow: parts.flow.name,
      logger: parts.logger,
      worker: parts.id,
      onEvent,
    };
    this.#secrets = new WorkerSecrets(parts.channel, (m) => parts.out.pushDurable(m));
    const s = parts.settings;
    this.#consumer = parts.channel.consume((job, data, started) => this.#process(job, data, started), {
      connectionName: `flotilla-worker-${parts.id}`,
      concurrency: parts.concurrency,
      lockDurationMs: s.lockDurationMs,
      stalledIntervalMs: s.stalledIntervalMs,
      maxStalledCount: s.maxStalledCount,
      onError: (e) => parts.logger.debug({ err: e.message }, "queue connection error"),
      onGaveUp: (job, data, err) => this.#gaveUp(job, data, err),
    });
  }

  /** Learn the run's secrets, route console output, beat once, report running and take jobs. */
  async start(): Promise<void> {
    const p = this.#p;
    // The run's secrets are scrubbed here before any task runs; those a task reads go to the runner.
    await withDeadline(this.#secrets.start(), p.deathTimeoutMs, p.lost).catch((e: unknown) => {
      p.logger.warn({ err: String(e) }, "could not read the run's secrets yet");
    });
    this.#restoreOutput = scrubProcessOutput();
    this.#restoreConsole = routeConsole();
    this.#timer = p.timers.setInterval(() => this.#tick(), p.settings.heartbeatMs);
    await withDeadline(this.#beat(), p.deathTimeoutMs, p.lost).catch(() => {
      // The broker went quiet at once: the death-timeout check of the timer ends the worker.
    });
    p.phase("running");
    void this.#consumer
      .run()
      .catch((e: unknown) => p.logger.error({ err: String(e) }, "the worker loop stopped"));
    this.#lane = this.#runLane();
  }

  /**
   * The chain lane: jobs the runner hands this worker directly (the successor of a task run it
   * just finished), read with BLPOP on a connection of their own, run like queue jobs. The runner
   * keeps each one until its result arrives and takes it back if this worker goes.
   */
  async #runLane(): Promise<void> {
    const p = this.#p;
    let reader: Redis;
    try {
      reader = await connectBroker(p.broker, { connectionName: `flotilla-worker-${p.id}-lane` });
    } catch (error) {
      p.logger.debug({ err: String(error) }, "no chain lane: cannot connect");
      return;
    }
    reader.on("error", () => {});
    this.#laneReader = reader;
    try {
      while (!this.#stopping) {
        let entry: string | null;
        try {
          entry = await p.channel.popDirect(reader, p.id, 1);
        } catch {
          if (this.#stopping) break;
          await new Promise((r) => p.timers.setTimeout(() => r(undefined), 100));
          continue;
        }
        if (entry === null) continue;
        if (entry === DIRECT_STOP) break;
        const job = decodeDirect(entry);
        this.#laneJob(this.#process(job.id, job.data, 1, false));
      }
    } finally {
      reader.disconnect();
      this.#laneReader = undefined;
    }
  }

  /** Track a job that did not come from the queue (the lane's, a chain's next hop) until it ends. */
  #laneJob(job: Promise<void>): void {
    const running = job.catch((e: unknown) =>
      this.#p.logger.error({ err: String(e) }, "a chain lane job failed"),
    );
    this.#laneJobs.add(running);
    void running.finally(() => this.#laneJobs.delete(running));
  }

  /**
   * The next hop of a chain this worker goes on with by itself (chain.ts) after `result`, the
   * Success of a lone task run `run`: its job, with the inputs the runner would send, or undefined.
   */
  #continuation(run: EncodedRun, result: TaskRunResult): DirectJob | undefined {
    const p = this.#p;
    if (p.settings.chain !== true || this.#stopping || result.state.type !== "Success" || run.i !== -1) {
      return undefined;
    }
    let next = this.#successors.get(run.s);
    if (next === undefined) {
      const node = p.flow.node(run.s);
      next = (node === undefined ? undefined : chainSuccessor(node)) ?? null;
      this.#successors.set(run.s, next);
    }
    if (next === null) return undefined;
    let r: EncodedRun;
    try {
      r = encodeRun({ slug: next.slug, mapIndex: -1, attempt: 1, args: successorArgs(next, result) });
    } catch {
      return undefined; // the result cannot travel: the runner hears of it as a failure
    }
    return { id: `${next.slug}#-1~${p.id}.${++this.#hops}`, data: { r: [r] } };
  }

  /** End the lane's read loop, hand back what is left on it, wait for its jobs. */
  async #closeLane(ioMs: number): Promise<void> {
    const p = this.#p;
    const bounded = <T>(io: Promise<T>, otherwise: T) =>
      withDeadline(io, ioMs, () => new Error("timeout")).catch(() => otherwise);
    await bounded(p.channel.pushDirect(p.id, DIRECT_STOP), undefined);
    await settlesWithin(this.#lane, 2000);
    const left = (await bounded(p.channel.takeDirect(p.id), [] as string[]))
      .filter((e) => e !== DIRECT_STOP)
      .flatMap((e) => decodeDirect(e).data.r);
    if (left.length > 0) {
      await bounded(p.out.pushDurable({ t: "returned", runs: left, slug: left[0]!.s, ms: 0 }), undefined);
    }
    await Promise.all(this.#laneJobs);
  }

  /**
   * Run a job's task runs (a batch), one after the other; each result is stored, with its done
   * mark, before the job is acknowledged. A job run again after its worker was lost skips the
   * members already reported and counts the attempt of the others. Members not started when the
   * batch has run longer than the hand-back time (or when the worker drains) go back to the runner.
   * `queued`: a job of the queue, which BullMQ may run again (the chain lane's jobs never are: the
   * runner sends what a lost worker held as new jobs), so its members' results carry done marks.
   */
  async #process(job: string, data: JobData, attemptsStarted: number, queued = true): Promise<void> {
    const p = this.#p;
    await this.#secrets.catchUp(data.v);
    let runs = data.r;
    if (attemptsStarted > 1) {
      const open = await p.channel.notDone(runs.map((r) => doneMark(job, r)));
      runs = runs.filter((_, k) => open[k]);
    }
    // A task run that lost its worker starts again with its attempt counted.
    const lost = Math.max(0, attemptsStarted - 1);
    const batch = new BatchRun(
      job,
      runs,
      lost,
      p.out,
      p.timers,
      BATCHING_DEFAULTS.handBackMs,
      () => this.#batches.size,
    );
    this.#batches.add(batch);
    const stored: Promise<void>[] = [];
    try {
      let turn = p.timers.now();
      for (let k = 0; k < runs.length; k++) {
        if (!batch.begin(k)) break;
        const run = runs[k]!;
        try {
          const lone = runs.length === 1;
          const hop = await this.#runMember(run, lost, queued ? [doneMark(job, run)] : [], lone, lone);
          stored.push(hop.stored);
          // A chain goes on here, as a job of its own (this one is acknowledged once stored).
          if (hop.next !== undefined) this.#laneJob(this.#goOn(hop.next));
        } finally {
          batch.finished();
        }
        // Tiny synchronous tasks never yield: let timers, I/O and other jobs in now and then.
        if (p.timers.now() - turn >= YIELD_MS) {
          await new Promise((r) => setImmediate(r));
          turn = p.timers.now();
        }
      }
    } finally {
      batch.end();
      this.#batches.delete(batch);
    }
    stored.push(batch.handedBack);
    await Promise.all(stored);
  }

  /**
   * Run one task run and queue its result (with `marks`); `urgent`: write it now rather than at
   * the end of the turn. With `chain`, the result of a lone task run may name the successor this
   * worker goes on with (chain.ts), returned as `next`.
   */
  async #runMember(
    run: EncodedRun,
    lost: number,
    marks: readonly string[],
    urgent: boolean,
    chain: boolean,
  ): Promise<{ stored: Promise<void>; next: DirectJob | undefined }> {
    const p = this.#p;
    this.#active++;
    try {
      let result: TaskRunResult;
      try {
        const request = decodeRun(run);
        request.attempt += lost;
        result = await runTask(taskOf(p.flow, request.slug), request, this.#env);
      } catch (error) {
        result = failedResult(run, p.id, error);
      }
      const started = p.deferred.take(result.slug, result.mapIndex);
      const next = chain ? this.#continuation(run, result) : undefined;
      const message: Extract<WorkerMessage, { t: "result" }> = { t: "result", result };
      if (started !== undefined) message.started = started;
      if (next !== undefined) message.c = next.data.r[0]!.s;
      return { stored: p.out.pushDurable(message, marks, urgent), next };
    } finally {
      this.#active--;
    }
  }

  /**
   * Go on with a chain: run each hop as soon as the one before it succeeded, for as long as each
   * has a chain successor, yielding to I/O every CHAIN_YIELD_MS (its results go out in one entry
   * per turn then, and the runner reads them while the next ones run). Ends once every result is stored.
   */
  async #goOn(first: DirectJob): Promise<void> {
    const p = this.#p;
    const stored: Promise<void>[] = [];
    let job: DirectJob | undefined = first;
    let turn = p.timers.now();
    while (job !== undefined) {
      const hop: { stored: Promise<void>; next: DirectJob | undefined } = await this.#runMember(
        job.data.r[0]!,
        0,
        [],
        false,
        true,
      );
      stored.push(hop.stored);
      job = hop.next;
      if (job === undefined || p.timers.now() - turn >= CHAIN_YIELD_MS) {
        await new Promise((r) => setImmediate(r));
        turn = p.timers.now();
      }
    }
    await Promise.all(stored);
  }

  /** BullMQ gave up on a job: a task run whose worker was lost too often (members reported or handed back excepted). */
  #gaveUp(job: string, data: JobData, err: Error): void {
    const p = this.#p;
    void p.channel
      .notDone(data.r.map((r) => doneMark(job, r)))
      .catch(() => data.r.map(() => true))
      .then((open) => {
        data.r.forEach((run, k) => {
          if (!open[k]) return;
          const at = run.i >= 0 ? `${run.s}[${run.i}]` : run.s;
          p.out.push({
            t: "result",
            result: failedResult(
              run,
              p.id,
              new FlotillaError(
                ErrorCode.WorkerStart,
                `task run "${at}" lost its worker more than ${p.settings.maxStalledCount} times (${err.message}); ` +
                  "a worker died or blocked its event loop longer than the lock duration",
              ),
            ),
          });
        });
      });
  }

  /** Write the heartbeat; true when the runner asked this worker to retire. */
  #beat(): Promise<boolean> {
    const p = this.#p;
    return p.channel.beat(p.id, {
      // a worker holding a batch is busy even between two of its members
      active: Math.max(this.#active, this.#batches.size),
      concurrency: p.concurrency,
      phase: this.#draining ? "draining" : "running",
      at: p.timers.now(),
      pid: process.pid,
      host: hostname(),
    });
  }

  /** Every heartbeat period: end the worker after the death timeout, else beat (one at a time). */
  #tick(): void {
    const p = this.#p;
    const silentMs = p.timers.now() - this.#lastContact;
    if (this.#onLostDuringDrain !== undefined && silentMs > drainLostMs(p)) {
      this.#onLostDuringDrain();
      return;
    }
    if (silentMs > p.deathTimeoutMs) {
      const reason = `the broker at ${p.where} has been unreachable for ${Math.round(silentMs / 1000)} s (death timeout ${p.deathTimeoutMs} ms); exiting`;
      p.logger.error({ code: ErrorCode.Broker }, reason);
      void this.stop(reason, 1, true);
      return;
    }
    if (this.#beating) return;
    this.#beating = true;
    withDeadline(
      this.#beat(),
      Math.max(200, p.settings.heartbeatMs * 2),
      () => new Error("heartbeat timed out"),
    )
      .then((retire) => {
        this.#lastContact = p.timers.now();
        if (retire) void this.stop("retired by the runner", 0, false);
      })
      .catch(() => {})
      .finally(() => {
        this.#beating = false;
      });
  }

  /**
   * Drain (finish the task runs in progress, report, exit) or, with `abandon`, stop at once. A
   * drain whose broker does not answer (or stops answering) stops at once too, exit code 1: what
   * runs could be neither reported nor handed back, and waiting would only use up the grace period.
   */
  async stop(reason: string, exitCode: number, abandon: boolean): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    const p = this.#p;
    this.#draining = reason;
    p.deferred.flushAll();
    for (const batch of this.#batches) batch.handBack();
    const exit = abandon ? this.#abandon({ exitCode, reason }) : await this.#drain(reason, exitCode);
    p.timers.clearInterval(this.#timer);
    this.#secrets.stop();
    this.#restoreConsole();
    this.#restoreOutput();
    p.channel.close();
    this.#resolveExit(exit);
  }

  /** Close the consumer and the lane without waiting for them (their connections may be dead). */
  #abandon(exit: WorkerExit): WorkerExit {
    this.#laneReader?.disconnect();
    void this.#consumer.close(true).catch(() => {});
    return exit;
  }

  /** The drain, for as long as the broker answers; every write of it is bounded. */
  async #drain(reason: string, exitCode: number): Promise<WorkerExit> {
    const p = this.#p;
    const brokerGone = (how: string): WorkerExit => {
      const why = `${reason}: the broker at ${p.where} ${how}, so the ${this.#active} task run(s) in progress can be neither reported nor handed back; exiting`;
      p.logger.error({ code: ErrorCode.Broker }, why);
      return this.#abandon({ exitCode: 1, reason: why });
    };
    if (!(await p.channel.reachable(probeMs(p)))) return brokerGone("does not answer");
    const lost = new Promise<false>((resolve) => {
      this.#onLostDuringDrain = () => resolve(false);
    });
    p.phase("draining", reason);
    p.logger.info({ active: this.#active }, `draining: ${reason}`);
    const ioMs = drainLostMs(p);
    const drained = (async () => {
      // Both at once: the queue's consumer takes no new job while the lane's last ones finish.
      await Promise.all([this.#closeLane(ioMs), this.#consumer.close()]);
      await withDeadline(this.#beat(), ioMs, () => new Error("timeout")).catch(() => {});
      p.phase("exited", reason);
      await withDeadline(p.out.flush(), ioMs, () => new Error("timeout")).catch(() => {});
      return true as const;
    })();
    const ended = await Promise.race([drained, lost]);
    this.#onLostDuringDrain = undefined;
    if (!ended) return brokerGone(`stopped answering for ${drainLostMs(p)} ms during the drain`);
    return { exitCode, reason };
  }
}

/** How long a worker waits for the broker's answer to a PING when a drain starts, in ms. */
const probeMs = (p: ServingParts) => Math.max(1000, 2 * p.settings.heartbeatMs);
/** Silence of the broker that ends a drain (and the bound of each of its writes), in ms. */
const drainLostMs = (p: ServingParts) =>
  Math.min(p.deathTimeoutMs, Math.max(2000, 4 * p.settings.heartbeatMs));

/** Yield to the event loop after this long of back-to-back task runs, in ms. */
const YIELD_MS = 5;
/** A chain's hops yield sooner: their results go out at each yield, and the runner waits for them. */
const CHAIN_YIELD_MS = 1;

/**
 * One job's batch as a worker runs it: which member may start next, and the hand-back of the
 * members not started once the batch has used `handBackMs` of its own run time, or at once when
 * the worker drains. Its own time is its members' time, each shared with the batches that ran
 * beside it on this worker (they interleave at every await), so ten batches of tiny tasks side by
 * side are not taken for slow ones; checked between members and by a timer while a member runs
 * (a slow one, or one waiting out a retry delay). Handed-back members are marked done in this job with the `returned`
 * message, so a re-run of the job skips them.
 */
class BatchRun {
  readonly #job: string;
  readonly #runs: readonly EncodedRun[];
  readonly #lost: number;
  readonly #out: OutputStream;
  readonly #timers: Timers;
  readonly #handBackMs: number;
  /** How many batches run on this worker now (this one included). */
  readonly #beside: () => number;
  /** Run time of the finished members, ms. */
  #usedMs = 0;
  /** When the running member started, or undefined between members. */
  #memberStartedAt: number | undefined;
  #lastMemberMs = 0;
  #current = -1;
  #cutoff: number;
  #timer: unknown;
  handedBack: Promise<void> = Promise.resolve();

  constructor(
    job: string,
    runs: readonly EncodedRun[],
    lost: number,
    out: OutputStream,
    timers: Timers,
    handBackMs: number,
    beside: () => number,
  ) {
    this.#beside = beside;
    this.#job = job;
    this.#runs = runs;
    this.#lost = lost;
    this.#out = out;
    this.#timers = timers;
    this.#handBackMs = handBackMs;
    this.#cutoff = runs.length;
    if (runs.length > 1) this.#arm(handBackMs);
  }

  /** May member `k` start? False once the rest was handed back. */
  begin(k: number): boolean {
    if (k >= this.#cutoff) return false;
    if (k > 0 && this.#usedMs >= this.#handBackMs) {
      this.#handBackFrom(k, this.#lastMemberMs);
      return false;
    }
    this.#current = k;
    this.#memberStartedAt = this.#timers.now();
    return true;
  }

  /** The member that began last has finished. */
  finished(): void {
    if (this.#memberStartedAt === undefined) return;
    this.#lastMemberMs = (this.#timers.now() - this.#memberStartedAt) / Math.max(1, this.#beside());
    this.#usedMs += this.#lastMemberMs;
    this.#memberStartedAt = undefined;
  }

  /** Hand back every member after the one running now. */
  handBack(): void {
    this.#handBackFrom(
      this.#current + 1,
      this.#memberStartedAt === undefined ? this.#lastMemberMs : this.#running(),
    );
  }

  /** The running member's share of time so far, ms. */
  #running(): number {
    if (this.#memberStartedAt === undefined) return 0;
    return (this.#timers.now() - this.#memberStartedAt) / Math.max(1, this.#beside());
  }

  end(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cutoff = Math.min(this.#cutoff, this.#current + 1);
  }

  #arm(ms: number): void {
    this.#timer = this.#timers.setTimeout(() => this.#onTimer(), ms);
  }

  /** While a member runs: hand back once the batch's own time is used up, else look again then. */
  #onTimer(): void {
    this.#timer = undefined;
    if (this.#current + 1 >= this.#cutoff) return;
    const left = this.#handBackMs - this.#usedMs - this.#running();
    if (left <= 0 && this.#memberStartedAt !== undefined) this.handBack();
    else this.#arm(Math.max(1, left));
  }

  #handBackFrom(k: number, heldMs: number): void {
    if (k >= this.#cutoff) return;
    const rest = this.#runs.slice(k, this.#cutoff);
    this.#cutoff = k;
    const slug = this.#runs[Math.max(0, k - 1)]!.s;
    this.handedBack = this.#out.pushDurable(
      { t: "returned", runs: rest.map((r) => ({ ...r, a: r.a + this.#lost })), slug, ms: heldMs },
      rest.map((r) => doneMark(this.#job, r)),
    );
  }
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

function failedResult(data: EncodedRun, worker: string, error: unknown): TaskRunResult {
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
  timers: Timers,
  giveUp: AbortSignal,
): Promise<Redis | FlotillaError> {
  const deadline = timers.now() + deathTimeoutMs;
  for (;;) {
    try {
      return await connectBroker(broker, {
        connectTimeoutMs: Math.min(5000, deathTimeoutMs),
        connectionName: name,
      });
    } catch (error) {
      const e = error instanceof FlotillaError ? error : new FlotillaError(ErrorCode.Broker, String(error));
      if (/refused the password/.test(e.message) || timers.now() >= deadline || giveUp.aborted) return e;
      // a local broker may still be starting beside its first workers: look again soon
      await new Promise((r) => timers.setTimeout(() => r(undefined), 50));
    }
  }
}

async function waitFor<T>(
  read: () => Promise<T | null>,
  signal: AbortSignal | undefined,
  timers: Timers,
): Promise<T | undefined> {
  for (;;) {
    if (signal?.aborted) return undefined;
    const v = await read();
    if (v !== null) return v;
    await new Promise((r) => timers.setTimeout(() => r(undefined), 25));
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
