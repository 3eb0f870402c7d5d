// The chain lane on a real redis-server with real worker processes: a task run whose lone
// successor becomes ready goes straight to the worker that finished it. A worker SIGKILLed or
// retired while it holds a hop of the chain loses nothing and re-runs no finished hop. Each hop's
// execution is logged to a file (index, pid).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { connectBroker } from "../src/cluster/broker.ts";
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import { keys } from "../src/cluster/run-channel.ts";
import type { RunEvent } from "../src/core/executor.ts";
import { silentLogger } from "../src/engine/logging.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";

const fixture = fileURLToPath(new URL("./fixtures/cluster-batching.ts", import.meta.url));
const HOPS = 12;
const HOLD = 5;

async function executions(log: string): Promise<Map<number, number[]>> {
  const byIndex = new Map<number, number[]>();
  for (const line of (await readFile(log, "utf8")).split("\n")) {
    if (line === "") continue;
    const [i, pid] = line.split(" ").map(Number) as [number, number];
    byIndex.set(i, [...(byIndex.get(i) ?? []), pid]);
  }
  return byIndex;
}

async function withBroker<T>(
  cluster: LocalCluster,
  fn: (r: Awaited<ReturnType<typeof connectBroker>>) => Promise<T>,
) {
  const r = await connectBroker(cluster.broker!);
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function pidOf(cluster: LocalCluster, runId: string, worker: string): Promise<number> {
  return withBroker(
    cluster,
    async (r) => (JSON.parse((await r.hget(keys(runId).workers, worker))!) as { pid: number }).pid,
  );
}

/** Run the chain; `onHold` is called once with the worker running the holding hop. */
async function runChain(
  holdMs: number,
  onHold: (cluster: LocalCluster, runId: string, worker: string) => Promise<number>,
) {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-lane-"));
  try {
    const log = join(dir, "hops.log");
    const flow = selectFlow(await loadFlowModule(fixture), "chain-held");
    const runId = `lane-${Date.now()}`;
    const cluster = new LocalCluster({ minWorkers: 2, maxWorkers: 2, concurrency: 4 });
    let held: Promise<number> | undefined;
    const state = await flow.run({
      parameters: { log, holdMs },
      executor: new ClusterExecutor({ cluster, lockDurationMs: 1000, stalledIntervalMs: 500 }),
      logger: silentLogger(),
      runId,
      onEvent: (e: RunEvent) => {
        if (e.type === "taskStarted" && e.slug === "hold" && held === undefined)
          held = onHold(cluster, runId, e.worker!);
      },
    });
    assert.ok(held !== undefined, "the holding hop started");
    return { state, pid: await held, ran: await executions(log) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("chain lane", { timeout: 120_000 }, () => {
  it("a worker SIGKILLed while it holds a hop: the hop re-runs elsewhere with its attempt counted, no finished hop runs again", async () => {
    const { state, pid, ran } = await runChain(20_000, async (cluster, runId, worker) => {
      const p = await pidOf(cluster, runId, worker);
      process.kill(p, "SIGKILL");
      return p;
    });
    assert.equal(state.type, "Success", state.message);
    assert.equal(state.result, HOPS);
    for (let i = 0; i < HOPS; i++) {
      if (i === HOLD) continue;
      assert.equal(ran.get(i)?.length, 1, `hop ${i} ran once: ${ran.get(i)}`);
    }
    const hold = ran.get(HOLD) ?? [];
    assert.equal(hold.length, 2, `the held hop ran twice: ${hold}`);
    assert.equal(hold[0], pid);
    assert.notEqual(hold[1], pid);
    assert.equal(state.taskRuns.hold!.attempts, 2);
  });

  it("a worker retired while it holds a hop finishes it; every hop runs once", async () => {
    const { state, pid, ran } = await runChain(1500, async (cluster, runId, worker) => {
      const p = await pidOf(cluster, runId, worker);
      await withBroker(cluster, (r) => r.sadd(keys(runId).retire, worker));
      return p;
    });
    assert.equal(state.type, "Success", state.message);
    assert.equal(state.result, HOPS);
    for (let i = 0; i < HOPS; i++) assert.equal(ran.get(i)?.length, 1, `hop ${i} ran once: ${ran.get(i)}`);
    assert.deepEqual(ran.get(HOLD), [pid], "the held hop finished on the retired worker");
    assert.equal(state.taskRuns.hold!.attempts, 1);
  });
});
