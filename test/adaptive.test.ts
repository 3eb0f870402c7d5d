// The adaptive policy (src/cluster/adaptive.ts), pure: every rule of DESIGN.md §6.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Bounds, initialSize, type ObservedWorker, plan } from "../src/cluster/adaptive.ts";

const bounds: Bounds = { minWorkers: 1, maxWorkers: 8, slotsPerWorker: 4, idleTimeoutMs: 1000 };
const w = (id: string, phase: ObservedWorker["phase"], active = 0, requestedAt = 0): ObservedWorker => ({
  id,
  phase,
  active,
  requestedAt,
});
const running = (n: number, active = 0) =>
  Array.from({ length: n }, (_, i) => w(`r${i}`, "running", active, i));

describe("adaptive plan", () => {
  it("scales up toward ceil((queued + running) / slotsPerWorker) in one step when it can", () => {
    const d = plan({ nowMs: 0, queued: 9, running: 4, workers: running(2, 2) }, bounds);
    assert.equal(d.target, 4);
    assert.match(d.reason, /scale up 2 -> 4: demand 4/);
    const oneToFour = plan(
      { nowMs: 0, queued: 200, running: 0, workers: running(1) },
      { ...bounds, maxWorkers: 4 },
    );
    assert.equal(oneToFour.target, 4, "1 -> 4 in one step, as Dask's adapt does");
  });
  it("bounds each scale-up step: 4 more workers or doubling, whichever is more", () => {
    const wide = { ...bounds, maxWorkers: 100 };
    assert.equal(plan({ nowMs: 0, queued: 1000, running: 0, workers: running(1) }, wide).target, 5);
    assert.equal(plan({ nowMs: 0, queued: 1000, running: 0, workers: running(10) }, wide).target, 20);
    assert.equal(
      plan({ nowMs: 0, queued: 1000, running: 0, workers: running(1) }, { ...wide, scaleUpStepWorkers: 1 })
        .target,
      2,
    );
  });
  it("caps at maxWorkers", () => {
    const d = plan({ nowMs: 0, queued: 1000, running: 0, workers: running(6) }, bounds);
    assert.equal(d.target, 8);
  });
  it("keeps the minWorkers floor, reaching it in one step", () => {
    const d = plan({ nowMs: 0, queued: 0, running: 0, workers: [] }, { ...bounds, minWorkers: 3 });
    assert.equal(d.target, 3);
    assert.match(d.reason, /below minWorkers 3/);
  });
  it("is a fixed size when min == max", () => {
    const fixed = { ...bounds, minWorkers: 2, maxWorkers: 2 };
    assert.equal(plan({ nowMs: 0, queued: 500, running: 0, workers: running(2) }, fixed).target, 2);
    assert.equal(
      plan({ nowMs: 99999, queued: 0, running: 0, workers: running(2) }, fixed, { lowSinceMs: 0 }).target,
      2,
    );
  });
  it("waits for a sustained idle period (idleTimeoutMs) before scaling down", () => {
    const first = plan({ nowMs: 1000, queued: 0, running: 0, workers: running(4) }, bounds);
    assert.equal(first.target, 4);
    assert.deepEqual(first.history, { lowSinceMs: 1000 });
    const early = plan({ nowMs: 1999, queued: 0, running: 0, workers: running(4) }, bounds, first.history);
    assert.equal(early.target, 4);
    assert.match(early.reason, /holding 4/);
    const later = plan({ nowMs: 2000, queued: 0, running: 0, workers: running(4) }, bounds, first.history);
    assert.equal(later.target, 3, "25 % of 4 per step");
    assert.equal(later.retire.length, 1);
    // Demand coming back resets the idle clock.
    const busy = plan({ nowMs: 2100, queued: 16, running: 0, workers: running(4) }, bounds, later.history);
    assert.deepEqual(busy.history, {});
  });
  it("cancels pending workers before retiring running ones", () => {
    const workers = [
      w("run-a", "running", 0, 1),
      w("pend-b", "pending", 0, 5),
      w("start-c", "starting", 0, 4),
    ];
    const d = plan(
      { nowMs: 5000, queued: 0, running: 0, workers },
      { ...bounds, maxScaleDownFraction: 1 },
      { lowSinceMs: 0 },
    );
    assert.deepEqual(d.cancelPending, ["pend-b", "start-c"]);
    assert.deepEqual(d.retire, []);
    assert.equal(d.target, 1);
  });
  it("never retires a busy worker", () => {
    const workers = [w("a", "running", 3), w("b", "running", 1), w("c", "running", 0)];
    const d = plan(
      { nowMs: 5000, queued: 0, running: 4, workers },
      { ...bounds, maxScaleDownFraction: 1 },
      { lowSinceMs: 0 },
    );
    assert.deepEqual(d.retire, ["c"]);
    assert.equal(d.target, 2);
    const allBusy = plan(
      { nowMs: 5000, queued: 0, running: 2, workers: [w("a", "running", 1), w("b", "running", 1)] },
      { ...bounds, slotsPerWorker: 100 },
      { lowSinceMs: 0 },
    );
    assert.equal(allBusy.target, 2);
    assert.match(allBusy.reason, /every worker is busy/);
  });
  it("does not count draining workers", () => {
    const d = plan(
      { nowMs: 0, queued: 8, running: 0, workers: [w("a", "draining"), w("b", "running")] },
      bounds,
    );
    assert.equal(d.target, 2);
  });
  it("starts at initialWorkers clamped to min..max: a starting size, not a floor", () => {
    assert.equal(initialSize(bounds), 1, "minWorkers without initialWorkers");
    assert.equal(initialSize({ ...bounds, initialWorkers: 2 }), 2);
    assert.equal(initialSize({ ...bounds, initialWorkers: 50 }), 8, "capped by maxWorkers");
    assert.equal(initialSize({ ...bounds, minWorkers: 3, initialWorkers: 1 }), 3, "raised to minWorkers");
    // From 2 initial workers with no demand, the normal policy holds for idleTimeoutMs, then goes to min.
    const seeded = { ...bounds, initialWorkers: 2 };
    const idle = plan({ nowMs: 0, queued: 0, running: 0, workers: running(2) }, seeded);
    assert.equal(idle.target, 2);
    assert.match(idle.reason, /holding 2/);
    const after = plan({ nowMs: 1000, queued: 0, running: 0, workers: running(2) }, seeded, idle.history);
    assert.equal(after.target, 1, "back to minWorkers after the idle timeout");
  });
});
