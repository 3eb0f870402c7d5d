// Deployments and the embedded local agent, as a user meets them: `flotilla deploy` registers a
// flow (and none of its spec files' content reaches the database), `flotilla runs create` starts a
// run that the agent launches and that ends Success with its task runs; cancel while Scheduled and
// while Running ends Cancelled with the runner gone; a runner killed by a signal makes the run
// Crashed with the reason, and its concurrency slot is free again; bad input is one clear error.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { deploymentBody } from "../src/cli/commands/deploy.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import type { FlowRunRecord } from "../src/store/store.ts";
import { cli as flotilla } from "./helpers/cli.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const home = mkdtempSync(path.join(tmpdir(), "flotilla-agent-home-"));
const fixture = path.join(root, "test/fixtures/server-flows.ts");

/** `flotilla ...args` with this file's FLOTILLA_HOME and no API URL. */
const cli = (args: string[], timeoutMs = 60_000) =>
  flotilla(args, { env: { FLOTILLA_HOME: home, FLOTILLA_API_URL: "" }, timeoutMs });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("deployments and the embedded local agent", { timeout: 480_000 }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      port: 0,
      home,
      database: path.join(home, "flotilla.db"),
      schedulerPeriodMs: 200,
      agent: { pool: "local", capacity: 4, pollMs: 200 },
    });
  });
  after(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  const api = async <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${server.url}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${server.adminToken}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const deployFixture = async (name: string, flowName: string, extra: Record<string, unknown> = {}) => {
    const flow = selectFlow(await loadFlowModule(fixture), flowName);
    const body = { ...deploymentBody(flow, fixture, { name }), ...extra };
    const r = await api<{ id: string }>("POST", "/api/deployments", body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const start = async (deployment: string, parameters: Record<string, unknown> = {}) => {
    const r = await api<FlowRunRecord>("POST", `/api/deployments/${deployment}/runs`, { parameters });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  /** Wait (bounded) until the run satisfies `ok`. */
  const until = async (
    id: string,
    ok: (r: FlowRunRecord) => boolean,
    ms = 60_000,
  ): Promise<FlowRunRecord> => {
    const deadline = Date.now() + ms;
    let last: FlowRunRecord | undefined;
    while (Date.now() < deadline) {
      last = (await api<FlowRunRecord>("GET", `/api/runs/${id}`)).body;
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`run ${id} still ${last?.state} (${last?.reason ?? ""}) after ${ms} ms`);
  };

  it("flotilla deploy + runs create: the agent launches the run and it ends Success with its task runs", async () => {
    const d = await cli([
      "deploy",
      fixture,
      "--flow",
      "agent-quick",
      "--name",
      "quick",
      "--param",
      "x=5",
      "--server",
      server.url,
    ]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /deployment quick \(flow agent-quick, pool local\) registered/);
    const c = await cli(["runs", "create", "quick", "--param", "x=7", "--server", server.url, "-o", "json"]);
    assert.equal(c.code, 0, c.stderr);
    const created = JSON.parse(c.stdout) as FlowRunRecord;
    assert.deepEqual(created.parameters, { x: 7 });
    const done = await until(
      created.id,
      (r) => r.state === "Success" || r.state === "Failed" || r.state === "Crashed",
    );
    assert.equal(done.state, "Success", done.reason);
    const events = (await api<{ items: { to: string }[] }>("GET", `/api/runs/${created.id}/events`)).body
      .items;
    assert.deepEqual(
      events.map((e) => e.to),
      ["Scheduled", "Pending", "Starting", "Running", "Success"],
    );
    const tasks = (
      await api<{ items: { slug: string; state: string }[] }>("GET", `/api/runs/${created.id}/task-runs`)
    ).body.items;
    assert.deepEqual(
      tasks.map((t) => [t.slug, t.state]),
      [["double", "Success"]],
    );
    const logs = (await api<{ items: { message: string }[] }>("GET", `/api/runs/${created.id}/logs`)).body
      .items;
    assert.ok(
      logs.some((l) => l.message === "doubling"),
      JSON.stringify(logs),
    );
    const agents = await cli(["agents", "list", "--server", server.url]);
    assert.match(agents.stdout, /embedded-local\s+local/);
  });

  it("-o yaml on the server's commands prints the API's document, as -o json does", async () => {
    const s = ["--server", server.url];
    // fields that move between two reads (a heartbeat, the next tick, now - 30d) are left out
    const still = (doc: unknown) =>
      JSON.parse(
        JSON.stringify(doc, (k, v) => (["lastSeenAt", "nextRuns", "olderThan"].includes(k) ? undefined : v)),
      );
    const get = async (p: string) => (await api<unknown>("GET", p)).body;
    const items = async (p: string) => ((await get(p)) as { items: unknown[] }).items;
    const { id: runId } = (await api<{ items: FlowRunRecord[] }>("GET", "/api/runs")).body.items[0]!;
    const cases: [string[], () => Promise<unknown>][] = [
      [["tokens", "list"], () => items("/api/tokens")],
      [["deployments", "list"], () => items("/api/deployments")],
      [["deployments", "get", "quick"], () => get("/api/deployments/quick")],
      [["schedules", "list"], () => items("/api/schedules")],
      [["agents", "list"], () => items("/api/agents")],
      [
        ["db", "vacuum", "--older-than", "30d", "--dry-run"],
        async () =>
          (await api("POST", "/api/db/vacuum", { olderThanMs: 30 * 86_400_000, dryRun: true })).body,
      ],
      [["runs", "list"], () => get("/api/runs")],
      [
        ["runs", "get", runId.slice(0, 8)],
        async () => ({
          ...((await get(`/api/runs/${runId}`)) as object),
          taskRuns: await items(`/api/runs/${runId}/task-runs`),
        }),
      ],
    ];
    // one CLI process each, side by side; the deadline is for a loaded 2-core machine, where eight
    // of them took over a minute
    const printed = await Promise.all(cases.map(([args]) => cli([...args, ...s, "-o", "yaml"], 240_000)));
    for (const [i, [args, expected]] of cases.entries()) {
      const r = printed[i]!;
      assert.equal(r.code, 0, `${args.join(" ")} -o yaml: ${r.stderr}`);
      const doc = await expected();
      // YAML, not JSON (an empty list is [] in both)
      if (!Array.isArray(doc) || doc.length > 0) assert.doesNotMatch(r.stdout, /^\s*[{[]/, args.join(" "));
      assert.deepEqual(still(parseYaml(r.stdout)), still(doc), args.join(" "));
    }
    const [deployed, token] = await Promise.all([
      cli(["deploy", fixture, "--flow", "agent-quick", "--name", "quick", ...s, "-o", "yaml"], 240_000),
      cli(["tokens", "create", "--scope", "read", "--name", "yaml", ...s, "-o", "yaml"], 240_000),
    ]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.equal((parseYaml(deployed.stdout) as { name: string }).name, "quick");
    assert.equal(token.code, 0, token.stderr);
    const created = parseYaml(token.stdout) as { token: string; scope: string; name: string };
    assert.equal(created.scope, "read");
    assert.equal(created.name, "yaml");
    assert.ok(created.token.length > 20, "the value is in the document, printed this once");
    assert.doesNotMatch(token.stderr, /shown only this once/, "a document on stdout, no note on stderr");
  });

  it("a parameter outside the deployment's schema, or an unknown deployment, is one clear error", async () => {
    const bad = await cli(["runs", "create", "quick", "--param", "y=1", "--server", server.url]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /deployment quick: the flow has no parameter "y"/);
    assert.match(bad.stderr, /its parameters are: x/);
    const unknown = await cli(["runs", "create", "nope", "--server", server.url]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /deployment nope not found/);
  });

  it("a malformed cron or time zone is refused and nothing is created", async () => {
    const cron = await cli([
      "deploy",
      fixture,
      "--flow",
      "agent-quick",
      "--name",
      "badcron",
      "--schedule",
      "61 * * * *",
      "--server",
      server.url,
    ]);
    assert.equal(cron.code, 2, cron.stderr);
    assert.match(cron.stderr, /"61 \* \* \* \*" is not a cron expression/);
    const tz = await cli([
      "deploy",
      fixture,
      "--flow",
      "agent-quick",
      "--name",
      "badtz",
      "--schedule",
      "0 * * * *",
      "--timezone",
      "Mars/Base",
      "--server",
      server.url,
    ]);
    assert.equal(tz.code, 2, tz.stderr);
    assert.match(tz.stderr, /unknown time zone "Mars\/Base"/);
    const list = await api<{ items: { name: string }[] }>("GET", "/api/deployments");
    assert.ok(!list.body.items.some((d) => d.name === "badcron" || d.name === "badtz"));
  });

  it("cancel while Scheduled (no agent for its pool) and while Running: Cancelled, the runner gone", async () => {
    await deployFixture("nobody", "agent-slow", { pool: "nobody" });
    const waiting = await start("nobody");
    const c1 = await cli(["runs", "cancel", waiting.id.slice(0, 8), "--server", server.url]);
    assert.equal(c1.code, 0, c1.stderr);
    assert.match(c1.stdout, /Cancelled/);

    await deployFixture("slow", "agent-slow");
    const run = await start("slow");
    const running = await until(run.id, (r) => r.state === "Running");
    const pid = Number(running.infraRef?.replace("pid:", ""));
    assert.ok(alive(pid));
    const c2 = await cli(["runs", "cancel", run.id, "--server", server.url]);
    assert.equal(c2.code, 0, c2.stderr);
    const cancelled = await until(run.id, (r) => r.state === "Cancelled", 30_000);
    assert.equal(cancelled.state, "Cancelled");
    assert.ok(!alive(pid), "the runner process is gone");
  });

  it("a runner killed by a signal makes the run Crashed with the reason, and frees its concurrency slot", async () => {
    await deployFixture("one-at-a-time", "agent-slow", { concurrencyLimit: 1 });
    const first = await start("one-at-a-time");
    const second = await start("one-at-a-time");
    const running = await until(first.id, (r) => r.state === "Running");
    assert.equal(
      (await api<FlowRunRecord>("GET", `/api/runs/${second.id}`)).body.state,
      "Scheduled",
      "the limit holds",
    );
    process.kill(Number(running.infraRef?.replace("pid:", "")), "SIGKILL");
    const crashed = await until(first.id, (r) => r.state === "Crashed");
    assert.match(crashed.reason ?? "", /killed by SIGKILL/);
    const next = await until(second.id, (r) => r.state === "Starting" || r.state === "Running");
    assert.ok(next.agentId);
    await api("POST", `/api/runs/${second.id}/cancel`);
    await until(second.id, (r) => r.state === "Cancelled", 30_000);
  });

  it("deploy sends no content of the flow's spec files to the server or its database", async () => {
    const kubeFlow = path.join(root, "test/fixtures/kube-flows/custom-scheduler.ts");
    const d = await cli([
      "deploy",
      kubeFlow,
      "--name",
      "kube-custom",
      "--image",
      "registry.example/flows:1",
      "--server",
      server.url,
      "-o",
      "json",
    ]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal((JSON.parse(d.stdout) as { pool: string }).pool, "kubernetes");
    const got = await cli(["deployments", "get", "kube-custom", "--server", server.url, "-o", "json"]);
    const doc = JSON.parse(got.stdout) as { image?: string; module?: string };
    assert.equal(doc.image, "registry.example/flows:1");
    // what the spec file holds and Flotilla would only use at launch, inside the image
    const spec = readFileSync(path.join(root, "test/fixtures/kube-specs/scheduler-e2e.yaml"), "utf8");
    assert.match(spec, /data-platform/);
    const bytes = readdirSync(home)
      .filter((f) => f.startsWith("flotilla.db"))
      .map((f) => readFileSync(path.join(home, f)).toString("latin1"))
      .join("");
    assert.ok(bytes.includes("kube-custom"), "the deployment is in the database");
    for (const secretOfTheImage of [
      "data-platform",
      "TEAM_SETTING",
      "cost-center",
      "activeDeadlineSeconds",
      "scheduler-e2e.yaml",
    ]) {
      assert.ok(!bytes.includes(secretOfTheImage), `${secretOfTheImage} reached the database`);
      assert.ok(!got.stdout.includes(secretOfTheImage));
    }
  });
});
