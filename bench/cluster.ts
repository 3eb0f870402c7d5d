// Benchmarks of the worker cluster (ClusterExecutor on a LocalCluster of worker processes), with
// raw BullMQ measured in the same run as the baseline, and the anchor figures (Dask distributed,
// raw BullMQ, measured on a machine like this one) quoted beside ours. `npm run bench -- cluster`
// (bench/run.ts) calls `benchCluster()` and prints the JSON; never used for timed assertions.
//
// How the clock is read: every cluster is started, its workers are awaited as running, and a
// warm-up batch of no-op task runs goes through it before the timed flow run starts, so cluster
// start-up is excluded from throughput and reported on its own. A timed run goes from the flow
// runner's first submit to its last result (the cluster's close afterwards is not counted).
//
// The flows are in cluster-flows.ts, the module the bench's workers load; they import "flotilla",
// so the workers run its compiled dist/ as they do for a user (bench/run.ts builds it first) instead
// of Flotilla's source through tsx. With FLOTILLA_BENCH_CHILD=raw-bullmq this file is the raw BullMQ
// child process of the baseline.

import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents, Worker } from "bullmq";
import { bullConnection } from "../src/cluster/broker.ts";
import { type LocalBroker, startLocalBroker } from "../src/cluster/local-broker.ts";
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import type {
  Executor,
  ExecutorContext,
  ExecutorSession,
  RunEvent,
  TaskRunRequest,
} from "../src/core/executor.ts";
import type { Flow } from "../src/core/flow.ts";
import type { FlowRunState, TaskRunRecord } from "../src/core/states.ts";
import { withDeadline } from "../src/engine/deadline.ts";
import { silentLogger } from "../src/engine/logging.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";

const SELF = fileURLToPath(import.meta.url);
// The flows (cluster-flows.ts): a module of their own, importing "flotilla" as a user's flow does.
const FLOWS = fileURLToPath(new URL("./cluster-flows.ts", import.meta.url));

// ---------------------------------------------------------------- timing executor

interface Marks {
  startCalledAt: number;
  readyAt?: number;
  firstSubmitAt?: number;
  submits: { at: number; runs: number }[];
  firstResultAt?: number;
  lastResultAt?: number;
  /** Last result of each slug. */
  lastResultOf: Map<string, number>;
  workers: { at: number; count: number; pending: number; reason: string }[];
}

const WARM_BASE = 1_000_000;

/**
 * Wraps a ClusterExecutor: records when things happen, and (optionally) waits for `workers`
 * running workers and pushes `warmUp` no-op task runs through them before the flow's first submit.
 */
class TimedExecutor implements Executor {
  readonly kind = "timed";
  readonly marks: Marks = { startCalledAt: 0, submits: [], lastResultOf: new Map(), workers: [] };
  readonly #inner: Executor;
  readonly #workers: number;
  readonly #warmUp: number;

  constructor(inner: Executor, options: { workers: number; warmUp: number }) {
    this.#inner = inner;
    this.#workers = options.workers;
    this.#warmUp = options.warmUp;
  }

  async start(ctx: ExecutorContext): Promise<ExecutorSession> {
    const m = this.marks;
    m.startCalledAt = now();
    let running = 0;
    let onWorkers = () => {};
    let warmLeft = 0;
    let onWarm = () => {};
    // A one-argument numeric task of the flow being measured.
    const warmSlug = ctx.flow.node("noop") !== undefined ? "noop" : "inc";
    const session = await this.#inner.start({
      ...ctx,
      onResult: (r) => {
        if (r.slug === warmSlug && r.mapIndex >= WARM_BASE) {
          if (--warmLeft === 0) onWarm();
          return;
        }
        const at = now();
        m.firstResultAt ??= at;
        m.lastResultAt = at;
        m.lastResultOf.set(r.slug, at);
        ctx.onResult(r);
      },
      onEvent: (e: RunEvent) => {
        if (e.type === "workers") {
          m.workers.push({ at: now(), count: e.count, pending: e.pending, reason: e.reason });
          running = e.count;
          onWorkers();
        }
        ctx.onEvent(e);
      },
    });
    if (this.#workers > 0) {
      await within(
        new Promise<void>((resolve) => {
          onWorkers = () => running >= this.#workers && resolve();
          onWorkers();
        }),
        30_000,
        `${this.#workers} workers running`,
      );
    }
    if (this.#warmUp > 0) {
      warmLeft = this.#warmUp;
      const warm: TaskRunRequest[] = Array.from({ length: this.#warmUp }, (_, i) => ({
        slug: warmSlug,
        mapIndex: WARM_BASE + i,
        args: [i],
        attempt: 1,
      }));
      await within(
        new Promise<void>((resolve) => {
          onWarm = resolve;
          session.submit(warm);
        }),
        30_000,
        "warm-up",
      );
    }
    m.readyAt = now();
    return {
      submit(runs) {
        const at = now();
        m.firstSubmitAt ??= at;
        m.submits.push({ at, runs: runs.length });
        session.submit(runs);
      },
      close: () => session.close(),
    };
  }
}

