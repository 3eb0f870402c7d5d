// The reconciling cluster core (src/cluster/reconciler.ts) over an in-test WorkerProvider that only
// records start/remove calls and reports lifecycle events when the test says so; heartbeats and
// retire requests go through an in-memory run channel (no redis-server: the Redis channel is the
// same interface, exercised by the lifecycle and reliability tests).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type {
  BrokerLease,
  ClusterHooks,
  ProviderEvent,
  WorkerLaunch,
  WorkerProvider,
} from "../src/cluster/cluster.ts";
import { MemoryRunChannel } from "../src/cluster/memory-run-channel.ts";
import type { Heartbeat } from "../src/cluster/protocol.ts";
import { type ReconcilerOptions, ReconcilingCluster } from "../src/cluster/reconciler.ts";
import { ErrorCode, type SerializedError } from "../src/core/errors.ts";
import type { RunEvent } from "../src/core/executor.ts";
import { silentLogger } from "../src/engine/logging.ts";

/** A provider that starts nothing: it records calls and lets the test play the workers. */
class RecordingProvider implements WorkerProvider {
  readonly kind = "recording";
  readonly started: string[] = [];
  readonly removed: string[] = [];
  #listener: (e: ProviderEvent) => void = () => {};
  #changed = new Set<() => void>();
  /** Called on each start (e.g. to make the worker crash at once). */
  onStart: (spec: WorkerLaunch) => void = () => {};

  async openBroker(): Promise<BrokerLease> {
    const nowhere = { host: "127.0.0.1", port: 0 };
    return { runner: nowhere, workers: nowhere, close: async () => {} };
  }
  async start(spec: WorkerLaunch): Promise<void> {
    this.started.push(spec.workerId);
    this.notify();
    queueMicrotask(() => this.onStart(spec));
  }
  async remove(workerId: string): Promise<void> {
    this.removed.push(workerId);
    this.notify();
    this.emit({ workerId, phase: "exited", reason: "removed", failed: false });
  }
  watch(listener: (e: ProviderEvent) => void): void {
    this.#listener = listener;
  }
  async close(): Promise<void> {}
  emit(e: ProviderEvent): void {
    this.#listener(e);
  }
  /** Resolves once `cond()` holds, re-checked on every provider call; fails after `ms`. */
  until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    return waitUntil(cond, what, ms, this.#changed);
  }
  notify(): void {
    for (const f of this.#changed) f();
  }
}

function waitUntil(cond: () => boolean, what: string, ms: number, wakers: Set<() => void>): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cond()) return;
      clearTimeout(timer);
      wakers.delete(check);
      resolve();
    };
    const timer = setTimeout(() => {
      wakers.delete(check);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    wakers.add(check);
  });
}

interface Harness {
  runId: string;
  provider: RecordingProvider;
  cluster: ReconcilingCluster;
  channel: MemoryRunChannel;
  events: Extract<RunEvent, { type: "workers" }>[];
  fatal: SerializedError[];
  /** Adaptive ticks seen so far (each tick asks for the outstanding count). */
  ticks(): number;
  /** Resolves after `n` more adaptive ticks. */
  afterTicks(n: number): Promise<void>;
  setOutstanding(n: number): void;
  beat(workerId: string, active: number): Promise<void>;
}

let runSeq = 0;
const open: ReconcilingCluster[] = [];

after(async () => {
  await Promise.all(open.map((c) => c.close()));
});

async function harness(options: Partial<ReconcilerOptions>): Promise<Harness> {
  const provider = new RecordingProvider();
  const channel = new MemoryRunChannel();
  const runId = `rec-${process.pid}-${++runSeq}`;
  let outstanding = 0;
  let ticks = 0;
  const tickWakers = new Set<() => void>();
  const events: Harness["events"] = [];
  const fatal: SerializedError[] = [];
  const hooks: ClusterHooks = {
    outstanding: () => {
      ticks++;
      for (const f of tickWakers) f();
      return outstanding;
    },
    onEvent: (e) => events.push(e),
    onFatal: (e) => {
      fatal.push(e);
      provider.notify();
    },
  };
  const cluster = await ReconcilingCluster.start(
    provider,
    { runId, flowName: "f", flowModule: "f.ts", fingerprint: "x", logger: silentLogger() },
    hooks,
    {
      adaptIntervalMs: 20,
      idleTimeoutMs: 100,
      closeGraceMs: 1000,
      openChannel: async () => channel,
      ...options,
    },
  );
  open.push(cluster);
  return {
    runId,
    provider,
    cluster,
    channel,
    events,
    fatal,
    ticks: () => ticks,
    afterTicks(n) {
      const target = ticks + n;
      return waitUntil(() => ticks >= target, `${n} ticks`, 5000, tickWakers);
    },
    setOutstanding(n) {
      outstanding = n;
    },
    async beat(workerId, active) {
      const beat: Heartbeat = {
        active,
        concurrency: 1,
        phase: "running",
        at: Date.now(),
        pid: 0,
        host: "test",
      };
      channel.beat(workerId, beat);
    },
  };
}

function runAll(h: Harness, ids: readonly string[]): void {
  for (const id of ids) {
    h.provider.emit({ workerId: id, phase: "starting" });
    h.cluster.observe(id, "running");
  }
}

