// Chain continuation on a real redis-server with real worker processes: a worker goes on with the
// lone successor of a task run it finished (its inputs that result alone) without waiting for the
// runner, and the runner still sees every hop's state. A worker SIGKILLed or retired while it
// holds a hop loses nothing and re-runs no finished hop. Each hop's execution is logged to a
// file (hop number, pid).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LocalCluster } from "../src/cluster/local-cluster.ts";
import { keys } from "../src/cluster/run-channel.ts";
import { HELD } from "./fixtures/cluster-batching.ts";
import { pidOf, runChain as runHeldChain, withBroker } from "./helpers/held-runs.ts";

const HOPS = 12;
const HOLD_SLUG = `next-${HELD}`;

/** Run the chain; `onHold` is called once with the worker running the holding hop. */
const runChain = (
  holdMs: number,
  onHold?: (cluster: LocalCluster, runId: string, worker: string) => Promise<number>,
) => runHeldChain({ flow: "chain-carried", holdSlug: HOLD_SLUG, holdMs, ...(onHold ? { onHold } : {}) });

function slugOf(hop: number): string {
  return hop === 0 ? "first" : hop === 1 ? "next" : `next-${hop}`;
}

describe("chain continuation", { timeout: 120_000 }, () => {
  it("a worker goes on with each next hop itself; the runner sees every hop start and finish, in order", async () => {
    const { state, events, ran } = await runChain(0);
    assert.equal(state.type, "Success", state.message);
    assert.equal((state.result as { n: number }).n, HOPS);
    const pids = new Set<number>();
    for (let i = 0; i < HOPS; i++) {
      assert.equal(ran.get(i)?.length, 1, `hop ${i} ran once: ${ran.get(i)}`);
      pids.add(ran.get(i)![0]!);
      const run = state.taskRuns[slugOf(i)]!;
      assert.equal(run.state.type, "Success", slugOf(i));
      assert.equal(run.attempts, 1, slugOf(i));
      assert.ok(run.worker !== undefined, `${slugOf(i)} names its worker`);
    }
    assert.equal(pids.size, 1, `every hop ran in the process of the first: ${[...pids]}`);
    const order = events
      .filter((e) => e.type === "taskStarted" || (e.type === "taskFinished" && e.mapIndex === -1))
      .map((e) => `${e.type === "taskStarted" ? "start" : "end"} ${(e as { slug: string }).slug}`);
    const want = Array.from({ length: HOPS }, (_, i) => [`start ${slugOf(i)}`, `end ${slugOf(i)}`]).flat();
    assert.deepEqual(order, want);
  });

  it("a worker SIGKILLed while it holds a hop: the hop re-runs elsewhere with its attempt counted, no finished hop runs again", async () => {
    const { state, pid, ran } = await runChain(20_000, async (cluster, runId, worker) => {
      const p = await pidOf(cluster, runId, worker);
      process.kill(p, "SIGKILL");
      return p;
    });
    assert.equal(state.type, "Success", state.message);
    assert.equal((state.result as { n: number }).n, HOPS);
    for (let i = 0; i < HOPS; i++) {
      if (i === HELD) continue;
      assert.equal(ran.get(i)?.length, 1, `hop ${i} ran once: ${ran.get(i)}`);
    }
    const hold = ran.get(HELD) ?? [];
    assert.equal(hold.length, 2, `the held hop ran twice: ${hold}`);
    assert.equal(hold[0], pid);
    assert.notEqual(hold[1], pid);
    assert.equal(state.taskRuns[HOLD_SLUG]!.attempts, 2);
    assert.equal(state.taskRuns[slugOf(HELD + 1)]!.attempts, 1);
  });

  it("a worker retired while it holds a hop finishes it and goes no further; every hop runs once", async () => {
    const { state, pid, ran } = await runChain(1500, async (cluster, runId, worker) => {
      const p = await pidOf(cluster, runId, worker);
      await withBroker(cluster, (r) => r.sadd(keys(runId).retire, worker));
      return p;
    });
    assert.equal(state.type, "Success", state.message);
    assert.equal((state.result as { n: number }).n, HOPS);
    for (let i = 0; i < HOPS; i++) assert.equal(ran.get(i)?.length, 1, `hop ${i} ran once: ${ran.get(i)}`);
    assert.deepEqual(ran.get(HELD), [pid], "the held hop finished on the retired worker");
    assert.notEqual(ran.get(HELD + 1)?.[0], pid, "the next hop ran on the other worker");
    assert.equal(state.taskRuns[HOLD_SLUG]!.attempts, 1);
  });
});
