// The logs cursor with two writers on one PostgreSQL (two servers on one database, or a runner's
// reporter and the agent's Kubernetes Events on one run): a reader that follows a run's logs
// with `after=<next>` never skips a line that one writer commits after the reader already read a
// later line of the other writer. A real PostgreSQL, two stores (two connection pools) writing,
// and a third connection that holds writer A inside its transaction, after its log lines are
// written and before it commits (a table lock on worker_samples, which A's report writes next).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { openStore } from "../src/store/open.ts";
import type { Store } from "../src/store/store.ts";
import { testPostgres } from "./helpers/postgres.ts";

// Started first, at the top level, so that its after() belongs to the file and runs last.
const server = await testPostgres();
let a: Store | undefined;
let b: Store | undefined;
let reader: Store | undefined;
let holder: pg.Client | undefined;
/** Looks at pg_stat_activity (outside the holder's transaction, whose view of it is a snapshot). */
let watcher: pg.Client | undefined;

const line = (message: string) => ({ ts: Date.now(), level: "info", message });

/** How many backends wait on a lock with `pattern` in their query. */
async function lockWaits(pattern: string): Promise<number> {
  const r = await watcher!.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
    [`%${pattern}%`],
  );
  return r.rows[0].n;
}

/** Re-check `check` every 20 ms until it holds; fail after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every line after `cursor`, page by page, and the cursor after them. */
async function follow(runId: string, cursor: string): Promise<{ lines: string[]; next: string }> {
  const lines: string[] = [];
  for (;;) {
    const page = await reader!.logPage(runId, { after: cursor, limit: 50 });
    lines.push(...page.items.map((l) => l.message));
    if (page.next === cursor) return { lines, next: cursor };
    cursor = page.next;
  }
}

describe("the logs cursor with two writers on one PostgreSQL", { timeout: 120_000 }, () => {
  before(async () => {
    a = await openStore(server.url);
    b = await openStore(server.url);
    reader = await openStore(server.url);
    holder = new pg.Client({ connectionString: server.url });
    holder.on("error", () => {});
    await holder.connect();
    watcher = new pg.Client({ connectionString: server.url });
    watcher.on("error", () => {});
    await watcher.connect();
  });

  after(async () => {
    await holder?.end().catch(() => {});
    await watcher?.end().catch(() => {});
    for (const s of [a, b, reader]) await s?.close();
  });

  it("a line committed after another writer's later line was read is not skipped", async () => {
    const run = await a!.createRun({ flowName: "two-writers", state: "Running" }, Date.now());
    const start = (await reader!.logPage(run.id)).next;
    // A writes its line, then blocks on worker_samples before committing
    await holder!.query("BEGIN");
    await holder!.query("LOCK TABLE worker_samples IN SHARE MODE");
    const writingA = a!.report(run.id, {
      logs: [line("from A")],
      samples: [{ ts: Date.now(), count: 1, pending: 0 }],
    });
    let aDone = false;
    void writingA.then(() => (aDone = true));
    try {
      await until("A blocked on worker_samples", async () => (await lockWaits("worker_samples")) > 0);
      // B writes its line meanwhile: it either commits or waits for A (both are fine)
      const writingB = b!.report(run.id, { logs: [line("from B")] });
      let bDone = false;
      void writingB.then(() => (bDone = true));
      await until("B committed, or waiting for A", async () => bDone || (await lockWaits("pg_advisory")) > 0);
      // the reader follows while A is still open
      const first = await follow(run.id, start);
      assert.equal(aDone, false, "A is still inside its transaction");
      await holder!.query("COMMIT");
      await Promise.all([writingA, writingB]);
      assert.ok(aDone && bDone);
      const second = await follow(run.id, first.next);
      const seen = [...first.lines, ...second.lines];
      console.log(
        `# read while A was open: ${JSON.stringify(first.lines)}; after: ${JSON.stringify(second.lines)}`,
      );
      assert.deepEqual([...seen].sort(), ["from A", "from B"], "each line once, none skipped");
    } finally {
      await holder!.query("ROLLBACK").catch(() => {});
    }
  });

  it("two writers reporting at once and a reader following: every line exactly once", async () => {
    const run = await a!.createRun({ flowName: "two-writers-many", state: "Running" }, Date.now());
    const N = 150;
    let cursor = (await reader!.logPage(run.id)).next;
    const seen: string[] = [];
    let writing = true;
    const writers = Promise.all(
      (["A", "B"] as const).map(async (who) => {
        const store = who === "A" ? a! : b!;
        for (let i = 0; i < N; i++) {
          await store.report(run.id, {
            logs: [line(`${who} ${i}.0`), line(`${who} ${i}.1`)],
            // a sample after the lines, so each transaction stays open a little after them
            samples: [{ ts: Date.now(), count: 1, pending: 0 }],
          });
        }
      }),
    ).finally(() => (writing = false));
    while (writing) {
      const r = await follow(run.id, cursor);
      seen.push(...r.lines);
      cursor = r.next;
    }
    await writers;
    seen.push(...(await follow(run.id, cursor)).lines);
    const expected = (["A", "B"] as const).flatMap((w) =>
      Array.from({ length: N }, (_, i) => [`${w} ${i}.0`, `${w} ${i}.1`]).flat(),
    );
    assert.equal(new Set(seen).size, seen.length, "no line twice");
    assert.deepEqual([...seen].sort(), [...expected].sort(), "no line skipped");
    // each writer's lines in its own order
    for (const w of ["A", "B"]) {
      const mine = seen.filter((m) => m.startsWith(`${w} `));
      assert.deepEqual(
        mine,
        expected.filter((m) => m.startsWith(`${w} `)),
      );
    }
  });
});