// ---------------------------------------------------------------- scenarios

const logger = silentLogger();
const now = () => performance.timeOrigin + performance.now();

async function flowOf(name: string): Promise<Flow> {
  return selectFlow(await loadFlowModule(FLOWS), name);
}

interface ClusterRunFigures {
  wallMs: number;
  /** From the submit of the largest batch (the map) to the last result. */
  fromMapSubmitMs: number;
  startUpMs: number;
  perWorker: Record<string, { runs: number; lastEndMs: number }>;
}

async function timedRun(
  flowName: string,
  cluster: ConstructorParameters<typeof LocalCluster>[0],
  parameters: Record<string, unknown> = {},
  wait: { workers: number; warmUp: number } = { workers: 2, warmUp: 2000 },
): Promise<{ marks: Marks; figures: ClusterRunFigures }> {
  const flow = await flowOf(flowName);
  const timed = new TimedExecutor(new ClusterExecutor({ cluster: new LocalCluster(cluster) }), wait);
  const state = await flow.run({ executor: timed, logger, parameters });
  if (state.type !== "Success") throw new Error(`${flowName}: ${state.message}`);
  const m = timed.marks;
  const biggest = m.submits.reduce((a, b) => (b.runs > a.runs ? b : a));
  return {
    marks: m,
    figures: {
      wallMs: m.lastResultAt! - m.firstSubmitAt!,
      fromMapSubmitMs: m.lastResultAt! - biggest.at,
      startUpMs: m.readyAt! - m.startCalledAt,
      perWorker: perWorker(state),
    },
  };
}

/** Task runs each worker ran, and when its last one finished (ms after the first start). */
function perWorker(state: FlowRunState): Record<string, { runs: number; lastEndMs: number }> {
  const all: TaskRunRecord[] = [];
  for (const r of Object.values(state.taskRuns)) {
    if (r.state.type === "Mapped") all.push(...r.state.children);
    else all.push(r);
  }
  const start = Math.min(...all.map((r) => r.startedAt ?? Number.POSITIVE_INFINITY));
  const out: Record<string, { runs: number; lastEndMs: number }> = {};
  for (const r of all) {
    const key = r.worker ?? "?";
    const w = out[key] ?? { runs: 0, lastEndMs: 0 };
    out[key] = w;
    w.runs++;
    w.lastEndMs = Math.max(w.lastEndMs, (r.finishedAt ?? start) - start);
  }
  return out;
}

/**
 * Task runs at once per worker, in our workers and in the raw BullMQ baseline's alike, so the
 * ratio compares like with like (the anchor's raw BullMQ setup uses 50).
 */
const CONCURRENCY_PER_WORKER = 50;
const TWO_WORKERS = {
  minWorkers: 2,
  maxWorkers: 2,
  concurrency: CONCURRENCY_PER_WORKER,
  // A wrapper of bin/flotilla.js that profiles the worker, when profiling.
  ...(process.env.FLOTILLA_BENCH_WORKER_BIN ? { bin: process.env.FLOTILLA_BENCH_WORKER_BIN } : {}),
};

async function throughput(flowName: string, tasks: number, repeats: number) {
  const runs: ClusterRunFigures[] = [];
  for (let i = 0; i < repeats; i++) {
    progress(`${flowName} ${i + 1}/${repeats}`);
    runs.push((await timedRun(flowName, TWO_WORKERS)).figures);
  }
  const wall = median(runs.map((r) => r.wallMs));
  return {
    tasks,
    repeats,
    wallMs: round(wall),
    tasksPerSecond: Math.round(tasks / (wall / 1000)),
    usPerTask: round((wall * 1000) / tasks),
    fromMapSubmitMs: round(median(runs.map((r) => r.fromMapSubmitMs))),
    clusterStartUpAndWarmUpMs: round(median(runs.map((r) => r.startUpMs))),
    runs: runs.map((r) => round(r.wallMs)),
    perWorker: runs.map((r) => r.perWorker),
  };
}

