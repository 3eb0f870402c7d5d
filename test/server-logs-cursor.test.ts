// The logs API's cursor, over HTTP, and `flotilla runs logs -f --server` following with it: an
// answer is { items, next }; ?after=<next> returns only the lines written since, oldest first; a
// bad cursor is a 400 naming it. The CLI is run through a recording HTTP proxy in front of the
// server (a real server, a real proxy): after its first call every logs request carries
// ?after=, each line is printed once and in order, and it ends when the run does. GET
// /logs/download streams every line as a file (text or NDJSON, a task's alone), with the server's
// admin token scrubbed.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { bin, root } from "./helpers/cli.ts";
import { type ForwardingProxy, startForwardingProxy } from "./helpers/forwarding-proxy.ts";

const home = mkdtempSync(path.join(tmpdir(), "flotilla-logs-cursor-"));
let server: RunningServer | undefined;
let proxy: ForwardingProxy | undefined;
let proxyUrl = "";
const seen: string[] = [];

async function api<T = unknown>(p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server!.url}${p}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${server!.adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
const line = (message: string) => ({ ts: Date.now(), level: "info", message });
type Page = { items: { message: string }[]; next: string };

before(async () => {
  server = await startServer({ port: 0, home, database: path.join(home, "flotilla.db") });
  // forwards every request to the server and records its path
  proxy = await startForwardingProxy(server.url, (req, _res, forward) => {
    seen.push(req.url ?? "");
    forward();
  });
  proxyUrl = proxy.url;
});

after(async () => {
  await proxy?.close();
  await server?.close();
  rmSync(home, { recursive: true, force: true });
});

describe("logs cursor", { timeout: 120_000 }, () => {
  it("GET /logs answers { items, next }; ?after=next gives only the newer lines; a bad cursor is a 400", async () => {
    const run = (await api<{ id: string }>("/api/runs", { flowName: "cursor", state: "Running" })).body;
    await api(`/api/runs/${run.id}/report`, { logs: [line("a"), line("b")] });
    const first = (await api<Page>(`/api/runs/${run.id}/logs`)).body;
    assert.deepEqual(
      first.items.map((l) => l.message),
      ["a", "b"],
    );
    assert.equal(typeof first.next, "string");
    assert.deepEqual((await api<Page>(`/api/runs/${run.id}/logs?after=${first.next}`)).body.items, []);
    await api(`/api/runs/${run.id}/report`, { logs: [line("c")] });
    const second = (await api<Page>(`/api/runs/${run.id}/logs?after=${first.next}`)).body;
    assert.deepEqual(
      second.items.map((l) => l.message),
      ["c"],
    );
    const bad = await api<{ error: { message: string } }>(`/api/runs/${run.id}/logs?after=nope`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /querystring\.after: a cursor/);
  });

  it("runs logs -f --server asks only for the lines after its cursor, prints each once, ends with the run", async () => {
    const run = (await api<{ id: string }>("/api/runs", { flowName: "follow", state: "Running" })).body;
    await api(`/api/runs/${run.id}/report`, { logs: [line("kept 1"), line("kept 2")] });
    const child: ChildProcess = spawn(
      process.execPath,
      [bin, "runs", "logs", run.id, "-f", "--server", proxyUrl, "-o", "json"],
      {
        cwd: root,
        env: { ...process.env, NO_COLOR: "1", FLOTILLA_HOME: home, FLOTILLA_API_URL: "" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const printed = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`fewer than ${n} lines in 60 s:\n${stdout}\n${stderr}`)),
          60_000,
        );
        const check = () => {
          if (stdout.trimEnd().split("\n").filter(Boolean).length < n) return;
          clearTimeout(timer);
          child.stdout!.off("data", check);
          resolve();
        };
        child.stdout!.on("data", check);
        check();
      });
    child.stdout!.on("data", (d) => (stdout += d));
    const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
    try {
      await printed(2);
      for (let i = 1; i <= 5; i++) {
        await api(`/api/runs/${run.id}/report`, { logs: [line(`new ${i}`)] });
        await printed(2 + i);
      }
      await api(`/api/runs/${run.id}/state`, { state: "Success" });
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        closed,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`still following 60 s after the run ended:\n${stderr}`)),
            60_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(code, 0, stderr);
    } finally {
      child.kill("SIGKILL");
    }
    assert.deepEqual(
      stdout
        .trimEnd()
        .split("\n")
        .map((l) => (JSON.parse(l) as { message: string }).message),
      ["kept 1", "kept 2", "new 1", "new 2", "new 3", "new 4", "new 5"],
    );
    const logCalls = seen.filter((u) => u.includes(`/api/runs/${run.id}/logs`));
    console.log(`# ${logCalls.length} logs calls while following`);
    assert.ok(logCalls.length >= 3, logCalls.join("\n"));
    assert.doesNotMatch(logCalls[0]!, /after=/, "the first call reads the kept lines");
    for (const u of logCalls.slice(1)) assert.match(u, /[?&]after=\d+\.\d+/, `a poll without a cursor: ${u}`);
  });
});

