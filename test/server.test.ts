// flotilla server as a user meets it: a run reported by `flotilla run --server` shows up in
// `flotilla runs list/get/logs --server` with its task runs; every API call needs a token of the
// right scope; a backwards transition is refused; the OpenAPI document and the event stream are
// served; a server that is down costs `flotilla run` one warning and nothing else.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type RunningServer, startServer } from "../src/server/server.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(root, "bin/flotilla.js");
const home = mkdtempSync(path.join(tmpdir(), "flotilla-home-"));

function cli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FLOTILLA_HOME: home, FLOTILLA_API_URL: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flotilla ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A port nothing listens on (just closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe("flotilla server", { timeout: 300_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ port: 0, home, database: path.join(home, "flotilla.db") });
  });
  after(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });
  const api = (p: string, init: RequestInit & { token?: string | null } = {}) => {
    const token = init.token === undefined ? server.adminToken : init.token;
    return fetch(`${server.url}${p}`, {
      ...init,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(init.body ? { "content-type": "application/json" } : {}),
      },
    });
  };

  it("binds 127.0.0.1 and writes the admin token mode 0600 in the home", () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(statSync(path.join(home, "admin-token")).mode & 0o777, 0o600);
  });

  it("refuses a call without a token, with a wrong token, or with a token lacking the scope", async () => {
    const none = await api("/api/runs", { token: null });
    assert.equal(none.status, 401);
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /needs a token/);
    assert.equal((await api("/api/runs", { token: "flt_wrong" })).status, 401);
    const created = await api("/api/tokens", {
      method: "POST",
      body: JSON.stringify({ name: "viewer", scope: "read" }),
    });
    assert.equal(created.status, 201);
    const { token } = (await created.json()) as { token: string };
    assert.equal((await api("/api/runs", { token })).status, 200);
    const forbidden = await api("/api/tokens", {
      method: "POST",
      token,
      body: JSON.stringify({ name: "x", scope: "admin" }),
    });
    assert.equal(forbidden.status, 403);
    assert.match(
      ((await forbidden.json()) as { error: { message: string } }).error.message,
      /read token may not POST/,
    );
    const listed = await (await api("/api/tokens")).text();
    assert.doesNotMatch(listed, new RegExp(token), "token values are never listed");
    assert.doesNotMatch(listed, new RegExp(server.adminToken));
  });

  it("serves its OpenAPI document", async () => {
    const res = await api("/api/openapi.json", { token: null });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths["/api/runs/{id}"], Object.keys(doc.paths).join(" "));
    // the task-runs answer is documented field by field, as the CLI and the dashboard read it
    const taskRuns = JSON.stringify(doc.paths["/api/runs/{id}/task-runs"]);
    for (const field of ["items", "attempts", "runId", "slug", "mapIndex", "attempt", "state", "worker"])
      assert.match(taskRuns, new RegExp(`"${field}"`), field);
  });

  it("refuses a transition that goes back, naming both states", async () => {
    const run = (await (
      await api("/api/runs", {
        method: "POST",
        body: JSON.stringify({ flowName: "manual", state: "Running" }),
      })
    ).json()) as { id: string };
    const back = await api(`/api/runs/${run.id}/state`, {
      method: "POST",
      body: JSON.stringify({ state: "Pending" }),
    });
    assert.equal(back.status, 409);
    assert.match(
      ((await back.json()) as { error: { message: string } }).error.message,
      /Running → Pending goes backwards/,
    );
    const bad = await api(`/api/runs/${run.id}/state`, {
      method: "POST",
      body: JSON.stringify({ state: "Finished" }),
    });
    assert.equal(bad.status, 400);
    // Crashed always says why
    for (const reason of [undefined, " "]) {
      const crashed = await api(`/api/runs/${run.id}/state`, {
        method: "POST",
        body: JSON.stringify({ state: "Crashed", ...(reason !== undefined ? { reason } : {}) }),
      });
      assert.equal(crashed.status, 400);
      assert.match(
        ((await crashed.json()) as { error: { message: string } }).error.message,
        /Crashed needs a reason/,
      );
    }
    const still = (await (await api(`/api/runs/${run.id}`)).json()) as { state: string };
    assert.equal(still.state, "Running", "a refused Crashed changes nothing");
    const why = await api(`/api/runs/${run.id}/state`, {
      method: "POST",
      body: JSON.stringify({ state: "Crashed", reason: "OOMKilled (exit 137)" }),
    });
    assert.equal(why.status, 200);
  });

  it("a run reported by flotilla run --server appears in runs list, runs get and runs logs", async () => {
    const events: string[] = [];
    const controller = new AbortController();
    const stream = await fetch(`${server.url}/api/events`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
      signal: controller.signal,
    });
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>)
          events.push(decoder.decode(chunk));
      } catch {}
    })();
    try {
      const run = await cli(["run", "examples/etl.ts", "--param", "records=40", "--server", server.url]);
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(run.stderr, /warning/);

      const list = await cli(["runs", "list", "--server", server.url, "-o", "json"]);
      assert.equal(list.code, 0, list.stderr);
      const runs = (JSON.parse(list.stdout) as { items: { id: string; flowName: string; state: string }[] })
        .items;
      const mine = runs.find((r) => r.flowName === "etl");
      assert.ok(mine, list.stdout);
      assert.equal(mine.state, "Success");

      const table = await cli(["runs", "list", "--server", server.url]);
      assert.match(table.stdout, new RegExp(`^${mine.id.slice(0, 8)}\\s+etl\\s+Success`, "m"));

      const get = await cli(["runs", "get", mine.id.slice(0, 8), "--server", server.url, "-o", "json"]);
      assert.equal(get.code, 0, get.stderr);
      const detail = JSON.parse(get.stdout) as {
        id: string;
        taskRuns: { slug: string; mapIndex: number; state: string; attempt: number }[];
        dag?: unknown;
      };
      assert.equal(detail.id, mine.id);
      assert.ok(detail.dag, "the flow's DAG is known");
      const children = detail.taskRuns.filter((t) => t.slug === "transform" && t.mapIndex >= 0);
      assert.equal(children.length, 40);
      assert.ok(children.every((t) => t.state === "Success"));
      assert.equal(detail.taskRuns.find((t) => t.slug === "report")?.state, "Success");
      const retried = detail.taskRuns.find((t) => t.slug === "load" && t.mapIndex === 0);
      assert.equal(retried?.state, "Success");
      assert.equal(retried?.attempt, 2, "the flaky batch succeeded on its second attempt");

      const logs = await cli(["runs", "logs", mine.id, "--server", server.url, "--grep", "LOADED"]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /\[report\] loaded/);

      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`no run.state event: ${events.join("")}`)),
          10_000,
        );
        const check = setInterval(() => {
          if (events.join("").includes(`"to":"Success"`)) {
            clearTimeout(deadline);
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
    } finally {
      controller.abort();
      await reading;
    }
  });

  it("a flotilla run --server run cancelled through the API stops and ends Cancelled", async () => {
    const running = cli(
      ["run", "test/fixtures/server-flows.ts", "--flow", "agent-slow", "--server", server.url, "-o", "json"],
      {},
      90_000,
    );
    // the run appears on the server, Running
    let id: string | undefined;
    const deadline = Date.now() + 60_000;
    while (id === undefined) {
      if (Date.now() > deadline) throw new Error("the run never appeared on the server as Running");
      const list = (await (await api("/api/runs?state=Running")).json()) as {
        items: { id: string; flowName: string }[];
      };
      id = list.items.find((r) => r.flowName === "agent-slow")?.id;
      if (id === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    const cancel = await api(`/api/runs/${id}/cancel`, { method: "POST", body: "{}" });
    assert.equal(cancel.status, 200, await cancel.text());
    const r = await running; // ends long before the 120 s nap would
    assert.match(r.stderr, /the run was cancelled on the server/);
    assert.notEqual(r.code, 0, "a cancelled run is not a success");
    const run = (await (await api(`/api/runs/${id}`)).json()) as { state: string };
    assert.equal(run.state, "Cancelled");
    const events = (await (await api(`/api/runs/${id}/events`)).json()) as { items: { to: string }[] };
    assert.deepEqual(
      events.items.map((e) => e.to),
      ["Running", "Cancelling", "Cancelled"],
    );
  });

  it("runs get with an unknown id is one clear error", async () => {
    const r = await cli(["runs", "get", "ffffffff", "--server", server.url]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: run ffffffff not found/m);
    assert.match(r.stderr, /flotilla runs list/);
  });

  it("the CLI with a wrong token or no server says so", async () => {
    const wrong = await cli(["runs", "list", "--server", server.url, "--token", "flt_nope"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /refused the call: the token is not valid/);
    assert.doesNotMatch(wrong.stderr, /flt_nope/);
    const port = await closedPort();
    const down = await cli(["runs", "list", "--server", `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      new RegExp(`cannot reach the Flotilla server at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
    assert.match(down.stderr, /start it with flotilla server/);
  });

  it("flotilla run with a server that is down warns once and succeeds", async () => {
    const r = await cli(["run", "examples/hello.ts", "--server", `http://127.0.0.1:${await closedPort()}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.match(/warning:/g)?.length, 1, r.stderr);
    assert.match(r.stderr, /the run goes on/);
  });
});
