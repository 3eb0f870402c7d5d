// Batched task runs on a real redis-server with real worker processes: many task runs per queue
// job, and every per-task-run promise kept when a worker is SIGKILLed mid-batch or retired
// while it runs one. Each task execution is logged to a file (map index, pid), so the tests see
// what ran where and how often, as a user with side-effecting tasks would.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import { keys } from "../src/cluster/run-channel.ts";
import type { RunEvent } from "../src/core/executor.ts";
import type { FlowRunState } from "../src/core/states.ts";
import { silentLogger } from "../src/engine/logging.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { executions, FIXTURE, pidOf, withBroker } from "./helpers/held-runs.ts";

const N = 64;
/** The member that holds its batch: with 64 task runs of an unknown task, batches of 8 ([0..7], ...). */
const HOLD = 4;

/** The children of the mapped `step`: each one's state, result and attempts. */
function children(state: FlowRunState) {
  const step = state.taskRuns.step!.state;
  assert.equal(step.type, "Mapped");
  return (step.type === "Mapped" ? step.children : []).map((c, i) => {
    assert.equal(c.state.type, "Success", `step[${i}]: ${c.state.type}`);
    const result = (c.state.type === "Success" ? c.state.result : undefined) as { i: number; pid: number };
    assert.equal(result.i, i);
    return { pid: result.pid, attempts: c.attempts };
  });
}

describe("batched task runs", { timeout: 120_000 }, () => {
  it("a worker SIGKILLed mid-batch loses nothing and re-runs no stored success; the unfinished member counts an attempt", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-batch-"));
    try {
      const log = join(dir, "runs.log");
      const flow = selectFlow(await loadFlowModule(FIXTURE), "batch-held");
      const runId = `batch-kill-${Date.now()}`;
      const cluster = new LocalCluster({ minWorkers: 2, maxWorkers: 2, concurrency: 4 });
      let killed: Promise<number> | undefined;
      const state = await flow.run({
        parameters: { n: N, log, hold: HOLD, holdMs: 20_000 },
        executor: new ClusterExecutor({ cluster, lockDurationMs: 1000, stalledIntervalMs: 500 }),
        logger: silentLogger(),
        runId,
        onEvent: (e: RunEvent) => {
          if (e.type === "taskStarted" && e.slug === "step" && e.mapIndex === HOLD && killed === undefined) {
            killed = pidOf(cluster, runId, e.worker!).then((pid) => {
              process.kill(pid, "SIGKILL");
              return pid;
            });
          }
        },
      });
      assert.equal(state.type, "Success", state.message);
      assert.ok(killed !== undefined, "the held member started");
      const victim = await killed;
      const kids = children(state);
      const ran = await executions(log);
      assert.equal(kids.length, N, "no task run lost");
      for (let i = 0; i < N; i++) {
        const pids = ran.get(i) ?? [];
        assert.ok(pids.length >= 1, `step[${i}] ran`);
        assert.ok(
          pids.filter((p) => p !== victim).length <= 1,
          `step[${i}] ran once on the survivors: ${pids}`,
        );
        // A success the killed worker had stored is kept, and never run again.
        if (kids[i]!.pid === victim) assert.deepEqual(pids, [victim], `step[${i}] was not run again`);
        // A task run the killed worker had started and not reported is re-run, its attempt counted.
        else if (pids.includes(victim))
          assert.ok(kids[i]!.attempts >= 2, `step[${i}] counts the lost attempt`);
      }
      // The members before the held one, in its batch, finished on the killed worker and stay.
      for (let i = 0; i < HOLD; i++) assert.equal(kids[i]!.pid, victim, `step[${i}] ran before the kill`);
      assert.deepEqual(ran.get(HOLD), [victim, kids[HOLD]!.pid], "the held member ran again elsewhere");
      assert.notEqual(kids[HOLD]!.pid, victim);
      assert.equal(kids[HOLD]!.attempts, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a worker retired while it runs a batch finishes its member and hands the rest back; every task run runs once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-batch-"));
    try {
      const log = join(dir, "runs.log");
      const flow = selectFlow(await loadFlowModule(FIXTURE), "batch-held");
      const runId = `batch-retire-${Date.now()}`;
      const cluster = new LocalCluster({ minWorkers: 2, maxWorkers: 2, concurrency: 4 });
      let retired: Promise<{ pid: number }> | undefined;
      const state = await flow.run({
        parameters: { n: N, log, hold: HOLD, holdMs: 1500 },
        executor: new ClusterExecutor({ cluster }),
        logger: silentLogger(),
        runId,
        onEvent: (e: RunEvent) => {
          if (e.type === "taskStarted" && e.slug === "step" && e.mapIndex === HOLD && retired === undefined) {
            const worker = e.worker!;
            retired = (async () => {
              const pid = await pidOf(cluster, runId, worker);
              await withBroker(cluster, (r) => r.sadd(keys(runId).retire, worker));
              return { pid };
            })();
          }
        },
      });
      assert.equal(state.type, "Success", state.message);
      assert.ok(retired !== undefined, "the held member started");
      const worker = await retired;
      const kids = children(state);
      const ran = await executions(log);
      for (let i = 0; i < N; i++) {
        assert.equal(ran.get(i)?.length, 1, `step[${i}] ran exactly once: ${ran.get(i)}`);
        assert.equal(kids[i]!.attempts, 1, `step[${i}] took one attempt`);
      }
      // The retired worker finished the member it was running (not abandoned, not run again).
      assert.equal(kids[HOLD]!.pid, Number(worker.pid), "the held member finished on the retired worker");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