async function startUp(repeats: number) {
  const firstTask: number[] = [];
  const workersRunning: number[] = [];
  for (let i = 0; i < repeats; i++) {
    progress(`start-up ${i + 1}/${repeats}`);
    const { marks } = await timedRun(
      "bench-one",
      { minWorkers: 1, maxWorkers: 1 },
      {},
      { workers: 0, warmUp: 0 },
    );
    firstTask.push(marks.firstResultAt! - marks.startCalledAt);
    const up = marks.workers.find((w) => w.count >= 1);
    if (up) workersRunning.push(up.at - marks.startCalledAt);
  }
  return {
    repeats,
    startToFirstTaskFinishedMs: round(median(firstTask)),
    startToWorkerRunningMs: round(median(workersRunning)),
    runs: firstTask.map(round),
  };
}

interface AdaptiveRep {
  backlogToFourWorkersS: number | null;
  workWallS: number;
  workEndToFirstScaleDownS: number | null;
  workEndToOneWorkerS: number | null;
  workEndToLastRetiredExitS: number | null;
  timeline: { atS: number; count: number; pending: number; reason: string }[];
}

async function adaptiveScaling(repeats: number, idleTimeoutMs: number) {
  const reps: AdaptiveRep[] = [];
  for (let i = 0; i < repeats; i++) {
    progress(`adaptive ${i + 1}/${repeats}`);
    const { marks } = await timedRun(
      "bench-adaptive",
      { minWorkers: 1, maxWorkers: 4, concurrency: 1, idleTimeoutMs },
      { lingerMs: idleTimeoutMs + 4000 },
      { workers: 1, warmUp: 0 },
    );
    const backlog = marks.submits.find((s) => s.runs >= 200)!.at;
    const four = marks.workers.find((w) => w.at >= backlog && w.count >= 4);
    const workEnd = marks.lastResultOf.get("nap")!;
    const one = marks.workers.find((w) => w.at >= workEnd && w.count <= 1 && w.pending === 0);
    const firstDown = marks.workers.find((w) => w.at >= workEnd && /scale down/.test(w.reason));
    const lastExit = marks.workers.filter((w) => w.at >= workEnd && /exited/.test(w.reason)).at(-1);
    reps.push({
      backlogToFourWorkersS: four ? round((four.at - backlog) / 1000) : null,
      workWallS: round((workEnd - backlog) / 1000),
      workEndToFirstScaleDownS: firstDown ? round((firstDown.at - workEnd) / 1000) : null,
      workEndToOneWorkerS: one ? round((one.at - workEnd) / 1000) : null,
      workEndToLastRetiredExitS: lastExit ? round((lastExit.at - workEnd) / 1000) : null,
      timeline: marks.workers.map((w) => ({
        atS: round((w.at - backlog) / 1000),
        count: w.count,
        pending: w.pending,
        reason: w.reason,
      })),
    });
  }
  const med = (k: keyof AdaptiveRep) =>
    median(reps.map((r) => r[k]).filter((v): v is number => typeof v === "number"));
  return {
    repeats,
    tasks: 200,
    taskS: 0.5,
    minWorkers: 1,
    maxWorkers: 4,
    concurrencyPerWorker: 1,
    idleTimeoutMs,
    backlogToFourWorkersS: med("backlogToFourWorkersS"),
    workWallS: med("workWallS"),
    workEndToFirstScaleDownS: med("workEndToFirstScaleDownS"),
    workEndToOneWorkerS: med("workEndToOneWorkerS"),
    workEndToLastRetiredExitS: med("workEndToLastRetiredExitS"),
    reps,
  };
}

// ---------------------------------------------------------------- raw BullMQ baseline

