// Batch sizing of task runs (src/cluster/batching.ts): large for tiny tasks, one for long ones,
// a moderate size while a task's duration is unknown, and a wide stage spread over several jobs.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BATCHING_DEFAULTS, batchSize, cut, DurationEstimates } from "../src/cluster/batching.ts";

describe("batch sizing", { timeout: 10_000 }, () => {
  const o = BATCHING_DEFAULTS;

  it("puts many tiny task runs in one job, one long task run per job", () => {
    assert.equal(batchSize(10_000, 0, o), o.maxBatch);
    assert.equal(batchSize(10_000, 1, o), 20);
    assert.equal(batchSize(10_000, 20, o), 1);
    assert.equal(batchSize(10_000, 500, o), 1);
  });

  it("uses the unknown-duration size before any task run was seen, and spreads a stage over jobs", () => {
    assert.equal(batchSize(10_000, undefined, o), o.unknownBatch);
    assert.equal(batchSize(64, 0, o), 8, "64 tiny task runs still go out in 8 jobs");
    assert.equal(batchSize(3, 0, o), 1);
    assert.equal(batchSize(1, undefined, o), 1);
  });

  it("follows the observed durations of each task", () => {
    const e = new DurationEstimates();
    assert.equal(e.get("noop"), undefined);
    e.observe("noop", 0);
    e.observe("slow", 400);
    assert.equal(batchSize(10_000, e.get("noop"), o), o.maxBatch);
    assert.equal(batchSize(10_000, e.get("slow"), o), 1);
    for (let i = 0; i < 30; i++) e.observe("noop", 5);
    assert.equal(batchSize(10_000, e.get("noop"), o), 4, "a task that got slower gets smaller batches");
  });

  it("cuts in order, the last batch shorter", () => {
    assert.deepEqual(cut([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  });
});
