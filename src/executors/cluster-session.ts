// One cluster run as ClusterExecutor carries it out, in named parts: the cluster (workers and
// broker, when the executor has one), the run settings, the batcher (ready task runs of a slug cut
// into queue jobs of many task runs, sized by the task's observed duration: batching.ts), the
// submitter (jobs to the queue, many per addBulk, per event-loop turn), the output reader
// (results, events, logs, handed-back task runs from the run's one stream), the broker-loss
// watch, and close. Every Redis operation goes through the run channel.
//
// Invariants: the run settings are in the broker before the first job; each submitted task run is
// reported exactly once (duplicates from a lost worker are dropped); task runs a worker hands back
// go out again in new jobs, their attempt unchanged; a broker unreachable for
// longer than `brokerLostTimeoutMs` fails the run with an error naming the broker; `close()`
// releases queue, connections and cluster, whatever state they are in.

import type { Redis } from "ioredis";
import { BATCHING_DEFAULTS, batchSize, cut, DurationEstimates } from "../cluster/batching.ts";
import { type BrokerEndpoint, connectBroker, describeBroker } from "../cluster/broker.ts";
import type { Cluster, ClusterSession } from "../cluster/cluster.ts";
import {
  batchJobId,
  type EncodedRun,
  encodeDirect,
  encodeRun,
  PROTOCOL_VERSION,
  type RunSettings,
  taskRunKey,
  type WorkerMessage,
} from "../cluster/protocol.ts";
import { RedisRunChannel, type SubmitJob } from "../cluster/run-channel.ts";
import { RunnerSecrets } from "../cluster/secret-channel.ts";
import { systemTimers, type Timers } from "../cluster/timers.ts";
import { ErrorCode, FlotillaError, type SerializedError, serializeError } from "../core/errors.ts";
import type { ExecutorContext, ExecutorSession, TaskRunRequest } from "../core/executor.ts";
import { settlesWithin } from "../engine/deadline.ts";
import { relayLogLine } from "../engine/logging.ts";

/** The compiled ClusterExecutor options a session uses. */
export interface SessionOptions {
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  heartbeatMs: number;
  brokerLostTimeoutMs: number;
  submitBatchSize: number;
  /** The most task runs one queue job carries (1: one job per task run). */
  maxBatchSize: number;
}

/** The runner's side of a cluster run. */
export class ClusterRunSession implements ExecutorSession {
  readonly #ctx: ExecutorContext;
  readonly #cluster: ClusterSession | undefined;
  readonly #channel: RedisRunChannel;
  readonly #submitter: Submitter;
  readonly #reader: OutputReader;
  readonly #watch: BrokerWatch;
  readonly #secrets: RunnerSecrets;
  readonly #batcher: Batcher;
  readonly #lane: ChainLane;
  /** Task run keys submitted and not reported yet. */
  readonly #pending: Set<string>;
  #closed = false;

  private constructor(parts: {
    ctx: ExecutorContext;
    cluster: ClusterSession | undefined;
    channel: RedisRunChannel;
    submitter: Submitter;
    reader: OutputReader;
    watch: BrokerWatch;
    secrets: RunnerSecrets;
    batcher: Batcher;
    lane: ChainLane;
    pending: Set<string>;
  }) {
    this.#ctx = parts.ctx;
    this.#cluster = parts.cluster;
    this.#channel = parts.channel;
    this.#submitter = parts.submitter;
    this.#reader = parts.reader;
    this.#watch = parts.watch;
    this.#secrets = parts.secrets;
    this.#batcher = parts.batcher;
    this.#lane = parts.lane;
    this.#pending = parts.pending;
  }