describe("logs download", { timeout: 120_000 }, () => {
  const get = (p: string, token: string | null = server!.adminToken) =>
    fetch(`${server!.url}${p}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(30_000),
    });

  it("GET /logs/download streams every line as a text or NDJSON file, a task's alone, the admin token scrubbed", async () => {
    const run = (await api<{ id: string }>("/api/runs", { flowName: "big logs", state: "Running" })).body;
    // 12,000 lines in three batches: more than one page of the store's cursor
    const t = Date.now();
    for (let b = 0; b < 3; b++) {
      const logs = Array.from({ length: 4000 }, (_, k) => {
        const i = b * 4000 + k;
        return { ts: t + i, level: "info", message: `line ${i}`, slug: `t${i % 3}`, mapIndex: i % 2 };
      });
      await api(`/api/runs/${run.id}/report`, { logs });
    }
    await api(`/api/runs/${run.id}/report`, {
      logs: [{ ts: t + 20_000, level: "error", message: `oops ${server!.adminToken}`, slug: "t9" }],
    });

    const text = await get(`/api/runs/${run.id}/logs/download`);
    assert.equal(text.status, 200);
    assert.equal(text.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(
      text.headers.get("content-disposition"),
      `attachment; filename="big_logs-${run.id.slice(0, 8)}.log"`,
    );
    const lines = (await text.text()).trimEnd().split("\n");
    assert.equal(lines.length, 12_001);
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}\[t0\[0\]\] line 0$/);
    assert.match(lines[11_999]!, /\[t2\[1\]\] line 11999$/);
    assert.match(lines[12_000]!, /ERROR \[t9\] oops \[redacted\]$/);
    assert.ok(!lines.some((l) => l.includes(server!.adminToken)), "the admin token is in no line");

    const nd = await get(`/api/runs/${run.id}/logs/download?format=ndjson&task=t1&index=1`);
    assert.equal(nd.headers.get("content-type"), "application/x-ndjson; charset=utf-8");
    assert.match(
      nd.headers.get("content-disposition") ?? "",
      /filename="big_logs-[0-9a-f-]{8}-t1-1\.ndjson"/,
    );
    const records = (await nd.text())
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { message: string; slug: string; mapIndex: number });
    // i % 3 === 1 and i % 2 === 1: i = 1, 7, 13, ... (2,000 of 12,000)
    assert.equal(records.length, 2000);
    assert.deepEqual(
      records.slice(0, 3).map((r) => r.message),
      ["line 1", "line 7", "line 13"],
    );
    assert.ok(records.every((r) => r.slug === "t1" && r.mapIndex === 1));

    // the logs answer the page reads shows the line scrubbed too (it is kept scrubbed)
    const page = (await api<Page>(`/api/runs/${run.id}/logs?limit=1`)).body;
    assert.deepEqual(
      page.items.map((l) => l.message),
      ["oops [redacted]"],
    );

    assert.equal((await get(`/api/runs/${run.id}/logs/download`, null)).status, 401);
    assert.equal((await get("/api/runs/no-such-run/logs/download")).status, 404);
    const bad = await get(`/api/runs/${run.id}/logs/download?format=csv`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /querystring\.format/);
  });
});
