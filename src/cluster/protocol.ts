// The wire formats between a flow runner (ClusterExecutor) and its workers, over the broker: the
// job payload (a batch of task runs), the messages workers send back on the run's one output
// stream, the heartbeat record, and the run settings the runner publishes. Where they are stored
// (keys, streams, the queue) is run-channel.ts. Both sides import this file, so a change here is a
// change of protocol (bump PROTOCOL_VERSION).
//
// Invariants: a job carries a batch of task runs (batching.ts sizes it) under an id unique in the
// run (`batchJobId`); each member's result message is written, together with the member's mark
// in the run's done set (`doneMark`), before the job is acknowledged, so a job re-run after its
// worker was lost skips the members already reported: nothing is lost and no success is
// duplicated. Members a worker hands back (`returned`) are marked done in that job the same way,
// and the runner submits them again in new jobs.

import { type SerializedError, serializeError } from "../core/errors.ts";
import type { RunEvent, TaskRunRequest, TaskRunResult } from "../core/executor.ts";
import { deserialize, jsonExact, serialize } from "./serializer.ts";

export const PROTOCOL_VERSION = 7;

/** The key of a task run within its run: slug and map index. */
export function taskRunKey(slug: string, mapIndex: number): string {
  return `${slug}#${mapIndex}`;
}

/**
 * The job id of a batch: its first task run's key, plus the member count and a sequence number
 * of the runner's session unless it is a first submission of one task run (a member handed back
 * goes out again in a new job, under a new id).
 */
export function batchJobId(first: EncodedRun, size: number, seq: number, again: boolean): string {
  const key = taskRunKey(first.s, first.i);
  return size === 1 && !again ? key : `${key}+${size}.${seq}`;
}

/** A member's mark in the run's done set: this job has reported (or handed back) this task run. */
export function doneMark(job: string, run: EncodedRun): string {
  return `${job} ${taskRunKey(run.s, run.i)}`;
}

/** What the runner tells its workers before the first job. */
export interface RunSettings {
  protocol: number;
  runId: string;
  flow: string;
  /** `flowFingerprint(flow)` of the runner: workers must compute the same. */
  fingerprint: string;
  /** BullMQ lock of a job, renewed every half of it, in ms. */
  lockDurationMs: number;
  /** How often workers look for jobs whose lock expired (a lost worker), in ms. */
  stalledIntervalMs: number;
  /** How many times a task run may lose its worker before it fails. */
  maxStalledCount: number;
  /** How often workers write their heartbeat, in ms. */
  heartbeatMs: number;
  /**
   * Workers may go on with a chain (chain.ts): start the lone successor of a task run they ran
   * themselves. Only where the runner hears of a worker's end (it takes the successor back then).
   */
  chain?: boolean;
}

/** One task run request with its arguments serialised. */
export interface EncodedRun {
  /** Task slug. */
  s: string;
  /** Map index or -1. */
  i: number;
  /** First attempt number. */
  a: number;
  /** Arguments, `serialize`d, base64 (or `j`). */
  x?: string;
  /** Arguments as JSON, when JSON carries them exactly (serializer.ts `jsonExact`): far cheaper. */
  j?: string;
}

/** The data of one job: a batch of task runs (a worker reports one result per member). */
export interface JobData {
  r: EncodedRun[];
  /** Secrets the runner had put in the run's set when it submitted the job (absent: none). */
  v?: number;
}

/** A job on a worker's chain lane (run-channel.ts `directKey`): its id and data. */
export interface DirectJob {
  id: string;
  data: JobData;
}

/** The lane's stop word: a worker pushes it to its own lane to end its blocking read. */
export const DIRECT_STOP = "stop";

export function encodeDirect(job: DirectJob): string {
  return JSON.stringify(job);
}

export function decodeDirect(entry: string): DirectJob {
  return JSON.parse(entry) as DirectJob;
}

/** Encode one task run; throws when its arguments cannot be serialised. */
export function encodeRun(request: TaskRunRequest): EncodedRun {
  const { slug: s, mapIndex: i, attempt: a, args } = request;
  if (jsonExact(args)) return { s, i, a, j: JSON.stringify(args) };
  return { s, i, a, x: serialize(args).toString("base64") };
}

export function decodeRun(data: EncodedRun): TaskRunRequest {
  const args = data.j !== undefined ? JSON.parse(data.j) : deserialize(Buffer.from(data.x ?? "", "base64"));
  return { slug: data.s, mapIndex: data.i, attempt: data.a, args: Array.isArray(args) ? args : [] };
}

