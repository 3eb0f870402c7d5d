// The chain lane on a real redis-server with real worker processes: a task run whose lone
// successor becomes ready goes straight to the worker that finished it. A worker SIGKILLed or
// retired while it holds a hop of the chain loses nothing and re-runs no finished hop. Each hop's
// execution is logged to a file (index, pid).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LocalCluster } from "../src/cluster/local-cluster.ts";
import { keys } from "../src/cluster/run-channel.ts";
import { pidOf, runChain as runHeldChain, withBroker } from "./helpers/held-runs.ts";

const HOPS = 12;
const HOLD = 5;

/** Run the chain; `onHold` is called once with the worker running the holding hop. */
const runChain = (
  holdMs: number,
  onHold: (cluster: LocalCluster, runId: string, worker: string) => Promise<number>,
) => runHeldChain({ flow: "chain-held", holdSlug: "hold", holdMs, onHold });

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
