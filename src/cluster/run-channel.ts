// The run channel: every Redis key and stream operation of one cluster run, in one file, so the
// wire protocol reads in one place. Three parties use it, each through its own view:
//
//   runner (ClusterExecutor)  publishes the settings, submits jobs, reads the output stream, clears
//   reconciler (cluster core) reads heartbeats, asks workers to retire
//   worker                    reads the current run and its settings, writes output, beats, takes jobs
//
// `RedisRunChannel` is the one implementation over a broker; memory-run-channel.ts implements the
// reconciler's view in memory, so the reconciling core is tested without redis-server. The message
// formats are in protocol.ts.
//
// Invariants: one BullMQ queue per run (`queueName(runId)`); a job carries a batch of task runs
// (`JobData.r`) under an id unique in the run (`batchJobId`); every worker-to-runner message goes
// through the run's one output stream, many messages per entry; an entry and the done marks of
// the results it carries are written in one MULTI (a re-run job skips what was reported); the
// settings are written before the first job; a retire request is a set member, idempotent.

import type { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import { settlesWithin } from "../engine/deadline.ts";
import { type BrokerEndpoint, bullConnection } from "./broker.ts";
import {
  decodeBatch,
  type Heartbeat,
  type JobData,
  type RunSettings,
  type WorkerMessage,
} from "./protocol.ts";
import { queueLibrary } from "./queue-library.ts";

/** The BullMQ queue of a run (BullMQ forbids ":" in queue names). */
export function queueName(runId: string): string {
  return `flotilla-${runId}`;
}

/** The Redis keys of a run, besides BullMQ's own. */
export function keys(runId: string) {
  const base = `flotilla:${runId}`;
  return {
    /** Hash: the run settings (`RunSettings`), written by the runner before any job. */
    meta: `${base}:meta`,
    /** Stream: every message from workers to the runner (results, events, logs, fatal errors). */
    out: `${base}:out`,
    /** Hash: worker id -> JSON `Heartbeat`. */
    workers: `${base}:workers`,
    /** Set: ids of workers asked to drain and exit. */
    retire: `${base}:retire`,
    /** Set: the secret values any process of the run read (see secret-channel.ts). */
    secrets: `${base}:secrets`,
    /** Set: `doneMark`s, the members each job reported or handed back (protocol.ts). */
    done: `${base}:done`,
  } as const;
}

/**
 * List: the chain lane of one worker, task runs the runner hands that worker directly (the
 * successor of the task run it just finished), skipping the queue's round trips.
 */
export function directKey(runId: string, workerId: string): string {
  return `flotilla:${runId}:direct:${workerId}`;
}

/** The key holding the run id of the broker's current run (workers started without --run-id read it). */
export const CURRENT_RUN_KEY = "flotilla:current-run";

/** One job to submit: an idempotent id and its batch of encoded task runs. */
export interface SubmitJob {
  id: string;
  /** A name for BullMQ's listings: the first task run's slug. */
  name: string;
  data: JobData;
}

/** A page of the output stream: the messages of the entries read, and the id to read after. */
export interface OutputPage {
  last: string;
  messages: WorkerMessage[];
  /** Stream entries read (each holds a batch of messages). */
  entries: number;
}

/** What the reconciling core reads and asks through the run's channel. */
export interface ReconcilerChannel {
  /** The last heartbeat of every worker that wrote one. */
  heartbeats(): Promise<Map<string, Heartbeat>>;
  /** Ask these workers to drain and exit. Idempotent. */
  retire(workerIds: readonly string[]): Promise<void>;
  /** Release the channel's connection. */
  close(): void;
}

/** How a worker takes jobs: BullMQ's worker over the run's queue. */
export interface JobConsumer {
  /** Take jobs until closed; resolves when the loop stops. */
  run(): Promise<void>;
  /** Stop taking jobs; without `force`, waits for the jobs in progress. */
  close(force?: boolean): Promise<void>;
}

/** Options of the worker's job consumer (from the run settings). */
export interface ConsumeOptions {
  connectionName: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  /** BullMQ gave up on a job (its worker was lost too often): report its task runs. */
  onGaveUp(job: string, data: JobData, error: Error): void;
  onError(error: Error): void;
}

/** The run's channel over a broker connection. */
export class RedisRunChannel implements ReconcilerChannel {
  readonly runId: string;
  readonly #redis: Redis;
  readonly #broker: BrokerEndpoint;
  readonly #k: ReturnType<typeof keys>;
  #queue: Queue | undefined;

  /** `redis` is this party's connection (the channel disconnects it on close); `broker` opens BullMQ's own. */
  constructor(redis: Redis, broker: BrokerEndpoint, runId: string) {
    this.#redis = redis;
    this.#broker = broker;
    this.runId = runId;
    this.#k = keys(runId);
  }

  /** The broker's current run, for workers started without a run id (null: none yet). */
  static currentRun(redis: Redis): Promise<string | null> {
    return redis.get(CURRENT_RUN_KEY);
  }

  // ---- runner ----

  /** Write the run settings and make this run the broker's current one (before the first job). */
  async publishSettings(settings: RunSettings): Promise<void> {
    await this.#redis
      .multi()
      .hset(this.#k.meta, "settings", JSON.stringify(settings))
      .set(CURRENT_RUN_KEY, this.runId)
      .exec();
  }

  /** Add jobs to the run's queue (idempotent ids: a job submitted twice is added once). */
  async submit(jobs: readonly SubmitJob[]): Promise<void> {
    this.#queue ??= this.#openQueue();
    await this.#queue.addBulk(jobs.map((j) => ({ name: j.name, data: j.data, opts: { jobId: j.id } })));
  }

  #openQueue(): Queue {
    const queue = new (queueLibrary().Queue)(queueName(this.runId), {
      connection: bullConnection(this.#broker, "flotilla-runner-queue"),
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 1 },
      streams: { events: { maxLen: 100 } },
    });
    queue.on("error", () => {});
    return queue;
  }

  /**
   * Wait up to `blockMs` for output entries after `after` (at most `count`), on `reader`: a
   * connection of its own, since XREAD BLOCK holds it. Null when nothing came.
   */
  async readOutput(reader: Redis, after: string, count: number, blockMs: number): Promise<OutputPage | null> {
    const reply = (await reader.xreadBuffer(
      "COUNT",
      count,
      "BLOCK",
      blockMs,
      "STREAMS",
      this.#k.out,
      after,
    )) as [Buffer, [Buffer, Buffer[]][]][] | null;
    if (reply === null) return null;
    const page: OutputPage = { last: after, messages: [], entries: 0 };
    for (const [, entries] of reply) {
      for (const [id, fields] of entries) {
        page.last = id.toString();
        page.entries++;
        const body = fields[1];
        if (body !== undefined) for (const m of decodeBatch(body)) page.messages.push(m);
      }
    }
    return page;
  }

  /** Drop output entries before `id` (already read). */
  async trimOutput(id: string): Promise<void> {
    await this.#redis.xtrim(this.#k.out, "MINID", id);
  }

  /** Remove the run's queue and keys (a shared broker is left clean). */
  async clear(): Promise<void> {
    this.#queue ??= this.#openQueue();
    await Promise.all([
      this.#queue.obliterate({ force: true }).catch(() => {}),
      this.#redis
        .del(this.#k.meta, this.#k.out, this.#k.workers, this.#k.retire, this.#k.secrets, this.#k.done)
        .catch(() => {}),
    ]);
  }

  /** Close the queue's connections (the channel's own connection stays: see close). */
  async closeQueue(): Promise<void> {
    await this.#queue?.close().catch(() => {});
  }

  // ---- runner and worker: the chain lane (a list per worker) ----

  /** Hand one job to a worker directly (runner). */
  async pushDirect(workerId: string, entry: string): Promise<void> {
    await this.#redis.rpush(directKey(this.runId, workerId), entry);
  }

  /** Wait up to `timeoutS` for a job on this worker's lane, on `reader` (its own connection). */
  async popDirect(reader: Redis, workerId: string, timeoutS: number): Promise<string | null> {
    const reply = await reader.blpop(directKey(this.runId, workerId), timeoutS);
    return reply === null ? null : reply[1];
  }

  /** Take everything left on a worker's lane (a draining worker hands it back). */
  async takeDirect(workerId: string): Promise<string[]> {
    const key = directKey(this.runId, workerId);
    const replies = await this.#redis.multi().lrange(key, 0, -1).del(key).exec();
    return (replies?.[0]?.[1] as string[] | undefined) ?? [];
  }

  /** Drop a gone worker's lane (runner). */
  async dropDirect(workerId: string): Promise<void> {
    await this.#redis.del(directKey(this.runId, workerId));
  }

  // ---- runner and worker: the run's secrets (secret-channel.ts) ----

  /** Put a secret value in the run's set. */
  async addSecret(value: string): Promise<void> {
    await this.#redis.sadd(this.#k.secrets, value);
  }

  /** Every secret value in the run's set. */
  secrets(): Promise<string[]> {
    return this.#redis.smembers(this.#k.secrets);
  }

  // ---- reconciler ----

  async heartbeats(): Promise<Map<string, Heartbeat>> {
    const all = await this.#redis.hgetall(this.#k.workers);
    return new Map(Object.entries(all).map(([id, json]) => [id, JSON.parse(json) as Heartbeat]));
  }

  async retire(workerIds: readonly string[]): Promise<void> {
    if (workerIds.length > 0) await this.#redis.sadd(this.#k.retire, ...workerIds);
  }

  // ---- worker ----

  /** The run settings, or null before the runner wrote them. */
  async settings(): Promise<RunSettings | null> {
    const json = await this.#redis.hget(this.#k.meta, "settings");
    return json === null ? null : (JSON.parse(json) as RunSettings);
  }

  /**
   * Append one entry (a batch of encoded messages) to the output stream, with the done marks of
   * the members it reports, atomically.
   */
  async appendOutput(entry: Buffer, done: readonly string[] = []): Promise<void> {
    if (done.length === 0) {
      await this.#redis.xadd(this.#k.out, "*", "m", entry);
      return;
    }
    const replies = await this.#redis
      .multi()
      .xadd(this.#k.out, "*", "m", entry)
      .sadd(this.#k.done, ...done)
      .exec();
    const failed = replies?.find(([error]) => error !== null)?.[0];
    if (replies === null || failed) throw failed ?? new Error("the output entry was not written");
  }

  /** Which of these done marks are not in the run's done set (in order). */
  async notDone(marks: readonly string[]): Promise<boolean[]> {
    if (marks.length === 0) return [];
    const found = (await this.#redis.smismember(this.#k.done, ...marks)) as number[];
    return found.map((f) => f !== 1);
  }

  /** Write a worker's heartbeat; resolves true when the runner asked it to retire. */
  async beat(workerId: string, beat: Heartbeat): Promise<boolean> {
    const replies = await this.#redis
      .multi()
      .hset(this.#k.workers, workerId, JSON.stringify(beat))
      .sismember(this.#k.retire, workerId)
      .exec();
    return replies?.[1]?.[1] === 1;
  }

  /** Take the run's jobs with `process` (BullMQ: locks, stalled-job recovery, concurrency). */
  consume(
    process: (job: string, data: JobData, attemptsStarted: number) => Promise<void>,
    o: ConsumeOptions,
  ): JobConsumer {
    const bull = new (queueLibrary().Worker)<JobData, number>(
      queueName(this.runId),
      async (job: Job<JobData>) => {
        await process(job.id ?? job.name, job.data, job.attemptsStarted ?? 1);
        return 0;
      },
      {
        connection: bullConnection(this.#broker, o.connectionName),
        concurrency: o.concurrency,
        lockDuration: o.lockDurationMs,
        stalledInterval: o.stalledIntervalMs,
        maxStalledCount: o.maxStalledCount,
        drainDelay: 1,
        autorun: false,
      },
    );
    bull.on("error", o.onError);
    // Only BullMQ itself fails jobs (the processor never throws): a job whose worker was lost too often.
    bull.on("failed", (job, err) => {
      if (job !== undefined) o.onGaveUp(job.id ?? job.name, job.data, err);
    });
    return { run: () => bull.run(), close: (force) => bull.close(force) };
  }

  /** Whether the broker answers a PING within `ms` (false at once while this connection is down). */
  async reachable(ms: number): Promise<boolean> {
    if (this.#redis.status !== "ready") return false;
    return settlesWithin(this.#redis.ping(), ms);
  }

  /** Disconnect this party's connection. */
  close(): void {
    this.#redis.disconnect();
  }
}
