// The engine conformance suite: the same flows, run on any executor, must give the same states
// and results. Run against LocalExecutor (conformance-local.test.ts) and ClusterExecutor on a
// LocalCluster (conformance-cluster.redis.test.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Executor, RunEvent } from "../src/core/executor.ts";
import type { Flow } from "../src/core/flow.ts";
import type { FlowRunState, TaskRunRecord } from "../src/core/states.ts";
import { silentLogger } from "../src/engine/logging.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { within } from "./helpers/deadline.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/cluster-conformance.ts", import.meta.url));

function summary(record: TaskRunRecord): unknown {
  const s = record.state;
  switch (s.type) {
    case "Success":
      return { type: s.type, result: s.result, attempts: record.attempts };
    case "Mapped":
      return { type: s.type, children: s.children.map(summary) };
    case "TimedOut":
      return { type: s.type, attempts: record.attempts };
    case "Failed":
      return { type: s.type, message: s.message, attempts: record.attempts };
    default:
      return { type: s.type };
  }
}

/** A run of one fixture flow; loading the fixture and the run each have a deadline. */
async function runOn(makeExecutor: () => Executor, name: string, events?: RunEvent[]): Promise<FlowRunState> {
  const flow: Flow = selectFlow(await within(loadFlowModule(FIXTURE), 30_000, `loading ${FIXTURE}`), name);
  return within(
    flow.run({ executor: makeExecutor(), logger: silentLogger(), onEvent: (e) => events?.push(e) }),
    90_000,
    `flow ${name}`,
  );
}

/** The conformance suite for one executor. */
export function conformance(label: string, makeExecutor: () => Executor): void {
  describe(`engine conformance: ${label}`, { timeout: 120_000 }, () => {
    it("maps with an unmapped constant and reduces (fan-out, fan-in)", async () => {
      const events: RunEvent[] = [];
      const state = await runOn(makeExecutor, "conf-map-reduce", events);
      assert.equal(state.type, "Success");
      assert.deepEqual(summary(state.taskRuns.sum!), { type: "Success", result: 2190, attempts: 1 });
      const add = state.taskRuns.add!.state;
      assert.equal(add.type, "Mapped");
      assert.equal(add.type === "Mapped" && add.children.length, 20);
      assert.equal(events.filter((e) => e.type === "taskStarted" && e.slug === "add").length, 20);
    });
    it("applies triggers: allSuccessful, anyFailed, allFinished", async () => {
      const state = await runOn(makeExecutor, "conf-triggers");
      assert.equal(state.type, "Failed");
      assert.deepEqual(summary(state.taskRuns.boom!), { type: "Failed", message: "boom", attempts: 1 });
      assert.deepEqual(summary(state.taskRuns.after!), { type: "TriggerFailed" });
      assert.deepEqual(summary(state.taskRuns.cleanup!), { type: "Success", result: "cleaned", attempts: 1 });
      assert.deepEqual(summary(state.taskRuns.always!), { type: "Success", result: "always", attempts: 1 });
    });
    it("retries and times out, emitting taskRetrying", async () => {
      const events: RunEvent[] = [];
      const state = await runOn(makeExecutor, "conf-retries", events);
      assert.deepEqual(summary(state.taskRuns.flaky!), { type: "Success", result: 2, attempts: 2 });
      assert.deepEqual(summary(state.taskRuns.slow!), { type: "TimedOut", attempts: 1 });
      assert.ok(events.some((e) => e.type === "taskRetrying" && e.slug === "flaky" && e.state.attempt === 1));
    });
    it("honours signals and keeps rich result types", async () => {
      const state = await runOn(makeExecutor, "conf-signals");
      assert.deepEqual(summary(state.taskRuns.skipper!), { type: "Skipped" });
      assert.deepEqual(summary(state.taskRuns["downstream-of-skip"]!), { type: "Skipped" });
      assert.deepEqual(summary(state.taskRuns.failer!), {
        type: "Failed",
        message: "failed on purpose",
        attempts: 1,
      });
      assert.deepEqual(summary(state.taskRuns.kinds!), {
        type: "Success",
        result: {
          date: new Date(0),
          map: new Map([["k", 1]]),
          set: new Set([1]),
          big: 10n,
          bytes: new Uint8Array([1, 2]),
        },
        attempts: 1,
      });
    });
    it("keeps per-child states of a partly failed map", async () => {
      const state = await runOn(makeExecutor, "conf-partial-map");
      assert.equal(state.type, "Success");
      assert.deepEqual(summary(state.taskRuns["odd-fails"]!), {
        type: "Mapped",
        children: [
          { type: "Success", result: 0, attempts: 1 },
          { type: "Failed", message: "odd 1", attempts: 1 },
          { type: "Success", result: 2, attempts: 1 },
          { type: "Failed", message: "odd 3", attempts: 1 },
        ],
      });
    });
  });
}
