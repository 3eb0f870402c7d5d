// The runner's reporter against a real server behind a real HTTP proxy that can be down or slow:
// while the server is away the reporter warns once, keeps its buffers bounded (the oldest log
// lines go first, counted), and once the server is back the run's task runs and its newest lines
// arrive; a line reaches the server within about a flush, with no close(); against a slow server
// it sends one batch at a time and loses nothing. (The run itself never waits on the reporter:
// flotilla run with a server that is down is server.test.ts.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { RunReporter } from "../src/reporting/reporter.ts";
import { ApiClient } from "../src/server/client.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { type ForwardingProxy, startForwardingProxy } from "./helpers/forwarding-proxy.ts";

const home = mkdtempSync(path.join(tmpdir(), "flotilla-reporter-"));
let server: RunningServer | undefined;
let proxy: ForwardingProxy | undefined;
let proxyUrl = "";
/** What the proxy does with a request: forward it, drop its connection, or forward it late. */
const mode = { down: false, delayMs: 0, inFlight: 0, maxInFlight: 0 };

before(async () => {
  server = await startServer({ port: 0, home, database: path.join(home, "flotilla.db") });
  proxy = await startForwardingProxy(server.url, (req, res, forward) => {
    if (mode.down) {
      req.socket.destroy();
      return;
    }
    mode.inFlight++;
    mode.maxInFlight = Math.max(mode.maxInFlight, mode.inFlight);
    res.on("close", () => mode.inFlight--);
    if (mode.delayMs > 0) setTimeout(forward, mode.delayMs);
    else forward();
  });
  proxyUrl = proxy.url;
});

after(async () => {
  await proxy?.close();
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

const admin = () => new ApiClient({ url: server!.url, token: server!.adminToken });
const through = () => new ApiClient({ url: proxyUrl, token: server!.adminToken, timeoutMs: 10_000 });
const pinoLine = (msg: string) => JSON.stringify({ level: 30, time: Date.now(), msg });
const newRun = async () =>
  (await admin().post<{ id: string }>("/api/runs", { flowName: "r", state: "Running" })).id;

/** Re-check `check` every 50 ms until it returns a value; fail after `ms`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const linesOf = async (runId: string) =>
  (await admin().get<{ items: { message: string }[] }>(`/api/runs/${runId}/logs?limit=100000`)).items.map(
    (l) => l.message,
  );

describe("the runner's reporter", { timeout: 120_000 }, () => {
  it("while the server is away: one warning, bounded buffers; once it is back the run's history arrives", async () => {
    const runId = await newRun();
    const warnings: string[] = [];
    mode.down = true;
    proxy!.dropConnections();
    const reporter = new RunReporter({
      client: through(),
      runId,
      flushMs: 100,
      maxLogs: 100,
      warn: (m) => warnings.push(m),
    });
    try {
      for (let i = 0; i < 250; i++) reporter.logLine(pinoLine(`line ${i}`));
      for (let i = 0; i < 50; i++) {
        reporter.onEvent({ type: "taskStarted", slug: "work", mapIndex: i, attempt: 1 } as never);
        reporter.onEvent({
          type: "taskFinished",
          slug: "work",
          mapIndex: i,
          state: { type: "Success" },
        } as never);
      }
      await until("a failed batch", async () => (warnings.length > 0 ? true : undefined));
      for (let i = 250; i < 300; i++) reporter.logLine(pinoLine(`line ${i}`));
      await reporter.flush();
      assert.equal(warnings.length, 1, warnings.join("\n"));
      assert.match(warnings[0]!, new RegExp(`cannot report run ${runId} to ${proxyUrl}`));
      assert.equal(reporter.dropped, 200, "the 200 oldest lines of 300, kept 100");
      mode.down = false;
      const got = await until("the run's history on the server", async () => {
        const lines = await linesOf(runId);
        return lines.length >= 100 ? lines : undefined;
      });
      assert.deepEqual(
        got,
        Array.from({ length: 100 }, (_, i) => `line ${200 + i}`),
        "the newest 100 lines, in order",
      );
      const tasks = (
        await admin().get<{ items: { mapIndex: number; state: string }[] }>(`/api/runs/${runId}/task-runs`)
      ).items;
      assert.equal(tasks.filter((t) => t.state === "Success").length, 50, "every task run, coalesced");
      assert.match(warnings.at(-1)!, /works again/);
      assert.equal(warnings.length, 2);
    } finally {
      mode.down = false;
      await reporter.close(5000);
    }
  });

  it("a line reaches the server within about a flush, without close()", async () => {
    const runId = await newRun();
    const reporter = new RunReporter({ client: through(), runId });
    try {
      const t0 = Date.now();
      reporter.logLine(pinoLine("soon"));
      await until("the line on the server", async () =>
        (await linesOf(runId)).includes("soon") ? true : undefined,
      );
      console.log(
        `# a line was on the server ${Date.now() - t0} ms after it was logged (flush every 500 ms)`,
      );
    } finally {
      await reporter.close(5000);
    }
  });

  it("a slow server: one batch at a time, nothing lost", async () => {
    const runId = await newRun();
    const warnings: string[] = [];
    mode.delayMs = 700;
    mode.maxInFlight = 0;
    const reporter = new RunReporter({
      client: through(),
      runId,
      flushMs: 50,
      warn: (m) => warnings.push(m),
    });
    try {
      // lines keep coming while each batch takes 700 ms to be answered
      for (let round = 0; round < 10; round++) {
        for (let i = 0; i < 100; i++) reporter.logLine(pinoLine(`r${round} ${i}`));
        await new Promise((r) => setTimeout(r, 100));
      }
      await reporter.close(30_000);
      assert.equal(mode.maxInFlight, 1, "one request at a time");
      const lines = await linesOf(runId);
      assert.equal(lines.length, 1000);
      assert.deepEqual(lines.slice(0, 2), ["r0 0", "r0 1"]);
      assert.deepEqual(warnings, [], "slow is not down");
      console.log(`# 1,000 lines in ${reporter.sent} batches against a server answering in 700 ms`);
    } finally {
      mode.delayMs = 0;
    }
  });
});
