// The store contract, run on both adapters: SQLite (a temp file) and a real PostgreSQL started
// for this file. Run history with a monotone state machine, task runs that never go back, logs
// searchable by run, leases that respect concurrency limits, one run per schedule tick,
// retention with a dry run, hashed tokens, and a database URL error that hides the password.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FlotillaError } from "../src/core/errors.ts";
import { openStore } from "../src/store/open.ts";
import type { Store } from "../src/store/store.ts";
import { STATE_DIGITS } from "../src/store/task-run-summary.ts";
import { testPostgres } from "./helpers/postgres.ts";

const T0 = 1_700_000_000_000;
// Started first, at the top level, so that its after() belongs to the file and runs last.
const pg = await testPostgres();

function contract(name: string, open: () => Promise<Store>) {
  describe(`store contract: ${name}`, { timeout: 120_000 }, () => {
    let store: Store;
    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    async function deployment(n: string, limit?: number) {
      const flow = await store.registerFlow({
        name: `flow-${n}`,
        fingerprint: "abc",
        dag: { tasks: [] },
        parameterSchema: [],
      });
      return store.putDeployment({
        name: n,
        flowId: flow.id,
        parameters: { x: 1 },
        pool: `pool-${n}`,
        ...(limit !== undefined ? { concurrencyLimit: limit } : {}),
      });
    }

    it("moves a run forward only, and keeps every transition as an event", async () => {
      const run = await store.createRun({ flowName: "f" }, T0);
      assert.equal(run.state, "Scheduled");
      for (const s of ["Pending", "Starting", "Running"] as const) {
        const r = await store.transitionRun(run.id, s, T0 + 1);
        assert.ok(r?.ok, `to ${s}`);
      }
      const back = await store.transitionRun(run.id, "Pending", T0 + 2);
      assert.equal(back?.ok, false);
      assert.match(back && !back.ok ? back.refused : "", /backwards/);
      const toCancelled = await store.transitionRun(run.id, "Cancelled", T0 + 2);
      assert.equal(toCancelled?.ok, false, "a Running run is cancelled through Cancelling");
      const done = await store.transitionRun(run.id, "Crashed", T0 + 3, { reason: "OOMKilled" });
      assert.ok(done?.ok);
      const after = await store.transitionRun(run.id, "Success", T0 + 4);
      assert.equal(after?.ok, false, "a final state is final");
      const got = await store.getRun(run.id);
      assert.equal(got?.state, "Crashed");
      assert.equal(got?.reason, "OOMKilled");
      assert.equal(got?.startedAt, T0 + 1);
      assert.equal(got?.endedAt, T0 + 3);
      const events = await store.runEvents(run.id);
      assert.deepEqual(
        events.map((e) => e.to),
        ["Scheduled", "Pending", "Starting", "Running", "Crashed"],
      );
      assert.equal(await store.transitionRun("no-such-run", "Running", T0), undefined);
    });

    it("a Cancelling run no agent holds, whose runner reports Failed (stopped by the cancel), ends Cancelled", async () => {
      const run = await store.createRun({ flowName: "f", state: "Running" }, T0);
      assert.ok((await store.transitionRun(run.id, "Cancelling", T0 + 1))?.ok);
      const r = await store.transitionRun(run.id, "Failed", T0 + 2, { reason: "the run was cancelled" });
      assert.ok(r?.ok);
      assert.equal((await store.getRun(run.id))?.state, "Cancelled");
      assert.equal(
        (await store.transitionRun(run.id, "Cancelled", T0 + 3))?.ok,
        true,
        "the agent's mark is a no-op",
      );
    });

    it("a run that ends Cancelled or Crashed leaves no task run Running or Pending; a Success run's are untouched", async () => {
      const cancelled = await store.createRun({ flowName: "f", state: "Running" }, T0);
      await store.report(cancelled.id, {
        taskRuns: [
          { slug: "done", mapIndex: -1, attempt: 1, state: "Success", endedAt: T0 + 1 },
          { slug: "busy", mapIndex: -1, attempt: 1, state: "Running", startedAt: T0 + 1, worker: "w1" },
          { slug: "next", mapIndex: -1, attempt: 1, state: "Pending" },
        ],
      });
      assert.equal((await store.transitionRun(cancelled.id, "Cancelling", T0 + 2))?.ok, true);
      assert.equal((await store.transitionRun(cancelled.id, "Cancelled", T0 + 3))?.ok, true);
      const byslug = new Map((await store.taskRuns(cancelled.id)).map((t) => [t.slug, t]));
      assert.equal(byslug.get("done")?.state, "Success");
      for (const slug of ["busy", "next"]) {
        assert.equal(byslug.get(slug)?.state, "Failed", slug);
        assert.equal(byslug.get(slug)?.message, "the run ended Cancelled before this task run finished");
        assert.equal(byslug.get(slug)?.endedAt, T0 + 3);
      }
      assert.equal(byslug.get("busy")?.worker, "w1");
      assert.deepEqual((await store.getRun(cancelled.id))?.taskCounts, { Success: 1, Failed: 2 });

      const crashed = await store.createRun({ flowName: "f", state: "Running" }, T0);
      await store.report(crashed.id, {
        taskRuns: [{ slug: "busy", mapIndex: 3, attempt: 1, state: "Running", startedAt: T0 }],
      });
      await store.transitionRun(crashed.id, "Crashed", T0 + 4, { reason: "runner pod deleted" });
      const [busy] = await store.taskRuns(crashed.id);
      assert.equal(busy?.state, "Failed");
      assert.equal(busy?.message, "the run ended Crashed before this task run finished");

      const ok = await store.createRun({ flowName: "f", state: "Running" }, T0);
      await store.report(ok.id, { taskRuns: [{ slug: "late", mapIndex: -1, attempt: 1, state: "Running" }] });
      await store.transitionRun(ok.id, "Success", T0 + 5);
      assert.equal((await store.taskRuns(ok.id))[0]?.state, "Running");
    });

    it("keeps a task run's final state when a late, older report arrives", async () => {
      const run = await store.createRun({ flowName: "f", state: "Running" }, T0);
      await store.report(run.id, {
        taskRuns: [
          { slug: "a", mapIndex: -1, attempt: 1, state: "Running", startedAt: T0 },
          { slug: "a", mapIndex: -1, attempt: 1, state: "Success", endedAt: T0 + 5 },
          {
            slug: "m",
            mapIndex: 0,
            attempt: 1,
            state: "Failed",
            message: "boom",
            error: { message: "boom" },
          },
        ],
      });
      await store.report(run.id, {
        taskRuns: [{ slug: "a", mapIndex: -1, attempt: 1, state: "Running", startedAt: T0 }],
      });
      const tasks = await store.taskRuns(run.id);
      assert.equal(tasks.length, 2);
      const a = tasks.find((t) => t.slug === "a")!;
      assert.equal(a.state, "Success");
      assert.equal(a.startedAt, T0);
      assert.equal(a.endedAt, T0 + 5);
      const m = tasks.find((t) => t.slug === "m")!;
      assert.equal(m.mapIndex, 0);
      assert.deepEqual(m.error, { message: "boom" });
      const detail = await store.getRun(run.id);
      assert.deepEqual(detail?.taskCounts, { Success: 1, Failed: 1 });
    });

    it("writes a run's task runs as JSON text equal to its records, escapes and retries included", async () => {
      const run = await store.createRun({ flowName: "f", state: "Running" }, T0);
      const odd = 'a "quoted" \\ back\nslash, tab\t, é ✓ 😀 and \u0001';
      await store.report(run.id, {
        taskRuns: [
          { slug: "z", mapIndex: -1, attempt: 1, state: "Pending" },
          { slug: "m", mapIndex: 1, attempt: 1, state: "Running", startedAt: T0, worker: "w-1" },
          {
            slug: "m",
            mapIndex: 0,
            attempt: 2,
            state: "Retrying",
            startedAt: T0,
            message: odd,
            error: { odd },
          },
          { slug: "m", mapIndex: 0, attempt: 2, state: "Failed", endedAt: T0 + 9, message: odd },
          { slug: "m", mapIndex: 2, attempt: 1, state: "Failed", error: null },
          { slug: "n/x", mapIndex: -1, attempt: 1, state: "Success", startedAt: T0, endedAt: T0 + 1 },
        ],
      });
      const text = await store.taskRunsJson(run.id);
      assert.deepEqual(JSON.parse(text.items), await store.taskRuns(run.id));
      assert.deepEqual(JSON.parse(text.attempts), await store.taskRunAttempts(run.id));
      assert.equal(JSON.parse(text.attempts).length, 1, "the retried attempt");
      assert.equal(JSON.parse(text.items)[0].message, odd);
      const none = await store.createRun({ flowName: "f", state: "Running" }, T0);
      assert.deepEqual(await store.taskRunsJson(none.id), { items: "[]", attempts: "[]" });
    });
    it("sums up a run's task runs for the dashboard: counts, one state character a child, the task runs worth showing", async () => {
      const run = await store.createRun({ flowName: "f", state: "Running" }, T0);
      const child = (slug: string, i: number, state: string) => ({
        slug,
        mapIndex: i,
        attempt: 1,
        state,
        startedAt: T0 + i,
        ...(state === "Success" || state === "Failed" ? { endedAt: T0 + 10 + i } : {}),
      });
      await store.report(run.id, {
        taskRuns: [
          { slug: "a", mapIndex: -1, attempt: 1, state: "Success", startedAt: T0, endedAt: T0 + 1 },
          { slug: "m", mapIndex: -1, attempt: 1, state: "Mapped", startedAt: T0 },
          ...["Success", "Success", "Running", "Failed", "Pending"].map((st, i) => child("m", i, st)),
          // a map whose indexes have a gap (2 is not known yet)
          ...[0, 1, 3].map((i) => child("g", i, "Running")),
        ],
      });
      const s = await store.taskRunSummary(run.id, 10);
      const m = s.tasks.find((t) => t.slug === "m");
      assert.deepEqual(m?.counts, { Success: 2, Running: 1, Failed: 1, Pending: 1 });
      assert.equal(m?.total, 5);
      assert.equal(m?.startedAt, T0);
      assert.equal(m?.endedAt, T0 + 13);
      const decode = (states: string) =>
        [...states].map((c) => (c === "-" ? "-" : s.codes[STATE_DIGITS.indexOf(c)]));
      assert.deepEqual(decode(m?.states ?? ""), ["Success", "Success", "Running", "Failed", "Pending"]);
      assert.deepEqual(decode(s.tasks.find((t) => t.slug === "g")?.states ?? ""), [
        "Running",
        "Running",
        "-",
        "Running",
      ]);
      assert.equal(s.tasks.length, 2, "only mapped tasks with children");
      // every parent or unmapped task run, then the children neither Pending nor Success
      assert.deepEqual(
        s.items.map((r) => `${r.slug}${r.mapIndex}:${r.state}`),
        ["a-1:Success", "m-1:Mapped", "g0:Running", "g1:Running", "g3:Running", "m2:Running", "m3:Failed"],
      );
      assert.equal(s.more, 0);
      const few = await store.taskRunSummary(run.id, 3);
      assert.equal(few.items.length, 3);
      assert.equal(few.more, 4, "the 5 children worth showing, 1 of them listed");
      const one = await store.taskRunsOfTask(run.id, "m");
      assert.deepEqual(
        one.items.map((r) => r.mapIndex),
        [-1, 0, 1, 2, 3, 4],
      );
      assert.deepEqual(
        one.items,
        (await store.taskRuns(run.id)).filter((r) => r.slug === "m"),
      );
      // a page at a time, in map-index order (a keyset), filtered by state
      const p1 = await store.taskRunsOfTask(run.id, "m", { limit: 2 });
      assert.deepEqual(
        p1.items.map((r) => r.mapIndex),
        [0, 1],
      );
      assert.equal(p1.next, 1);
      const p2 = await store.taskRunsOfTask(run.id, "m", { limit: 2, after: p1.next! });
      assert.deepEqual(
        p2.items.map((r) => r.mapIndex),
        [2, 3],
      );
      const p3 = await store.taskRunsOfTask(run.id, "m", { limit: 2, after: p2.next! });
      assert.deepEqual(
        p3.items.map((r) => r.mapIndex),
        [4],
      );
      assert.equal(p3.next, undefined, "the last page has no next");
      const notDone = await store.taskRunsOfTask(run.id, "m", {
        limit: 10,
        states: ["Success"],
        exclude: true,
      });
      assert.deepEqual(
        notDone.items.map((r) => `${r.mapIndex}:${r.state}`),
        ["2:Running", "3:Failed", "4:Pending"],
      );
      const done = await store.taskRunsOfTask(run.id, "m", { limit: 10, states: ["Success"] });
      assert.deepEqual(
        done.items.map((r) => r.mapIndex),
        [0, 1],
      );
      const none = await store.createRun({ flowName: "f", state: "Running" }, T0);
      assert.deepEqual(await store.taskRunSummary(none.id, 10), {
        tasks: [],
        codes: [],
        items: [],
        more: 0,
        attempts: [],
      });
    });
    it("stores logs in chunks and finds lines of one run by text", async () => {
      const one = await store.createRun({ flowName: "f", state: "Running" }, T0);
      const two = await store.createRun({ flowName: "f", state: "Running" }, T0);
      await store.report(one.id, {
        logs: [
          { ts: T0, level: "info", message: "starting 100% of it" },
          { ts: T0 + 1, level: "warn", message: "Disk Almost full", slug: "a" },
        ],
      });
      await store.report(one.id, { logs: [{ ts: T0 + 2, level: "info", message: "done" }] });
      await store.report(two.id, { logs: [{ ts: T0, level: "info", message: "disk fine elsewhere" }] });
      assert.equal((await store.logs(one.id)).length, 3);
      const hits = await store.logs(one.id, { contains: "disk" });
      assert.deepEqual(
        hits.map((l) => l.message),
        ["Disk Almost full"],
      );
      assert.equal(hits[0]?.slug, "a");
      assert.equal((await store.logs(one.id, { contains: "100%" })).length, 1);
      assert.equal((await store.logs(one.id, { contains: "_" })).length, 0, "LIKE wildcards are literal");
    });

    it("pages logs with a cursor: the last N lines, then only the lines after the cursor", async () => {
      const run = await store.createRun({ flowName: "f", state: "Running" }, T0);
      const empty = await store.logPage(run.id);
      assert.deepEqual(empty.items, []);
      const line = (i: number) => ({ ts: T0 + i, level: "info", message: `line ${i}${i % 2 ? " odd" : ""}` });
      await store.report(run.id, { logs: [line(0), line(1), line(2)] });
      const tail = await store.logPage(run.id, { limit: 2 });
      assert.deepEqual(
        tail.items.map((l) => l.message),
        ["line 1 odd", "line 2"],
        "the last 2",
      );
      const none = await store.logPage(run.id, { after: tail.next });
      assert.deepEqual(none.items, [], "nothing after the last line");
      assert.equal(none.next, tail.next, "the cursor stays");
      await store.report(run.id, { logs: [line(3), line(4)] });
      await store.report(run.id, { logs: [line(5)] });
      const fromEmpty = await store.logPage(run.id, { after: empty.next });
      assert.equal(fromEmpty.items.length, 6, "the first cursor reads from the start");
      // a page bounded by limit, resumed mid-chunk
      const a = await store.logPage(run.id, { after: tail.next, limit: 1 });
      assert.deepEqual(
        a.items.map((l) => l.message),
        ["line 3 odd"],
      );
      const b = await store.logPage(run.id, { after: a.next, limit: 10 });
      assert.deepEqual(
        b.items.map((l) => l.message),
        ["line 4", "line 5 odd"],
      );
      assert.deepEqual((await store.logPage(run.id, { after: b.next })).items, []);
      // with a filter the cursor still moves past the lines it skipped
      const odd = await store.logPage(run.id, { after: tail.next, contains: "ODD" });
      assert.deepEqual(
        odd.items.map((l) => l.message),
        ["line 3 odd", "line 5 odd"],
      );
      assert.deepEqual((await store.logPage(run.id, { after: odd.next, contains: "odd" })).items, []);
      await store.report(run.id, { logs: [line(6), line(7)] });
      const later = await store.logPage(run.id, { after: odd.next, contains: "odd" });
      assert.deepEqual(
        later.items.map((l) => l.message),
        ["line 7 odd"],
      );
    });

    it("deletes the tokens bound to a run when it reaches a final state", async () => {
      const run = await store.createRun({ flowName: "f", state: "Running" }, T0);
      const other = await store.createRun({ flowName: "f", state: "Running" }, T0);
      await store.createToken({ name: "run", scope: "runner", hash: `run-${run.id}`, runId: run.id }, T0);
      await store.createToken({ name: "run", scope: "runner", hash: `run-${other.id}`, runId: other.id }, T0);
      assert.equal((await store.findToken(`run-${run.id}`))?.runId, run.id);
      assert.ok((await store.transitionRun(run.id, "Success", T0 + 1))?.ok);
      assert.equal(await store.findToken(`run-${run.id}`), undefined, "revoked with its run's end");
      assert.equal((await store.findToken(`run-${other.id}`))?.runId, other.id, "another run's token stays");
    });

    it("keeps worker samples and scaling decisions", async () => {
      const run = await store.createRun({ flowName: "f", state: "Running" }, T0);
      await store.report(run.id, {
        samples: [
          { ts: T0, count: 1, pending: 0 },
          { ts: T0 + 1000, count: 3, pending: 1 },
        ],
        decisions: [{ ts: T0 + 1000, count: 3, pending: 1, reason: "backlog of 40 task runs" }],
      });
      assert.deepEqual(
        (await store.workerSamples(run.id)).map((s) => s.count),
        [1, 3],
      );
      assert.equal((await store.scalingDecisions(run.id))[0]?.reason, "backlog of 40 task runs");
    });

    it("pages the run list newest first with a cursor, and finds runs by id prefix", async () => {
      const flowName = `paged-${name}`;
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await store.createRun({ flowName }, T0 + i)).id);
      const first = await store.listRuns({ flowName, limit: 3 });
      assert.equal(first.items.length, 3);
      assert.equal(first.items[0]?.id, ids[6]);
      const second = await store.listRuns({ flowName, limit: 3, cursor: first.next! });
      const third = await store.listRuns({ flowName, limit: 3, cursor: second.next! });
      assert.equal(third.next, undefined);
      assert.deepEqual(
        [...first.items, ...second.items, ...third.items].map((r) => r.id),
        [...ids].reverse(),
      );
      const prefix = ids[3]!.slice(0, 8);
      assert.deepEqual(await store.findRunIds(prefix, 5), [ids[3]]);
    });

    it("filters the run list by time, and gives each row its task counts and workers peak", async () => {
      const flowName = `timed-${name}`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.createRun({ flowName }, T0 + i * 1000)).id);
      const page = await store.listRuns({ flowName, since: T0 + 1000, until: T0 + 4000 });
      assert.deepEqual(
        page.items.map((r) => r.id),
        [ids[3], ids[2], ids[1]],
        "created in [since, until), newest first",
      );
      const paged = await store.listRuns({ flowName, since: T0 + 1000, limit: 2 });
      const rest = await store.listRuns({ flowName, since: T0 + 1000, limit: 2, cursor: paged.next! });
      assert.deepEqual(
        [...paged.items, ...rest.items].map((r) => r.id),
        [ids[4], ids[3], ids[2], ids[1]],
      );
      assert.equal(rest.next, undefined);

      await store.report(ids[1]!, {
        taskRuns: [
          { slug: "a", mapIndex: -1, attempt: 1, state: "Success" },
          { slug: "b", mapIndex: 0, attempt: 1, state: "Running" },
          { slug: "b", mapIndex: 1, attempt: 1, state: "Failed" },
        ],
        samples: [
          { ts: T0, count: 2, pending: 0 },
          { ts: T0 + 1, count: 5, pending: 1 },
          { ts: T0 + 2, count: 1, pending: 0 },
        ],
      });
      const figures = await store.runListFigures([ids[1]!, ids[2]!]);
      assert.deepEqual(figures.get(ids[1]!), {
        taskCounts: { Success: 1, Running: 1, Failed: 1 },
        tasksTotal: 3,
        tasksDone: 2,
        workersPeak: 5,
      });
      assert.deepEqual(figures.get(ids[2]!), { taskCounts: {}, tasksTotal: 0, tasksDone: 0 });
    });

    it("claims each run once and never past a deployment's concurrency limit", async () => {
      const d = await deployment(`claims-${name}`, 2);
      for (let i = 0; i < 5; i++) {
        await store.createRun(
          { flowName: d.flowName, deploymentId: d.id, pool: d.pool, scheduledAt: T0 },
          T0,
        );
      }
      const [a, b] = await Promise.all([
        store.claimRuns("agent-a", d.pool, 5, T0 + 10, T0 + 60_000),
        store.claimRuns("agent-b", d.pool, 5, T0 + 10, T0 + 60_000),
      ]);
      assert.equal(a.length + b.length, 2, "the limit holds across concurrent claims");
      assert.ok([...a, ...b].every((r) => r.state === "Pending"));
      // a crashed run frees its slot: the limit is a count of live runs, not a counter
      const crashed = a[0] ?? b[0]!;
      await store.transitionRun(crashed.id, "Crashed", T0 + 20, { reason: "pod evicted" });
      const again = await store.claimRuns("agent-a", d.pool, 5, T0 + 30, T0 + 60_000);
      assert.equal(again.length, 1);
      assert.equal((await store.claimRuns("agent-a", d.pool, 5, T0 + 30, T0 + 60_000)).length, 0);
      // leases run out when the agent stops renewing them
      const live = [...a, ...b, ...again].filter((r) => r.id !== crashed.id);
      assert.equal(
        await store.renewLeases(
          "agent-a",
          again.map((r) => r.id),
          T0 + 120_000,
        ),
        1,
      );
      const expired = await store.expiredLeases(T0 + 90_000);
      assert.deepEqual(
        expired
          .map((r) => r.id)
          .filter((id) => live.some((l) => l.id === id))
          .sort(),
        live
          .filter((r) => r.id !== again[0]!.id)
          .map((r) => r.id)
          .sort(),
      );
    });

    it("respects a pool limit over live runs", async () => {
      const d = await deployment(`pool-${name}`);
      for (let i = 0; i < 3; i++) {
        await store.createRun(
          { flowName: d.flowName, deploymentId: d.id, pool: d.pool, scheduledAt: T0 },
          T0,
        );
      }
      assert.equal((await store.claimRuns("agent", d.pool, 10, T0, T0 + 1000, 2)).length, 2);
      assert.equal((await store.claimRuns("agent", d.pool, 10, T0, T0 + 1000, 2)).length, 0);
    });

    it("creates exactly one run per schedule tick", async () => {
      const d = await deployment(`sched-${name}`);
      const s = (await store.setSchedule(d.id, { cron: "* * * * *", timezone: "UTC", catchUp: "all" }, T0))!;
      const ticks = [T0 + 60_000, T0 + 120_000];
      const [x, y] = await Promise.all([
        store.createScheduledRuns(s, d, ticks, ticks[1]!),
        store.createScheduledRuns(s, d, ticks, ticks[1]!),
      ]);
      assert.equal(x.length + y.length, 2);
      const runs = await store.listRuns({ deploymentId: d.id });
      assert.deepEqual(runs.items.map((r) => r.scheduledAt).sort(), ticks);
      assert.equal((await store.getSchedule(s.id))?.lastTickAt, ticks[1]);
      assert.equal((await store.setSchedulePaused(s.id, true))?.paused, true);
      assert.equal((await store.setSchedulePaused(s.id, false))?.paused, false);
      assert.ok(await store.deleteDeployment(d.id));
      assert.equal(await store.getDeployment(d.name), undefined);
      assert.equal((await store.listSchedules(d.id)).length, 0);
      assert.equal((await store.listRuns({ deploymentId: d.id })).items.length, 2, "history stays");
    });

    it("vacuums finished runs older than the cutoff, with a dry run that changes nothing", async () => {
      const old = await store.createRun({ flowName: "vac", state: "Running" }, T0 - 100_000);
      await store.report(old.id, {
        taskRuns: [{ slug: "a", mapIndex: -1, attempt: 1, state: "Success" }],
        logs: [{ ts: T0, level: "info", message: "x" }],
      });
      await store.transitionRun(old.id, "Success", T0 - 50_000);
      const live = await store.createRun({ flowName: "vac", state: "Running" }, T0 - 100_000);
      const dry = await store.vacuum(T0, true);
      assert.ok(dry.runs >= 1 && dry.taskRuns >= 1 && dry.logChunks >= 1);
      assert.ok(await store.getRun(old.id), "a dry run deletes nothing");
      const done = await store.vacuum(T0, false);
      assert.equal(done.runs, dry.runs);
      assert.equal(await store.getRun(old.id), undefined);
      assert.equal((await store.taskRuns(old.id)).length, 0);
      assert.ok(await store.getRun(live.id), "an unfinished run is kept");
    });

    it("finds tokens by hash only", async () => {
      await store.createToken({ name: "ci", scope: "read", hash: `h-${name}` }, T0);
      assert.equal((await store.findToken(`h-${name}`))?.scope, "read");
      assert.equal(await store.findToken("other"), undefined);
      assert.ok((await store.countTokens()) >= 1);
    });

    it("two deployments of one flow version keep their own image and module path", async () => {
      const flow = await store.registerFlow({
        name: `flow-img-${name}`,
        fingerprint: "same",
        image: "example.com/a:1",
        dag: { tasks: [] },
        parameterSchema: [],
      });
      const base = { flowId: flow.id, parameters: {}, pool: "kubernetes" };
      await store.putDeployment({ ...base, name: `img-a-${name}`, image: "example.com/a:1", module: "a.ts" });
      await store.putDeployment({ ...base, name: `img-b-${name}`, image: "example.com/b:2", module: "b.ts" });
      const a = await store.getDeployment(`img-a-${name}`);
      const b = await store.getDeployment(`img-b-${name}`);
      assert.deepEqual([a?.image, a?.module], ["example.com/a:1", "a.ts"]);
      assert.deepEqual([b?.image, b?.module], ["example.com/b:2", "b.ts"]);
    });

    it("keeps agents it heard from", async () => {
      await store.heartbeatAgent({ id: `a-${name}`, pool: "local", name: "laptop" }, T0);
      await store.heartbeatAgent({ id: `a-${name}`, pool: "local", name: "laptop" }, T0 + 5);
      const a = (await store.listAgents()).find((x) => x.id === `a-${name}`);
      assert.equal(a?.lastSeenAt, T0 + 5);
      assert.equal(a?.createdAt, T0);
    });
  });
}

