// ClusterExecutor: the producer side of a cluster run. Task runs go to the run's BullMQ queue in
// batches (addBulk, idempotent job ids); results, events and task logs come back on ONE Redis
// stream read with XREAD BLOCK (no subscription per job); workers come from a Cluster (LocalCluster,
// KubeCluster) or are started by hand against `brokerUrl`.
//
// Invariants: the run settings (fingerprint, lock timings) are in the broker before the first job;
// each submitted task run is reported exactly once (duplicates from a lost worker are dropped);
// a broker unreachable for longer than `brokerLostTimeoutMs` fails the run with an error naming the
// broker; `close()` releases queue, connections and cluster, whatever state they are in.

import { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { z } from "zod";
import {
  type BrokerEndpoint,
  brokerFromEnv,
  bullConnection,
  connectBroker,
  describeBroker,
  parseBrokerUrl,
} from "../cluster/broker.ts";
import type { Cluster, ClusterSession } from "../cluster/cluster.ts";
import {
  CURRENT_RUN_KEY,
  decodeBatch,
  encodeJob,
  jobId,
  keys,
  PROTOCOL_VERSION,
  queueName,
  type RunSettings,
  type WorkerMessage,
} from "../cluster/protocol.ts";
import { RunnerSecrets } from "../cluster/secret-channel.ts";
import { ErrorCode, FlotillaError, type SerializedError, serializeError } from "../core/errors.ts";
import type { Executor, ExecutorContext, ExecutorSession, TaskRunRequest } from "../core/executor.ts";
import { settlesWithin } from "../engine/deadline.ts";
import { LOG_LEVELS } from "../engine/logging.ts";

/** Options of a ClusterExecutor. */
export interface ClusterExecutorOptions {
  /** Workers and broker for the run. Without it, workers are started by hand against `brokerUrl`. */
  cluster?: Cluster;
  /** An existing broker, `redis://host:port` (used when there is no cluster). @default $FLOTILLA_BROKER_URL */
  brokerUrl?: string;
  /** The broker's password, if not in the URL. @default $FLOTILLA_BROKER_PASSWORD */
  brokerPassword?: string;
  /**
   * BullMQ job lock, in ms. A worker renews it every half of this; a worker that dies (or blocks its
   * event loop with CPU work) for longer loses its task run to another worker. Shorter = faster
   * recovery of a killed worker, but CPU-bound tasks that block longer than this run twice.
   * @default 4000
   */
  lockDurationMs?: number;
  /** How often workers look for task runs whose worker was lost, in ms. @default 1000 */
  stalledIntervalMs?: number;
  /** How many times a task run may lose its worker before it fails. @default 3 */
  maxStalledCount?: number;
  /** Worker heartbeat period, in ms. @default 500 */
  heartbeatMs?: number;
  /** Fail the run when the broker has been unreachable this long, in ms. @default 5000 */
  brokerLostTimeoutMs?: number;
  /** Jobs per addBulk call. @default 1000 */
  submitBatchSize?: number;
}

const Schema = z.object({
  lockDurationMs: z.number().int().min(500).default(4000),
  stalledIntervalMs: z.number().int().min(100).default(1000),
  maxStalledCount: z.number().int().min(0).default(3),
  heartbeatMs: z.number().int().min(50).default(500),
  brokerLostTimeoutMs: z.number().int().min(100).default(5000),
  submitBatchSize: z.number().int().min(1).default(1000),
});

export class ClusterExecutor implements Executor {
  readonly kind = "cluster";
  readonly cluster: Cluster | undefined;
  readonly #o: z.infer<typeof Schema>;
  readonly #broker: BrokerEndpoint | undefined;

  constructor(options: ClusterExecutorOptions = {}) {
    const parsed = Schema.safeParse(options);
    if (!parsed.success) {
      throw new FlotillaError(ErrorCode.OptionsInvalid, `ClusterExecutor: ${z.prettifyError(parsed.error)}`);
    }
    this.#o = parsed.data;
    this.cluster = options.cluster;
    if (options.cluster === undefined) {
      this.#broker =
        options.brokerUrl !== undefined
          ? parseBrokerUrl(
              options.brokerUrl,
              options.brokerPassword ?? (process.env.FLOTILLA_BROKER_PASSWORD || undefined),
            )
          : brokerFromEnv();
      if (this.#broker === undefined) {
        throw new FlotillaError(ErrorCode.OptionsInvalid, "ClusterExecutor: give a cluster or a brokerUrl", {
          hint: "new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 1, maxWorkers: 4 }) })",
        });
      }
    }
  }

  async start(ctx: ExecutorContext): Promise<ExecutorSession> {
    const o = this.#o;
    const flow = ctx.flow;
    const k = keys(ctx.runId);
    const pending = new Set<string>();
    let session: ClusterSession | undefined;
    let redis: Redis | undefined;
    let reader: Redis | undefined;
    let queue: Queue | undefined;
    let secrets: RunnerSecrets | undefined;
    let closed = false;
    let fatal = false;
    const fail = (error: SerializedError) => {
      if (closed || fatal) return;
      fatal = true;
      ctx.onFatal(error);
    };
    const failRun = (error: FlotillaError) => fail(serializeError(error));

    try {
      if (this.cluster !== undefined) {
        if (flow.modulePath === undefined) {
          throw new FlotillaError(
            ErrorCode.OptionsInvalid,
            `ClusterExecutor: flow "${flow.name}" was not loaded from a module file, so workers cannot load it`,
            { hint: "export the flow from a .ts/.js module and load it with loadFlowModule (the CLI does)" },
          );
        }
        session = await this.cluster.start(
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
            onFatal: fail,
          },
        );
      }
      const broker = session?.broker ?? this.#broker!;
      const where = describeBroker(broker);
      redis = await connectBroker(broker, { connectionName: "flotilla-runner" });
      reader = await connectBroker(broker, { connectionName: "flotilla-runner-reader" });
      const settings: RunSettings = {
        protocol: PROTOCOL_VERSION,
        runId: ctx.runId,
        flow: flow.name,
        fingerprint: ctx.fingerprint,
        lockDurationMs: o.lockDurationMs,
        stalledIntervalMs: o.stalledIntervalMs,
        maxStalledCount: o.maxStalledCount,
        heartbeatMs: o.heartbeatMs,
      };
      // The secrets this process knows are in the run's set before any worker reads the settings.
      secrets = new RunnerSecrets(redis, ctx.runId);
      await secrets.start();
      await redis
        .multi()
        .hset(k.meta, "settings", JSON.stringify(settings))
        .set(CURRENT_RUN_KEY, ctx.runId)
        .exec();
      queue = new Queue(queueName(ctx.runId), {
        connection: bullConnection(broker, "flotilla-runner-queue"),
        defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
        streams: { events: { maxLen: 100 } },
      });
      queue.on("error", () => {});

      // Broker watch: both connections report loss; a loss longer than the timeout is fatal.
      let lostSince: number | undefined;
      const markLost = () => {
        lostSince ??= Date.now();
      };
      const markBack = () => {
        lostSince = undefined;
      };
      for (const c of [redis, reader]) {
        c.on("close", markLost);
        c.on("ready", markBack);
        c.on("error", () => {});
      }
      const watch = setInterval(() => {
        if (lostSince !== undefined && Date.now() - lostSince > o.brokerLostTimeoutMs) {
          failRun(
            new FlotillaError(
              ErrorCode.Broker,
              `lost the broker at ${where}: unreachable for more than ${o.brokerLostTimeoutMs} ms`,
              { hint: "the broker (Redis) stopped or the network to it failed; run the flow again" },
            ),
          );
        }
      }, 250);

      const handle = (m: WorkerMessage) => {
        switch (m.t) {
          case "result": {
            const id = jobId(m.result.slug, m.result.mapIndex);
            if (!pending.delete(id)) return; // a duplicate from a lost worker
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
            ctx.onResult(m.result);
            return;
          }
          case "event":
            ctx.onEvent(m.event);
            return;
          case "log":
            relayLog(ctx, m.line);
            return;
          case "fatal":
            fail(m.error); // as the worker sent it: code, message and hint
            return;
          case "phase":
            session?.observe(m.worker, m.phase, m.reason);
            return;
          case "secret":
            secrets?.heard(m.value);
            return;
        }
      };

      const readLoop = async () => {
        let lastId = "0-0";
        let sinceTrim = 0;
        while (!closed) {
          let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
          try {
            reply = (await reader!.xreadBuffer(
              "COUNT",
              500,
              "BLOCK",
              1000,
              "STREAMS",
              k.out,
              lastId,
            )) as typeof reply;
          } catch {
            if (closed) return;
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          if (reply === null) continue;
          for (const [, entries] of reply) {
            for (const [id, fields] of entries) {
              lastId = id.toString();
              const body = fields[1];
              if (body === undefined) continue;
              for (const m of decodeBatch(body)) handle(m);
              sinceTrim++;
            }
          }
          if (sinceTrim > 1000) {
            sinceTrim = 0;
            void redis!.xtrim(k.out, "MINID", lastId).catch(() => {});
          }
        }
      };
      const reading = readLoop();

      // Submission: collect a turn's worth of ready task runs, then addBulk in chunks.
      let buffer: { name: string; data: ReturnType<typeof encodeJob>; opts: { jobId: string } }[] = [];
      let flushing: Promise<void> | undefined;
      const flush = async () => {
        while (buffer.length > 0 && !closed) {
          const chunk = buffer.splice(0, o.submitBatchSize);
          try {
            // every secret a job's version counts is in the broker before the job
            await secrets!.settled();
            await queue!.addBulk(chunk);
          } catch (error) {
            failRun(
              new FlotillaError(
                ErrorCode.Broker,
                `cannot submit task runs to the broker at ${where}: ${String(error)}`,
                {
                  cause: error,
                },
              ),
            );
            return;
          }
        }
      };
      const schedule = () => {
        if (flushing !== undefined) return;
        flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(flush).finally(() => {
          flushing = undefined;
          if (buffer.length > 0) schedule();
        });
      };

      const q = queue;
      const r = redis;
      const rd = reader;
      return {
        submit(runs: readonly TaskRunRequest[]) {
          for (const run of runs) {
            const id = jobId(run.slug, run.mapIndex);
            let data: ReturnType<typeof encodeJob>;
            try {
              data = encodeJob(run, secrets!.version);
            } catch (error) {
              const at = run.mapIndex >= 0 ? `${run.slug}[${run.mapIndex}]` : run.slug;
              const now = Date.now();
              queueMicrotask(() =>
                ctx.onResult({
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
              continue;
            }
            pending.add(id);
            buffer.push({ name: run.slug, data, opts: { jobId: id } });
          }
          schedule();
          session?.demandChanged();
        },
        async close() {
          if (closed) return;
          closed = true;
          clearInterval(watch);
          secrets?.stop();
          buffer = [];
          rd.disconnect();
          await settlesWithin(reading, 1000);
          // Queue and connections first, while the broker is still there: closed after a cluster
          // stopped its broker, they would wait out their timeouts reconnecting to nothing.
          if (session === undefined) {
            // A shared broker: leave it clean.
            await settlesWithin(
              Promise.all([
                q.obliterate({ force: true }).catch(() => {}),
                r.del(k.meta, k.out, k.workers, k.retire, k.secrets).catch(() => {}),
              ]),
              2000,
            );
          }
          await settlesWithin(
            q.close().catch(() => {}),
            2000,
          );
          r.disconnect();
          await settlesWithin(session?.close() ?? Promise.resolve(), 30000);
        },
      };
    } catch (error) {
      closed = true;
      secrets?.stop();
      reader?.disconnect();
      redis?.disconnect();
      await settlesWithin(queue?.close().catch(() => {}) ?? Promise.resolve(), 2000);
      await settlesWithin(session?.close() ?? Promise.resolve(), 30000);
      throw error;
    }
  }
}

/** Re-log a worker's task log line on the runner's logger and as a `log` event. */
function relayLog(ctx: ExecutorContext, line: string): void {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  const { level, msg, time: _time, ...fields } = rec;
  const name = LOG_LEVELS[level as keyof typeof LOG_LEVELS] ?? "info";
  const message = typeof msg === "string" ? msg : "";
  ctx.logger[name](fields, message);
  ctx.onEvent({
    type: "log",
    level: name,
    message,
    ...(typeof fields.task === "string" ? { slug: fields.task } : {}),
    ...(typeof fields.mapIndex === "number" ? { mapIndex: fields.mapIndex } : {}),
    ...(typeof fields.worker === "string" ? { worker: fields.worker } : {}),
  });
}
