// Schedules across downtime: exactly one run per tick, and each catch-up policy (skip, once,
// all) applied to the ticks missed while the scheduler was down; a paused schedule creates
// nothing and resuming does not catch up the paused time; cron in a time zone.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { dueTicks, ticksBetween } from "../src/scheduler/expand.ts";
import { Scheduler } from "../src/scheduler/loop.ts";
import { openStore } from "../src/store/open.ts";

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

describe("schedules", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "flotilla-sched-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("cron ticks follow the time zone", () => {
    const ticks = ticksBetween({ cron: "0 9 * * *", timezone: "Europe/Berlin" }, T0, T0 + 2 * 86_400_000, 10);
    assert.deepEqual(
      ticks.map((t) => new Date(t).toISOString()),
      ["2026-01-01T08:00:00.000Z", "2026-01-02T08:00:00.000Z"],
    );
  });

  it("after 10 minutes of downtime: all → 10 runs, once → 1 (the latest), skip → none", () => {
    const s = { cron: "* * * * *", timezone: "UTC", lastTickAt: T0 };
    const now = T0 + 10 * MIN + 45_000; // the last tick (T0+10m) is 45 s old: missed
    assert.equal(dueTicks({ ...s, catchUp: "all" }, now).length, 10);
    assert.deepEqual(dueTicks({ ...s, catchUp: "once" }, now), [T0 + 10 * MIN]);
    assert.deepEqual(dueTicks({ ...s, catchUp: "skip" }, now), []);
    // a tick due a moment ago is on time for every policy
    const onTime = T0 + 10 * MIN + 500;
    assert.deepEqual(dueTicks({ ...s, catchUp: "skip" }, onTime), [T0 + 10 * MIN]);
    assert.deepEqual(dueTicks({ ...s, catchUp: "once" }, onTime), [T0 + 10 * MIN]);
  });

  for (const [policy, expected] of [
    ["all", 10],
    ["once", 1],
    ["skip", 0],
  ] as const) {
    it(`the scheduler loop after downtime, catch-up ${policy}: ${expected} runs, none twice`, async () => {
      const store = await openStore(path.join(dir, `${policy}.db`));
      try {
        const flow = await store.registerFlow({ name: "f", fingerprint: "x", dag: {}, parameterSchema: [] });
        const d = await store.putDeployment({
          name: `d-${policy}`,
          flowId: flow.id,
          parameters: {},
          pool: "local",
        });
        await store.setSchedule(d.id, { cron: "* * * * *", timezone: "UTC", catchUp: policy }, T0);
        let now = T0 + 10 * MIN + 45_000;
        const scheduler = new Scheduler({ store, now: () => now });
        await scheduler.tick();
        await scheduler.tick(); // a second pass at the same time creates nothing more
        const runs = (await store.listRuns({ deploymentId: d.id, limit: 100 })).items;
        assert.equal(runs.length, expected);
        assert.equal(new Set(runs.map((r) => r.scheduledAt)).size, runs.length, "one run per tick");
        // back on time: the next tick gets its run, once
        now = T0 + 11 * MIN + 200;
        await scheduler.tick();
        await scheduler.tick();
        const later = (await store.listRuns({ deploymentId: d.id, limit: 100 })).items;
        assert.equal(later.length, expected + 1);
        assert.equal(later[0]?.scheduledAt, T0 + 11 * MIN);
      } finally {
        await store.close();
      }
    });
  }

  it("a paused schedule creates nothing, and resuming starts from now", async () => {
    const store = await openStore(path.join(dir, "pause.db"));
    try {
      const flow = await store.registerFlow({ name: "f", fingerprint: "x", dag: {}, parameterSchema: [] });
      const d = await store.putDeployment({ name: "p", flowId: flow.id, parameters: {}, pool: "local" });
      const s = (await store.setSchedule(d.id, { intervalMs: MIN, timezone: "UTC", catchUp: "all" }, T0))!;
      await store.setSchedulePaused(s.id, true);
      let now = T0 + 5 * MIN + 100;
      const scheduler = new Scheduler({ store, now: () => now });
      await scheduler.tick();
      assert.equal((await store.listRuns({ deploymentId: d.id })).items.length, 0);
      // resume as the API does: the last tick moves to now, then unpause
      await store.createScheduledRuns(s, d, [], now);
      await store.setSchedulePaused(s.id, false);
      now = T0 + 6 * MIN + 100;
      await scheduler.tick();
      const runs = (await store.listRuns({ deploymentId: d.id })).items;
      assert.deepEqual(
        runs.map((r) => r.scheduledAt),
        [T0 + 6 * MIN],
      );
    } finally {
      await store.close();
    }
  });
});