const dir = mkdtempSync(path.join(tmpdir(), "flotilla-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
contract("sqlite", () => openStore(path.join(dir, "nested", "flotilla.db")));

contract("postgres", () => openStore(pg.url));

describe("store: opening", { timeout: 60_000 }, () => {
  it("reopening a database applies no migration twice", async () => {
    const file = path.join(dir, "twice.db");
    const a = await openStore(file);
    await a.createRun({ flowName: "kept" }, T0);
    await a.close();
    const b = await openStore(file);
    assert.equal((await b.listRuns({ flowName: "kept" })).items.length, 1);
    await b.close();
  });

  it("a PostgreSQL URL that cannot connect names host and port, never the password", async () => {
    const port = pg.port + 1;
    const url = `postgres://flotilla:s3cret-pw@127.0.0.1:${port}/db`;
    await assert.rejects(openStore(url, { connectTimeoutMs: 5000 }), (e: unknown) => {
      assert.ok(e instanceof FlotillaError);
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(`${e.message} ${e.hint} ${e.stack}`, /s3cret-pw/);
      return true;
    });
  });

  it("a wrong PostgreSQL password is refused without printing it", async () => {
    const url = pg.url.replace(pg.password, "not-the-password");
    await assert.rejects(openStore(url), (e: unknown) => {
      assert.ok(e instanceof FlotillaError);
      assert.match(e.message, new RegExp(`${pg.port}`));
      assert.doesNotMatch(`${e.message} ${e.hint}`, /not-the-password/);
      return true;
    });
  });
});