/** Two raw BullMQ worker processes on the queue `name`, like ours: 1 Worker each, same concurrency. */
async function rawWorkers(broker: LocalBroker, name: string): Promise<ChildProcess[]> {
  const kids = [0, 1].map(() =>
    fork(SELF, [], {
      execArgv: ["--import", "tsx"],
      env: {
        ...process.env,
        FLOTILLA_BENCH_CHILD: "raw-bullmq",
        FLOTILLA_BENCH_QUEUE: name,
        FLOTILLA_BENCH_BROKER: JSON.stringify(broker.endpoint),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    }),
  );
  await Promise.all(kids.map((k) => message(k, "ready")));
  await new Promise((r) => setTimeout(r, 300));
  return kids;
}

/** As bullmq_anchor.mjs "end-to-end, 1 Worker in each of 2 forked child processes", with `n` jobs. */
async function rawBullmq(broker: LocalBroker, rep: number, n: number) {
  const name = `raw-e2e-${rep}-${Date.now()}`;
  const queue = new Queue(name, { connection: bullConnection(broker.endpoint) });
  await queue.waitUntilReady();
  let kids: ChildProcess[] = [];
  try {
    kids = await rawWorkers(broker, name);
    const t0 = now();
    for (let from = 0; from < n; from += 10_000) {
      const jobs = Array.from({ length: Math.min(10_000, n - from) }, (_, i) => ({
        name: "noop",
        data: { i: from + i },
      }));
      await queue.addBulk(jobs);
    }
    const added = now();
    const deadline = Date.now() + 120_000;
    while ((await queue.getCompletedCount()) < n) {
      if (Date.now() > deadline) throw new Error("raw BullMQ: not done within 120 s");
      await new Promise((r) => setTimeout(r, 20));
    }
    const reports = await Promise.all(
      kids.map((k) => {
        const p = message(k, "report");
        k.send({ type: "report" });
        return p;
      }),
    );
    const last = Math.max(...reports.map((r) => r.last as number));
    return { wallMs: last - t0, addBulkMs: added - t0 };
  } finally {
    for (const k of kids) k.kill("SIGKILL");
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

/**
 * A chain of `n` raw BullMQ jobs orchestrated from outside the workers, as our runner does: a
 * QueueEvents "completed" listener in this process adds the next job (bullmq_anchor.mjs's
 * QueueEvents chain), on the same 2 worker processes.
 */
async function rawChain(broker: LocalBroker, rep: number, n: number) {
  const name = `raw-chain-${rep}-${Date.now()}`;
  const queue = new Queue(name, { connection: bullConnection(broker.endpoint) });
  const events = new QueueEvents(name, { connection: bullConnection(broker.endpoint) });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  let kids: ChildProcess[] = [];
  try {
    kids = await rawWorkers(broker, name);
    let hops = 0;
    const t0 = now();
    await within(
      new Promise<void>((resolve, reject) => {
        events.on("completed", () => {
          if (++hops === n) resolve();
          else queue.add("inc", { i: hops }).catch(reject);
        });
        queue.add("inc", { i: 0 }).catch(reject);
      }),
      120_000,
      "raw BullMQ chain",
    );
    return { wallMs: now() - t0 };
  } finally {
    for (const k of kids) k.kill("SIGKILL");
    await events.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

function message(child: ChildProcess, type: string): Promise<Record<string, unknown>> {
  return within(
    new Promise((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (m.type !== type) return;
        child.off("message", on);
        resolve(m);
      };
      child.on("message", on);
    }),
    30_000,
    `raw BullMQ child "${type}"`,
  );
}

async function rawChild(): Promise<void> {
  const endpoint = JSON.parse(process.env.FLOTILLA_BENCH_BROKER!);
  let done = 0;
  let last = 0;
  const worker = new Worker(process.env.FLOTILLA_BENCH_QUEUE!, async (job) => job.data.i as number, {
    connection: bullConnection(endpoint),
    concurrency: CONCURRENCY_PER_WORKER,
  });
  worker.on("completed", () => {
    done++;
    last = now();
  });
  worker.on("error", () => {});
  await worker.waitUntilReady();
  process.on("message", (m: { type: string }) => {
    if (m.type === "report") process.send!({ type: "report", count: done, last });
  });
  process.send!({ type: "ready" });
}

// ---------------------------------------------------------------- anchors and entry point

/** The Dask figures of this invocation (bench/dask.ts), when Dask distributed is installed. */
export interface SameRunDask {
  version: string;
  startUpS: number;
  map10kTasksPerS: number;
  chain1kMsPerHop: number;
  fanout5kTasksPerS: number;
}

/** Figures quoted from the anchor measurements (not of this run), beside the same-run ones. */
const ANCHORS = {
  source:
    "quoted: anchor measurements (2-vCPU machine like this one, median of 3; the VM drifts 10-30 % between invocations); sameRun: measured in this invocation",
  map: {
    "dask distributed, LocalCluster 2 workers x 1 thread, default, 10,000 (tasks/s)": 454,
    "dask distributed, worker-saturation inf, 10,000 (tasks/s)": 969,
    "raw BullMQ, 1 Worker in each of 2 child processes, c50, 10,000 (jobs/s)": 3179,
    target: ">= 20,000 tasks/s on 10,000 and 50,000, and >= 3x raw BullMQ measured in the same run",
  },
  chain1k: {
    "dask distributed, whole graph submitted (ms/hop)": 10.1,
    "raw BullMQ, QueueEvents listener adds the next job (ms/hop)": 1.5,
    target: "<= 0.5 ms per hop",
  },
  fanout5k: {
    "dask distributed, 5,000 mapped + 1 reduce (tasks/s)": 421,
    target: ">= 15,000 tasks/s",
  },
  startUp: {
    "dask distributed LocalCluster() -> client connected, 2 workers (s)": 1.6,
    target:
      "<= 0.35 s to the first task finished, and not slower than Dask's LocalCluster start in the same run",
  },
  adaptive: {
    "dask adapt(1, 4), 200 x 0.5 s: submit -> 4 workers (s)": 2.59,
    "dask: work wall (s; ideal 25.0)": 27.19,
    "dask: work end -> back to 1 worker (s; bimodal 2.3-2.8 or 7.8-11.9)": 2.79,
    target: "1 -> 4 workers <= 0.8 s after the backlog appears; scale-down never retires a busy worker",
  },
};

/** ours / theirs for a rate (higher is better), theirs / ours for a time (lower is better): > 1 means we are faster. */
function speedup(ours: number, theirs: number | undefined, kind: "rate" | "time"): number | undefined {
  if (theirs === undefined || !Number.isFinite(theirs) || !Number.isFinite(ours) || ours <= 0)
    return undefined;
  return round(kind === "rate" ? ours / theirs : theirs / ours);
}

/**
 * `tasks` mapped no-op tasks on 2 workers, interleaved with raw BullMQ on the same broker, the same
 * worker count and concurrency (raw, ours, raw, ours...), as ANCHORS.md advises: the ratio is of
 * figures taken minutes apart at most.
 */
async function mapVsRaw(
  flowName: string,
  tasks: number,
  repeats: number,
  daskTasksPerS: number | undefined,
): Promise<Record<string, unknown>> {
  const broker = await startLocalBroker();
  const raw: { wallMs: number; addBulkMs: number }[] = [];
  const ours: ClusterRunFigures[] = [];
  try {
    for (let i = 0; i < repeats; i++) {
      progress(`raw BullMQ ${tasks} ${i + 1}/${repeats}`);
      raw.push(await rawBullmq(broker, i, tasks));
      progress(`${flowName} ${i + 1}/${repeats}`);
      ours.push((await timedRun(flowName, TWO_WORKERS)).figures);
    }
  } finally {
    await broker.stop();
  }
  const rawWall = median(raw.map((r) => r.wallMs));
  const ourWall = median(ours.map((r) => r.wallMs));
  const rawPerS = tasks / (rawWall / 1000);
  const ourPerS = tasks / (ourWall / 1000);
  return {
    tasks,
    workers: 2,
    concurrencyPerWorker: CONCURRENCY_PER_WORKER,
    repeats,
    wallMs: round(ourWall),
    tasksPerSecond: Math.round(ourPerS),
    usPerTask: round((ourWall * 1000) / tasks),
    fromMapSubmitMs: round(median(ours.map((r) => r.fromMapSubmitMs))),
    clusterStartUpAndWarmUpMs: round(median(ours.map((r) => r.startUpMs))),
    runs: ours.map((r) => round(r.wallMs)),
    rawBullmqSameRun: {
      jobs: tasks,
      setup: `1 Worker in each of 2 forked child processes, concurrency ${CONCURRENCY_PER_WORKER} (as ours), default job options`,
      wallMs: round(rawWall),
      jobsPerSecond: Math.round(rawPerS),
      addBulkMs: round(median(raw.map((r) => r.addBulkMs))),
      runs: raw.map((r) => round(r.wallMs)),
    },
    ratioToRawBullmq: speedup(ourPerS, rawPerS, "rate"),
    ...(daskTasksPerS !== undefined
      ? { daskSameRunTasksPerS: daskTasksPerS, ratioToDask: speedup(ourPerS, daskTasksPerS, "rate") }
      : {}),
  };
}

/** A chain of 1,000 on 2 workers, interleaved with the raw BullMQ chain (QueueEvents adds the next job). */
async function chainVsRaw(
  repeats: number,
  daskMsPerHop: number | undefined,
): Promise<Record<string, unknown>> {
  const broker = await startLocalBroker();
  const raw: number[] = [];
  const ours: ClusterRunFigures[] = [];
  try {
    for (let i = 0; i < repeats; i++) {
      progress(`raw BullMQ chain ${i + 1}/${repeats}`);
      raw.push((await rawChain(broker, i, 1000)).wallMs);
      progress(`bench-chain1k ${i + 1}/${repeats}`);
      ours.push((await timedRun("bench-chain1k", TWO_WORKERS)).figures);
    }
  } finally {
    await broker.stop();
  }
  const ourMs = median(ours.map((r) => r.wallMs)) / 1000;
  const rawMs = median(raw) / 1000;
  return {
    tasks: 1000,
    repeats,
    msPerHop: round(ourMs),
    runs: ours.map((r) => round(r.wallMs)),
    rawBullmqSameRun: { msPerHop: round(rawMs), runs: raw.map(round) },
    ratioToRawBullmq: speedup(ourMs, rawMs, "time"),
    ...(daskMsPerHop !== undefined
      ? { daskSameRunMsPerHop: round(daskMsPerHop), ratioToDask: speedup(ourMs, daskMsPerHop, "time") }
      : {}),
  };
}

/**
 * Every cluster benchmark; one JSON document. `dask`: Dask's figures of this invocation; each
 * figure carries `ratioTo…` (> 1: we are faster) against the anchors measured in this run.
 */
export async function benchCluster(dask?: SameRunDask): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  out.map10k = { ...(await mapVsRaw("bench-map10k", 10_000, 3, dask?.map10kTasksPerS)), quoted: ANCHORS.map };
  out.map50k = { ...(await mapVsRaw("bench-map50k", 50_000, 3, undefined)), quoted: ANCHORS.map };
  out.chain1k = { ...(await chainVsRaw(3, dask?.chain1kMsPerHop)), quoted: ANCHORS.chain1k };
  const fan = await throughput("bench-fanout5k", 5001, 3);
  out.fanout5k = {
    ...fan,
    ...(dask !== undefined
      ? {
          daskSameRunTasksPerS: dask.fanout5kTasksPerS,
          ratioToDask: speedup(fan.tasksPerSecond, dask.fanout5kTasksPerS, "rate"),
        }
      : {}),
    quoted: ANCHORS.fanout5k,
  };
  const up = await startUp(3);
  out.startUp = {
    ...up,
    ...(dask !== undefined
      ? {
          daskSameRunStartUpMs: Math.round(dask.startUpS * 1000),
          ratioToDask: speedup(up.startToFirstTaskFinishedMs, dask.startUpS * 1000, "time"),
        }
      : {}),
    quoted: ANCHORS.startUp,
  };
  out.adaptive = { ...(await adaptiveScaling(3, 2000)), quoted: ANCHORS.adaptive };
  out.anchorsSource = ANCHORS.source;
  out.steal = stealNote();
  return out;
}

function stealNote(): string {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
    return `host steal since boot: ${Number(f[8]) / 100} s (compare before/after runs)`;
  } catch {
    return "unknown";
  }
}

function progress(what: string): void {
  process.stderr.write(`bench cluster: ${what}\n`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(promise, ms, () => new Error(`bench: no ${what} within ${ms} ms`));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

// Not awaited at the top level: the workers and this process import this module as a flow module,
// which must finish evaluating first.
if (process.env.FLOTILLA_BENCH_CHILD === "raw-bullmq") void rawChild();
else if (process.argv[1] === SELF) void main(process.argv[2]);

/** `node --import tsx bench/cluster.ts [part]`: one part alone (for profiling), or everything. */
async function main(part: string | undefined): Promise<void> {
  const parts: Record<string, () => Promise<unknown>> = {
    map10k: () => mapVsRaw("bench-map10k", 10_000, 3, undefined),
    map50k: () => mapVsRaw("bench-map50k", 50_000, 1, undefined),
    "chain1k-raw": () => chainVsRaw(1, undefined),
    // Ours alone (no raw BullMQ children): for --cpu-prof of the runner and its workers.
    "map10k-ours": () => throughput("bench-map10k", 10_000, 1),
    "map50k-ours": () => throughput("bench-map50k", 50_000, 1),
    chain1k: () => throughput("bench-chain1k", 1000, 1),
    fanout5k: () => throughput("bench-fanout5k", 5001, 1),
    startup: () => startUp(1),
    adaptive: () => adaptiveScaling(1, 2000),
  };
  const result = await (parts[part ?? ""] ?? (() => benchCluster()))();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