  /** Start the cluster (if any), connect, publish the settings, then read and submit. */
  static async open(
    ctx: ExecutorContext,
    o: SessionOptions,
    cluster: Cluster | undefined,
    broker: BrokerEndpoint | undefined,
    timers: Timers = systemTimers,
  ): Promise<ClusterRunSession> {
    const pending = new Set<string>();
    const fatal = new FatalOnce(ctx);
    let session: ClusterSession | undefined;
    let redis: Redis | undefined;
    let reader: Redis | undefined;
    let channel: RedisRunChannel | undefined;
    let secrets: RunnerSecrets | undefined;
    try {
      let lane: ChainLane | undefined;
      session = await startCluster(ctx, cluster, pending, fatal, (w, failed) => lane?.gone(w, failed));
      const endpoint = session?.broker ?? broker!;
      const where = describeBroker(endpoint);
      redis = await connectBroker(endpoint, { connectionName: "flotilla-runner" });
      reader = await connectBroker(endpoint, { connectionName: "flotilla-runner-reader" });
      channel = new RedisRunChannel(redis, endpoint, ctx.runId);
      // The secrets this process knows are in the run's set before any worker reads the settings.
      secrets = new RunnerSecrets(channel);
      await secrets.start();
      // Only a cluster reports its workers' ends, which the lane and chains need to take back what they hold.
      await channel.publishSettings(runSettings(ctx, o, session !== undefined));
      const watch = new BrokerWatch([redis, reader], o.brokerLostTimeoutMs, timers, () =>
        fatal.fail(
          new FlotillaError(
            ErrorCode.Broker,
            `lost the broker at ${where}: unreachable for more than ${o.brokerLostTimeoutMs} ms`,
            { hint: "the broker (Redis) stopped or the network to it failed; run the flow again" },
          ),
        ),
      );
      const submitter = new Submitter(channel, secrets, o.submitBatchSize, (error) =>
        fatal.fail(
          new FlotillaError(
            ErrorCode.Broker,
            `cannot submit task runs to the broker at ${where}: ${String(error)}`,
            {
              cause: error,
            },
          ),
        ),
      );
      const batcher = new Batcher(submitter, secrets, o.maxBatchSize);
      // Only a cluster reports its workers' ends, which the lane needs to take back what it handed out.
      lane = new ChainLane(channel, batcher, secrets, pending, session !== undefined);
      const handler = new MessageHandler(ctx, pending, fatal, session, secrets, batcher, lane);
      const output = new OutputReader(channel, reader, (m) => handler.handle(m), timers);
      const opened = new ClusterRunSession({
        ctx,
        cluster: session,
        channel,
        submitter,
        reader: output,
        watch,
        secrets,
        batcher,
        lane,
        pending,
      });
      fatal.session = opened;
      return opened;
    } catch (error) {
      fatal.closed = true;
      secrets?.stop();
      reader?.disconnect();
      redis?.disconnect();
      await settlesWithin(channel?.closeQueue() ?? Promise.resolve(), 2000);
      await settlesWithin(session?.close() ?? Promise.resolve(), 30000);
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  submit(runs: readonly TaskRunRequest[]): void {
    const encoded: EncodedRun[] = [];
    for (const run of runs) {
      try {
        encoded.push(encodeRun(run));
      } catch (error) {
        this.#unsendable(run, error);
        continue;
      }
      this.#pending.add(taskRunKey(run.slug, run.mapIndex));
    }
    // A lone successor of the result being handled goes straight to the worker that produced it.
    if (encoded.length === 1 && this.#lane.send(encoded[0]!)) {
      this.#cluster?.demandChanged();
      return;
    }
    this.#batcher.enqueue(encoded, false);
    this.#cluster?.demandChanged();
  }

  /** A task run whose inputs cannot be serialised fails here, as its result. */
  #unsendable(run: TaskRunRequest, error: unknown): void {
    const at = run.mapIndex >= 0 ? `${run.slug}[${run.mapIndex}]` : run.slug;
    const now = Date.now();
    queueMicrotask(() =>
      this.#ctx.onResult({
        slug: run.slug,
        mapIndex: run.mapIndex,
        attempts: 0,
        startedAt: now,
        finishedAt: now,
        state: {
          type: "Failed",
          message: `the inputs of task run "${at}" cannot be sent to a worker: ${error instanceof Error ? error.message : String(error)}`,
          error: serializeError(error),
        },
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lane.stop();
    this.#watch.stop();
    this.#secrets.stop();
    this.#submitter.stop();
    await settlesWithin(this.#reader.stop(), 1000);
    // Queue and connections first, while the broker is still there: closed after a cluster
    // stopped its broker, they would wait out their timeouts reconnecting to nothing.
    if (this.#cluster === undefined) {
      // A shared broker: leave it clean.
      await settlesWithin(this.#channel.clear(), 2000);
    }
    await settlesWithin(this.#channel.closeQueue(), 2000);
    this.#channel.close();
    await settlesWithin(this.#cluster?.close() ?? Promise.resolve(), 30000);
  }
}

/** The settings the runner publishes for its workers. */
function runSettings(ctx: ExecutorContext, o: SessionOptions, chain: boolean): RunSettings {
  return {
    protocol: PROTOCOL_VERSION,
    runId: ctx.runId,
    flow: ctx.flow.name,
    fingerprint: ctx.fingerprint,
    lockDurationMs: o.lockDurationMs,
    stalledIntervalMs: o.stalledIntervalMs,
    maxStalledCount: o.maxStalledCount,
    heartbeatMs: o.heartbeatMs,
    chain,
  };
}

/** Start the executor's cluster for this run, if it has one. */
async function startCluster(
  ctx: ExecutorContext,
  cluster: Cluster | undefined,
  pending: Set<string>,
  fatal: FatalOnce,
  gone: (workerId: string, failed: boolean) => void,
): Promise<ClusterSession | undefined> {
  if (cluster === undefined) return undefined;
  const flow = ctx.flow;
  if (flow.modulePath === undefined) {
    throw new FlotillaError(
      ErrorCode.OptionsInvalid,
      `ClusterExecutor: flow "${flow.name}" was not loaded from a module file, so workers cannot load it`,
      { hint: "export the flow from a .ts/.js module and load it with loadFlowModule (the CLI does)" },
    );
  }
  return cluster.start(
    {
      runId: ctx.runId,
      flowName: flow.name,
      flowModule: flow.modulePath,
      fingerprint: ctx.fingerprint,
      logger: ctx.logger,
    },
    {
      outstanding: () => pending.size,
      onEvent: (e) => ctx.onEvent(e),
      onFatal: (e) => fatal.report(e),
      onWorkerGone: gone,
    },
  );
}

/** The run's fatal error, reported once and never after close. */
class FatalOnce {
  readonly #ctx: ExecutorContext;
  session: ClusterRunSession | undefined;
  closed = false;
  #reported = false;

  constructor(ctx: ExecutorContext) {
    this.#ctx = ctx;
  }

  report(error: SerializedError): void {
    if (this.closed || this.session?.closed || this.#reported) return;
    this.#reported = true;
    this.#ctx.onFatal(error);
  }

  fail(error: FlotillaError): void {
    this.report(serializeError(error));
  }
}

/** What each message of the output stream does on the runner. */
class MessageHandler {
  readonly #ctx: ExecutorContext;
  readonly #pending: Set<string>;
  readonly #fatal: FatalOnce;
  readonly #cluster: ClusterSession | undefined;
  readonly #secrets: RunnerSecrets;
  readonly #batcher: Batcher;
  readonly #lane: ChainLane;

  constructor(
    ctx: ExecutorContext,
    pending: Set<string>,
    fatal: FatalOnce,
    cluster: ClusterSession | undefined,
    secrets: RunnerSecrets,
    batcher: Batcher,
    lane: ChainLane,
  ) {
    this.#lane = lane;
    this.#ctx = ctx;
    this.#pending = pending;
    this.#fatal = fatal;
    this.#cluster = cluster;
    this.#secrets = secrets;
    this.#batcher = batcher;
  }

  handle(m: WorkerMessage): void {
    const ctx = this.#ctx;
    switch (m.t) {
      case "result": {
        const r = m.result;
        const key = taskRunKey(r.slug, r.mapIndex);
        if (!this.#pending.delete(key)) return; // a duplicate from a lost worker
        this.#lane.reported(key);
        this.#batcher.estimates.observe(r.slug, r.finishedAt - r.startedAt);
        if (m.started !== undefined) {
          // A start the worker held back (the task run finished within its delay).
          ctx.onEvent({
            type: "taskStarted",
            slug: m.result.slug,
            mapIndex: m.result.mapIndex,
            attempt: m.started,
            ...(m.result.worker !== undefined ? { worker: m.result.worker } : {}),
          });
        }
        // What the flow runner submits now, in answer to this result, may go back to its worker
        // (or the worker already went on with it: `c`).
        this.#lane.replyTo = r.worker;
        this.#lane.continued = m.c;
        try {
          ctx.onResult(r);
        } finally {
          this.#lane.replyTo = undefined;
          this.#lane.continued = undefined;
        }
        return;
      }
      case "returned": {
        // A worker gave back task runs of a batch it had not started: they go out again.
        if (m.ms > 0) this.#batcher.estimates.observe(m.slug, m.ms);
        const open = m.runs.filter((r) => this.#pending.has(taskRunKey(r.s, r.i)));
        for (const r of open) this.#lane.reported(taskRunKey(r.s, r.i));
        this.#batcher.enqueue(open, true);
        return;
      }
      case "event":
        ctx.onEvent(m.event);
        return;
      case "log":
        relayLog(ctx, m.line);
        return;
      case "fatal":
        this.#fatal.report(m.error); // as the worker sent it: code, message and hint
        return;
      case "phase":
        this.#lane.phase(m.worker, m.phase);
        this.#cluster?.observe(m.worker, m.phase, m.reason);
        return;
      case "secret":
        this.#secrets.heard(m.value);
        return;
    }
  }
}

/**
 * The chain lane, runner side: a task run that is the lone successor of the result being handled
 * goes straight onto the list of the worker that produced that result (run-channel.ts
 * `directKey`), skipping the queue's round trips; the worker reads it with BLPOP. The runner keeps
 * each one until its result (or a hand-back) arrives; when that worker goes, what it had not
 * reported goes to the queue (its attempt counted if the worker failed, as for a lost queue job).
 */
class ChainLane {
  /** The worker whose result is being handled (set around the flow runner's answer to it). */
  replyTo: string | undefined;
  /** The slug of the chain successor that worker went on with after that result, if it did. */
  continued: string | undefined;
  readonly #channel: RedisRunChannel;
  readonly #batcher: Batcher;
  readonly #secrets: RunnerSecrets;
  readonly #pending: Set<string>;
  #enabled: boolean;
  /** Workers that are running (not draining). */
  readonly #running = new Set<string>();
  /** Workers the cluster reported gone, and whether they failed. */
  readonly #gone = new Map<string, boolean>();
  /** Task runs handed to each worker and not reported yet. */
  readonly #handed = new Map<string, Map<string, EncodedRun>>();
  readonly #workerOf = new Map<string, string>();
  #seq = 0;

  constructor(
    channel: RedisRunChannel,
    batcher: Batcher,
    secrets: RunnerSecrets,
    pending: Set<string>,
    enabled: boolean,
  ) {
    this.#channel = channel;
    this.#batcher = batcher;
    this.#secrets = secrets;
    this.#pending = pending;
    this.#enabled = enabled;
  }

  phase(worker: string, phase: string): void {
    if (phase === "running") this.#running.add(worker);
    else this.#running.delete(worker);
  }

  /**
   * Hand `run` to the worker being answered, or keep it as that worker's when it already went on
   * with it (a chain's next hop); false when the lane cannot take it.
   */
  send(run: EncodedRun): boolean {
    const worker = this.replyTo;
    if (!this.#enabled || worker === undefined) return false;
    const key = taskRunKey(run.s, run.i);
    if (this.continued === run.s && run.i === -1) {
      const failed = this.#gone.get(worker);
      if (failed !== undefined) {
        // It went on with it and is gone since: the queue runs it, its attempt counted if it failed.
        this.#batcher.enqueue([failed ? { ...run, a: run.a + 1 } : run], true);
        return true;
      }
      this.#hold(worker, key, run);
      return true;
    }
    if (!this.#running.has(worker)) return false;
    this.#hold(worker, key, run);
    const v = this.#secrets.version;
    const id = `${key}~${++this.#seq}`;
    // every secret the job's version counts is in the broker before the job
    void this.#secrets
      .settled()
      .then(() =>
        this.#channel.pushDirect(worker, encodeDirect({ id, data: v > 0 ? { r: [run], v } : { r: [run] } })),
      )
      .catch(() => this.#takeBack(worker, false));
    return true;
  }

  /** `run` is `worker`'s until reported. */
  #hold(worker: string, key: string, run: EncodedRun): void {
    let handed = this.#handed.get(worker);
    if (handed === undefined) {
      handed = new Map();
      this.#handed.set(worker, handed);
    }
    handed.set(key, run);
    this.#workerOf.set(key, worker);
  }

  /** A result or a hand-back of `key` arrived. */
  reported(key: string): void {
    const worker = this.#workerOf.get(key);
    if (worker === undefined) return;
    this.#workerOf.delete(key);
    this.#handed.get(worker)?.delete(key);
  }

  /** A worker is gone: what it was handed and did not report goes to the queue. */
  gone(worker: string, failed: boolean): void {
    this.#running.delete(worker);
    this.#gone.set(worker, failed);
    this.#takeBack(worker, failed);
    if (this.#enabled) void this.#channel.dropDirect(worker).catch(() => {});
  }

  stop(): void {
    this.#enabled = false;
  }

  #takeBack(worker: string, failed: boolean): void {
    const handed = this.#handed.get(worker);
    if (handed === undefined || !this.#enabled) return;
    this.#handed.delete(worker);
    const back: EncodedRun[] = [];
    for (const [key, run] of handed) {
      this.#workerOf.delete(key);
      if (this.#pending.has(key)) back.push(failed ? { ...run, a: run.a + 1 } : run);
    }
    if (back.length > 0) this.#batcher.enqueue(back, true);
  }
}

/** Cuts ready task runs into jobs of many, per slug, sized by the slug's estimated duration. */
class Batcher {
  readonly estimates = new DurationEstimates();
  readonly #submitter: Submitter;
  readonly #secrets: RunnerSecrets;
  readonly #options: typeof BATCHING_DEFAULTS;
  #seq = 0;

  constructor(submitter: Submitter, secrets: RunnerSecrets, maxBatchSize: number) {
    this.#submitter = submitter;
    this.#secrets = secrets;
    this.#options = { ...BATCHING_DEFAULTS, maxBatch: maxBatchSize };
  }

  /** `again`: task runs handed back by a worker (their jobs get new ids). */
  enqueue(runs: readonly EncodedRun[], again: boolean): void {
    const bySlug = new Map<string, EncodedRun[]>();
    for (const run of runs) {
      const list = bySlug.get(run.s);
      if (list === undefined) bySlug.set(run.s, [run]);
      else list.push(run);
    }
    const v = this.#secrets.version;
    for (const [slug, list] of bySlug) {
      const size = batchSize(list.length, this.estimates.get(slug), this.#options);
      for (const batch of cut(list, size)) {
        const id = batchJobId(batch[0]!, batch.length, ++this.#seq, again);
        this.#submitter.add({ id, name: slug, data: v > 0 ? { r: batch, v } : { r: batch } });
      }
    }
  }
}

/** Collects a turn's worth of jobs, then adds them in chunks; one flush at a time. */
class Submitter {
  readonly #channel: RedisRunChannel;
  readonly #secrets: RunnerSecrets;
  readonly #batchSize: number;
  readonly #onError: (error: unknown) => void;
  #buffer: SubmitJob[] = [];
  #flushing: Promise<void> | undefined;
  #stopped = false;

  constructor(
    channel: RedisRunChannel,
    secrets: RunnerSecrets,
    batchSize: number,
    onError: (error: unknown) => void,
  ) {
    this.#channel = channel;
    this.#secrets = secrets;
    this.#batchSize = batchSize;
    this.#onError = onError;
  }

  add(job: SubmitJob): void {
    this.#buffer.push(job);
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#buffer = [];
  }

  #schedule(): void {
    if (this.#flushing !== undefined) return;
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#flush())
      .finally(() => {
        this.#flushing = undefined;
        if (this.#buffer.length > 0) this.#schedule();
      });
  }

  async #flush(): Promise<void> {
    while (this.#buffer.length > 0 && !this.#stopped) {
      const chunk = this.#buffer.splice(0, this.#batchSize);
      try {
        // every secret a job's version counts is in the broker before the job
        await this.#secrets.settled();
        await this.#channel.submit(chunk);
      } catch (error) {
        this.#onError(error);
        return;
      }
    }
  }
}

/** Reads the run's output stream with XREAD BLOCK on its own connection, trimming what it read. */
class OutputReader {
  readonly #channel: RedisRunChannel;
  readonly #reader: Redis;
  readonly #handle: (m: WorkerMessage) => void;
  readonly #timers: Timers;
  readonly #loop: Promise<void>;
  #stopped = false;

  constructor(channel: RedisRunChannel, reader: Redis, handle: (m: WorkerMessage) => void, timers: Timers) {
    this.#channel = channel;
    this.#reader = reader;
    this.#handle = handle;
    this.#timers = timers;
    this.#loop = this.#read();
  }

  async #read(): Promise<void> {
    let last = "0-0";
    let sinceTrim = 0;
    while (!this.#stopped) {
      let page: Awaited<ReturnType<RedisRunChannel["readOutput"]>>;
      try {
        page = await this.#channel.readOutput(this.#reader, last, 500, 1000);
      } catch {
        if (this.#stopped) return;
        await new Promise((r) => this.#timers.setTimeout(() => r(undefined), 100));
        continue;
      }
      if (page === null) continue;
      last = page.last;
      for (const m of page.messages) this.#handle(m);
      sinceTrim += page.entries;
      if (sinceTrim > 1000) {
        sinceTrim = 0;
        void this.#channel.trimOutput(last).catch(() => {});
      }
    }
  }

  /** Stop reading (disconnects the reader) and wait for the loop to end. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#reader.disconnect();
    return this.#loop;
  }
}

/** Both runner connections report loss; a loss longer than the timeout calls `onLost`. */
class BrokerWatch {
  readonly #timer: unknown;
  readonly #timers: Timers;

  constructor(connections: readonly Redis[], timeoutMs: number, timers: Timers, onLost: () => void) {
    this.#timers = timers;
    let lostSince: number | undefined;
    for (const c of connections) {
      c.on("close", () => {
        lostSince ??= timers.now();
      });
      c.on("ready", () => {
        lostSince = undefined;
      });
      c.on("error", () => {});
    }
    this.#timer = timers.setInterval(() => {
      if (lostSince !== undefined && timers.now() - lostSince > timeoutMs) onLost();
    }, 250);
  }

  stop(): void {
    this.#timers.clearInterval(this.#timer);
  }
}

/** Re-log a worker's task log line on the runner's logger and as a `log` event. */
function relayLog(ctx: ExecutorContext, line: string): void {
  const relayed = relayLogLine(line, ctx.logger);
  if (relayed === undefined) return;
  const { level, message, fields } = relayed;
  ctx.onEvent({
    type: "log",
    level,
    message,
    ...(typeof fields.task === "string" ? { slug: fields.task } : {}),
    ...(typeof fields.mapIndex === "number" ? { mapIndex: fields.mapIndex } : {}),
    ...(typeof fields.worker === "string" ? { worker: fields.worker } : {}),
  });
}
