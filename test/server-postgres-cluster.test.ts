// Two `flotilla server` processes' worth of servers on one real PostgreSQL (started for this
// file): an event written through one reaches an SSE subscriber of the other (LISTEN/NOTIFY), and
// only one of them runs the scheduler loop (pg_try_advisory_lock on its own connection); when the
// leader is closed its connection goes, and the other takes over within a few passes.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { testPostgres } from "./helpers/postgres.ts";

const pg = await testPostgres();
const homes = [0, 1].map(() => mkdtempSync(path.join(tmpdir(), "flotilla-pg-servers-")));
const servers: RunningServer[] = [];

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  // one after the other: the first applies the migrations
  for (const home of homes)
    servers.push(
      await startServer({ port: 0, home, database: pg.url, schedulerPeriodMs: 100, retentionMs: 0 }),
    );
});

after(async () => {
  for (const s of servers) await s.close().catch(() => {});
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});

describe("servers on one PostgreSQL", { timeout: 120_000 }, () => {
  it("an event written through one server reaches the SSE subscribers of the other", async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    const controller = new AbortController();
    const res = await fetch(`${b.url}/api/events`, {
      headers: { authorization: `Bearer ${b.adminToken}` },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let text = "";
    const read = (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
      }
    })().catch(() => {});
    try {
      const created = await fetch(`${a.url}/api/runs`, {
        method: "POST",
        headers: { authorization: `Bearer ${a.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ flowName: "across", state: "Running" }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(created.status, 201);
      const run = (await created.json()) as { id: string };
      await fetch(`${a.url}/api/runs/${run.id}/report`, {
        method: "POST",
        headers: { authorization: `Bearer ${a.adminToken}`, "content-type": "application/json" },
        body: JSON.stringify({ logs: [{ ts: Date.now(), level: "info", message: "hello from a" }] }),
        signal: AbortSignal.timeout(10_000),
      });
      await until(
        "run.created on b's stream",
        () => text.includes("event: run.created") && text.includes(run.id),
      );
      await until("the log line on b's stream", () => text.includes("hello from a"));
    } finally {
      controller.abort();
      await read;
    }
  });

  it("exactly one server leads the scheduler; the other takes over when the leader goes", async () => {
    await until("a leader", () => servers.some((s) => s.scheduler.leading));
    // several passes later there is still exactly one
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(servers.filter((s) => s.scheduler.leading).length, 1, "one leader");
    const leader = servers.find((s) => s.scheduler.leading)!;
    const other = servers.find((s) => s !== leader)!;
    await leader.close();
    await until("the other server leading", () => other.scheduler.leading);
  });
});