/** The first byte of a message as JSON (`{`); `serialize`'s output starts with 0xFF (V8's version tag). */
const JSON_MESSAGE = 0x7b;

/** One message's bytes: JSON when it carries the message exactly, else `serialize`. */
function messageBytes(message: WorkerMessage): Buffer {
  return jsonExact(message) ? Buffer.from(JSON.stringify(message)) : serialize(message);
}

function decodeMessage(bytes: Buffer): WorkerMessage {
  return (bytes[0] === JSON_MESSAGE ? JSON.parse(bytes.toString()) : deserialize(bytes)) as WorkerMessage;
}

/** A worker's lifecycle, as it reports it. */
export type WorkerPhase = "starting" | "running" | "draining" | "exited";

/** Messages from workers to the runner, on the run's output stream. */
export type WorkerMessage =
  /**
   * `started`: the attempt of a `taskStarted` the worker held back (DeferredStarts); the runner
   * emits it first. `c`: the worker went on with this result's chain successor (chain.ts), the
   * task run of that slug: the runner keeps it as handed to this worker instead of sending it.
   */
  | { t: "result"; result: TaskRunResult; started?: number; c?: string }
  /**
   * Members of a batch the worker did not start and gives back (the batch ran longer than the
   * hand-back time, or the worker drains); `ms`: how long the member that held them back had run.
   */
  | { t: "returned"; runs: EncodedRun[]; slug: string; ms: number }
  | { t: "event"; event: RunEvent }
  /** A pino JSON line of a task's logger (or of console output inside a task). */
  | { t: "log"; line: string }
  /** The worker cannot take this run's task runs (e.g. it runs different code): the run must fail. */
  | { t: "fatal"; worker: string; error: SerializedError }
  | { t: "phase"; worker: string; phase: WorkerPhase; reason?: string }
  /** A secret value a task read on the worker: the runner scrubs it before anything else arrives. */
  | { t: "secret"; value: string };

/**
 * Encode one message. A result whose value cannot be serialised becomes a Failed result naming
 * the task, so the runner always hears about the task run.
 */
export function encodeMessage(message: WorkerMessage): Buffer {
  try {
    return messageBytes(message);
  } catch (error) {
    if (message.t !== "result") {
      return serialize({
        t: "log",
        line: JSON.stringify({ level: 40, msg: `a message could not be serialised: ${String(error)}` }),
      });
    }
    const r = message.result;
    const where = r.mapIndex >= 0 ? `${r.slug}[${r.mapIndex}]` : r.slug;
    let why = error instanceof Error ? error.message : String(error);
    if (r.state.type === "Success") {
      try {
        serialize(r.state.result);
      } catch (inner) {
        why = (inner instanceof Error ? inner.message : String(inner))
          .replace(/^value/, "the result")
          .replace(/ cannot be serialised to send it to another process$/, "");
      }
    }
    const failed: TaskRunResult = {
      ...r,
      state: {
        type: "Failed",
        message: `task run "${where}" returned a value that cannot be sent back to the runner: ${why}`,
        error: serializeError(error),
      },
    };
    return serialize({ t: "result", result: failed } satisfies WorkerMessage);
  }
}

/**
 * Encode a batch of already-encoded messages as one stream entry: each message's length (4 bytes,
 * big-endian), then its bytes. Plain framing: the messages are encoded already, and a structured
 * clone of an array of buffers costs a callback per buffer.
 */
export function encodeBatch(messages: readonly Buffer[]): Buffer {
  let size = 0;
  for (const m of messages) size += 4 + m.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const m of messages) {
    out.writeUInt32BE(m.length, at);
    m.copy(out, at + 4);
    at += 4 + m.length;
  }
  return out;
}

export function decodeBatch(entry: Buffer): WorkerMessage[] {
  const out: WorkerMessage[] = [];
  for (let at = 0; at + 4 <= entry.length; ) {
    const size = entry.readUInt32BE(at);
    out.push(decodeMessage(entry.subarray(at + 4, at + 4 + size)));
    at += 4 + size;
  }
  return out;
}

/** What a worker writes in the run's workers hash, every `heartbeatMs`. */
export interface Heartbeat {
  /** Task runs running now. */
  active: number;
  concurrency: number;
  phase: WorkerPhase;
  /** When this was written, ms since the epoch (the worker's clock). */
  at: number;
  pid: number;
  host: string;
}
