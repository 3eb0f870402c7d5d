// The wire formats between a flow runner (ClusterExecutor) and its workers, over the broker: the
// job payload (a batch of task runs), the messages workers send back on the run's one output
// stream, the heartbeat record, and the run settings the runner publishes. Where they are stored
// (keys, streams, the queue) is run-channel.ts. Both sides import this file, so a change here is a
// change of protocol (bump PROTOCOL_VERSION).
//
// Invariants: a job's id is `jobId` of its first task run (idempotent); a result message is
// written before the job is acknowledged, so a lost worker can cause a duplicate result (ignored
// by the runner) but never a lost one.

import { type SerializedError, serializeError } from "../core/errors.ts";
import type { RunEvent, TaskRunRequest, TaskRunResult } from "../core/executor.ts";
import { deserialize, serialize } from "./serializer.ts";

export const PROTOCOL_VERSION = 4;

/** The job id of a task run: idempotent, so submitting twice adds one job. */
export function jobId(slug: string, mapIndex: number): string {
  return `${slug}#${mapIndex}`;
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
}

/** One task run request with its arguments serialised. */
export interface EncodedRun {
  /** Task slug. */
  s: string;
  /** Map index or -1. */
  i: number;
  /** First attempt number. */
  a: number;
  /** Arguments, `serialize`d, base64. */
  x: string;
}

/** The data of one job: a batch of task runs (a worker reports one result per member). */
export interface JobData {
  r: EncodedRun[];
  /** Secrets the runner had put in the run's set when it submitted the job (absent: none). */
  v?: number;
}

/** Encode one task run; throws when its arguments cannot be serialised. */
export function encodeRun(request: TaskRunRequest): EncodedRun {
  return {
    s: request.slug,
    i: request.mapIndex,
    a: request.attempt,
    x: serialize(request.args).toString("base64"),
  };
}

export function decodeRun(data: EncodedRun): TaskRunRequest {
  const args = deserialize(Buffer.from(data.x, "base64"));
  return { slug: data.s, mapIndex: data.i, attempt: data.a, args: Array.isArray(args) ? args : [] };
}

/** A worker's lifecycle, as it reports it. */
export type WorkerPhase = "starting" | "running" | "draining" | "exited";

/** Messages from workers to the runner, on the run's output stream. */
export type WorkerMessage =
  /** `started`: the attempt of a `taskStarted` the worker held back (DeferredStarts); the runner emits it first. */
  | { t: "result"; result: TaskRunResult; started?: number }
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
    return serialize(message);
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

/** Encode a batch of already-encoded messages as one stream entry. */
export function encodeBatch(messages: readonly Buffer[]): Buffer {
  return serialize(messages);
}

export function decodeBatch(entry: Buffer): WorkerMessage[] {
  const parts = deserialize(entry) as Buffer[];
  return parts.map((p) => deserialize(p) as WorkerMessage);
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