describe("reconciling cluster core", { timeout: 30_000 }, () => {
  it("starts minWorkers at once, then scales up to the demand, capped by maxWorkers", async () => {
    const h = await harness({ minWorkers: 1, maxWorkers: 4, concurrency: 2 });
    assert.equal(h.provider.started.length, 1, "minWorkers requested by start()");
    runAll(h, h.provider.started);
    h.setOutstanding(5); // ceil(5 / 2) = 3 workers
    await h.provider.until(() => h.provider.started.length === 3, "3 workers");
    runAll(h, h.provider.started.slice(1));
    h.setOutstanding(100);
    await h.provider.until(() => h.provider.started.length === 4, "4 workers");
    runAll(h, h.provider.started.slice(3));
    await h.afterTicks(5);
    assert.equal(h.provider.started.length, 4, "never above maxWorkers");
    assert.ok(h.events.some((e) => e.count === 4 && e.pending === 0));
    assert.ok(h.events.some((e) => /scale up 1 -> 3: demand 3/.test(e.reason)));
  });

  it("starts initialWorkers, then retires the idle ones down to minWorkers after the idle timeout", async () => {
    const h = await harness({ minWorkers: 1, maxWorkers: 4, initialWorkers: 3, concurrency: 1 });
    assert.equal(h.provider.started.length, 3, "initialWorkers requested by start()");
    runAll(h, h.provider.started);
    for (const id of h.provider.started) await h.beat(id, 0);
    // No demand: after the 100 ms idle timeout, 25 % (at least 1) per step, down to minWorkers.
    const live = () => h.cluster.workers.filter((w) => w.phase !== "draining").length;
    const deadline = Date.now() + 5000;
    while (live() > 1 && Date.now() < deadline) await h.afterTicks(1);
    assert.equal(live(), 1, "scaled down to minWorkers");
    assert.equal(h.channel.retired().length, 2, "two idle workers retired through the broker");
    assert.equal(h.provider.started.length, 3, "none started after the initial ones");
    assert.ok(h.events.some((e) => /scale down 3 -> 2/.test(e.reason)));
  });

  it("cancels workers that have not started before retiring running ones", async () => {
    const h = await harness({ minWorkers: 1, maxWorkers: 3, concurrency: 1 });
    const [first] = h.provider.started;
    runAll(h, [first!]);
    h.setOutstanding(3);
    await h.provider.until(() => h.provider.started.length === 3, "3 workers");
    // The two new ones never start; the demand goes away.
    h.setOutstanding(0);
    await h.provider.until(() => h.provider.removed.length === 2, "2 removals");
    assert.deepEqual([...h.provider.removed].sort(), h.provider.started.slice(1).sort(), "the pending ones");
    await h.afterTicks(5);
    assert.deepEqual(h.channel.retired(), [], "the running worker is kept");
    assert.deepEqual(
      h.cluster.workers.map((w) => [w.id, w.phase]),
      [[first, "running"]],
    );
  });

  it("never retires a busy worker; retires the idle one through the broker", async () => {
    const h = await harness({ minWorkers: 0, maxWorkers: 2, concurrency: 1 });
    h.setOutstanding(2);
    await h.provider.until(() => h.provider.started.length === 2, "2 workers");
    const [busy, idle] = h.provider.started as [string, string];
    runAll(h, [busy, idle]);
    await h.beat(busy, 1);
    await h.beat(idle, 0);
    h.setOutstanding(1); // demand 1: one worker too many
    await h.afterTicks(10); // well past the 100 ms idle timeout at 20 ms a tick
    assert.deepEqual(h.channel.retired(), [idle]);
    // Both busy: nothing is retired, however long the demand stays low.
    await h.beat(idle, 1);
    await h.afterTicks(10);
    assert.deepEqual(h.channel.retired(), [idle], "the busy worker is never asked to drain");
    assert.deepEqual(h.provider.removed, [], "a retire is a drain request, not a kill");
  });

  it("fails the run instead of looping when workers keep crashing at start", async () => {
    const h = await harness({ minWorkers: 1, maxWorkers: 1, maxStartFailures: 3 });
    h.provider.onStart = (spec) => {
      h.provider.emit({ workerId: spec.workerId, phase: "starting" });
      h.provider.emit({
        workerId: spec.workerId,
        phase: "exited",
        reason: "exit code 1: cannot load flow file",
        failed: true,
      });
    };
    // The first worker was started before onStart was set: crash it by hand.
    const [first] = h.provider.started;
    h.provider.emit({ workerId: first!, phase: "starting" });
    h.provider.emit({
      workerId: first!,
      phase: "exited",
      reason: "exit code 1: cannot load flow file",
      failed: true,
    });
    await h.provider.until(() => h.fatal.length > 0 || h.provider.started.length > 10, "a fatal error");
    assert.equal(h.fatal.length, 1);
    assert.equal(h.fatal[0]!.code, ErrorCode.WorkerStart);
    assert.match(
      h.fatal[0]!.message,
      /workers keep failing to start \(3 in a row\); the last one: exit code 1/,
    );
    const starts = h.provider.started.length;
    assert.equal(starts, 3);
    // Once it gave up, reconciling starts nothing (the run is failing and will close the cluster).
    await h.cluster.reconcile();
    assert.equal(h.provider.started.length, starts, "no more workers are started");
  });

  it("close() asks every worker to drain, waits for their exits, then removes the rest", async () => {
    const h = await harness({ minWorkers: 2, maxWorkers: 2, closeGraceMs: 300 });
    const [a, b] = h.provider.started as [string, string];
    runAll(h, [a, b]);
    const t0 = Date.now();
    const closing = h.cluster.close();
    // a drains and exits by itself; b never does and is removed after the grace period.
    await new Promise((r) => setImmediate(r));
    h.provider.emit({ workerId: a, phase: "exited", reason: "exit code 0", failed: false });
    await closing;
    const took = Date.now() - t0;
    assert.deepEqual(h.provider.removed, [b]);
    assert.ok(took >= 250 && took < 2000, `close took ${took} ms`);
    assert.deepEqual(h.channel.retired().sort(), ["-", a, b].sort());
  });
});
