// Runner pods report to the server with the run's own token, end to end on kube-sim (RBAC
// enforced; kube-sim's pods are processes here, so the server on 127.0.0.1 is reachable from
// them): a deployment run launched by the Kubernetes agent (under the identity `flotilla agent
// install kubernetes --rbac` prints) shows its task runs in `flotilla runs get --server` and its
// task log lines in `flotilla runs logs --server`, reported by the runner pod itself. The run's
// token is minted by the server at launch and travels only in the per-run Secret (secretKeyRef):
// its value is in no other object, event, pod log or CLI output; it may report its own run but
// not read another, list runs or create tokens (403); once the run ended it is refused (401).
// The Kubernetes Events of the run's runner pod and of the worker pods its runner creates are
// lines of the run's logs: why a runner or a worker never started (image pull, Unschedulable).
// A runner pod given a server address where nothing listens warns once and runs on; the run's
// final state still reaches the server, through the agent reading its termination message.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { Agent } from "../src/agent/agent.ts";
import { KubernetesLauncher } from "../src/agent/kubernetes-launcher.ts";
import { deploymentBody } from "../src/cli/commands/deploy.ts";
import { ApiClient } from "../src/server/client.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import type { FlowRunRecord } from "../src/store/store.ts";
import type { KubeSim } from "../src/testing/index.ts";
import { execWithHome, installAgentRbac } from "./helpers/agent-install.ts";
import { startFlotillaSim } from "./helpers/kube-sim.ts";
import { freePort } from "./helpers/ports.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over arbitrary API objects
type Loose = any;

const root = fileURLToPath(new URL("..", import.meta.url));
const NS = "reporting";
const IMAGE = "example.com/flotilla-flow:dev";
const MODULE = path.join(root, "test/fixtures/kube-flows/reporting.ts");
const UNPULLABLE = "example.com/no-such-image:1";
const WORKER_EVENTS = path.join(root, "test/fixtures/kube-flows/worker-events.ts");
const home = mkdtempSync(path.join(tmpdir(), "flotilla-runner-report-"));

let sim: KubeSim | undefined;
let server: RunningServer | undefined;
let agent: Agent | undefined;
let launcher: KubernetesLauncher | undefined;
/** An agent whose runner pods are given a server address where nothing listens. */
let offline: { agent: Agent; launcher: KubernetesLauncher } | undefined;
const agentErrors: string[] = [];

const cli = (args: string[]) =>
  execWithHome(home, process.execPath, [path.join(root, "bin/flotilla.js"), ...args]);

async function call<T = Loose>(
  method: string,
  p: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server!.url}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
const admin = <T = Loose>(method: string, p: string, body?: unknown) =>
  call<T>(method, p, server!.adminToken, body);

/** Re-check `check` every 100 ms until it returns a value; fail after `ms`. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 90_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ofRun = (resource: string, runId: string): Loose[] =>
  sim!.objects(resource, NS).filter((o: Loose) => o.metadata?.labels?.["flotilla.io/flow-run-id"] === runId);

before(async () => {
  sim = await startFlotillaSim(IMAGE, { namespaces: [NS] });
  server = await startServer({
    port: 0,
    home,
    database: path.join(home, "flotilla.db"),
    schedulerPeriodMs: 200,
  });
  const t = await admin<{ token: string }>("POST", "/api/tokens", { name: "k8s-agent", scope: "agent" });
  assert.equal(t.status, 201);
  // the agent's and the runners' identities as `flotilla agent install kubernetes --rbac` prints them
  const { agentClients: clients } = await installAgentRbac({
    sim,
    home,
    namespace: NS,
    serverUrl: server.url,
    image: IMAGE,
  });
  launcher = new KubernetesLauncher({
    clients,
    namespace: NS,
    environment: { serviceAccountName: "flotilla-runner" },
    resyncMs: 500,
  });
  agent = new Agent({
    client: new ApiClient({ url: server.url, token: t.body.token }),
    pool: "kubernetes",
    launcher,
    id: "k8s-reporting",
    pollMs: 200,
    onError: (e) => agentErrors.push((e as Error).message),
  });
  agent.start();
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const offlineLauncher = new KubernetesLauncher({
    clients,
    namespace: NS,
    environment: { serviceAccountName: "flotilla-runner" },
    reportUrl: nowhere,
    resyncMs: 500,
  });
  offline = {
    launcher: offlineLauncher,
    agent: new Agent({
      client: new ApiClient({ url: server.url, token: t.body.token }),
      pool: "kubernetes-offline",
      launcher: offlineLauncher,
      id: "k8s-offline",
      pollMs: 200,
      onError: (e) => agentErrors.push((e as Error).message),
    }),
  };
  offline.agent.start();
  const flow = selectFlow(await loadFlowModule(MODULE));
  const d = await admin(
    "POST",
    "/api/deployments",
    deploymentBody(flow, MODULE, { name: "report", pool: "kubernetes", image: IMAGE }),
  );
  assert.equal(d.status, 201, JSON.stringify(d.body));
  const u = await admin(
    "POST",
    "/api/deployments",
    deploymentBody(flow, MODULE, { name: "unpullable", pool: "kubernetes", image: UNPULLABLE }),
  );
  assert.equal(u.status, 201, JSON.stringify(u.body));
  const o = await admin(
    "POST",
    "/api/deployments",
    deploymentBody(flow, MODULE, { name: "offline", pool: "kubernetes-offline", image: IMAGE }),
  );
  assert.equal(o.status, 201, JSON.stringify(o.body));
  const workerFlows = await loadFlowModule(WORKER_EVENTS);
  for (const [exported, name] of [
    ["unschedulable", "worker-unschedulable"],
    ["unpullable", "worker-unpullable"],
  ] as const) {
    const w = await admin(
      "POST",
      "/api/deployments",
      deploymentBody(selectFlow(workerFlows, exported), WORKER_EVENTS, {
        name,
        pool: "kubernetes",
        image: IMAGE,
      }),
    );
    assert.equal(w.status, 201, JSON.stringify(w.body));
  }
});

after(async () => {
  await agent?.stop().catch(() => {});
  launcher?.close();
  await offline?.agent.stop().catch(() => {});
  offline?.launcher.close();
  await server?.close();
  await sim?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe("runner pods report with the run's own token (kube-sim, RBAC enforced)", {
  timeout: 600_000,
}, () => {
  it("task runs and task logs reach the server; the token is only in the Secret and only reports its run", async () => {
    const other = await admin<FlowRunRecord>("POST", "/api/runs", {
      flowName: "elsewhere",
      state: "Running",
    });
    assert.equal(other.status, 201);
    const created = await admin<FlowRunRecord>("POST", "/api/deployments/report/runs", {
      parameters: { n: 3, sleepMs: 3000 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runId = created.body.id;

    // the run's token, as the runner pod reads it: from the per-run Secret
    const secret = await until("the run's Secret", () => ofRun("secrets", runId)[0]);
    assert.ok(secret.data?.["api-token"], "the Secret holds the run's token");
    const token = Buffer.from(secret.data["api-token"], "base64").toString("utf8");
    assert.match(token, /^flt_/);
    const job = await until("the runner Job", () => ofRun("jobs", runId)[0]);
    const env: Loose[] = job.spec.template.spec.containers.find((c: Loose) => c.name === "flotilla").env;
    const tokenEnv = env.find((e) => e.name === "FLOTILLA_API_TOKEN");
    assert.deepEqual(tokenEnv.valueFrom.secretKeyRef, { name: secret.metadata.name, key: "api-token" });
    assert.equal(tokenEnv.value, undefined, "never a plain env value");
    assert.equal(env.find((e) => e.name === "FLOTILLA_API_URL").value, server!.url);

    // while the run lives: its token reports its run and nothing else
    await until("the run Running", async () => {
      const r = await admin<FlowRunRecord>("GET", `/api/runs/${runId}`);
      return r.body.state === "Running" ? true : undefined;
    });
    assert.equal((await call("GET", `/api/runs/${runId}`, token)).status, 200, "its own run");
    assert.equal((await call("GET", `/api/runs/${runId}/events`, token)).status, 200, "its own transitions");
    const refused: [string, string, unknown?][] = [
      ["GET", "/api/runs"],
      ["GET", `/api/runs/${other.body.id}`],
      ["GET", `/api/runs/${other.body.id}/logs`],
      ["GET", `/api/runs/${runId}/logs`],
      ["POST", `/api/runs/${other.body.id}/report`, { logs: [] }],
      ["POST", `/api/runs/${other.body.id}/state`, { state: "Failed" }],
      ["POST", "/api/tokens", { name: "more", scope: "admin" }],
      ["GET", "/api/tokens"],
      ["POST", `/api/runs/${runId}/token`, {}],
      ["POST", "/api/runs", { flowName: "sneaky", state: "Running" }],
      ["GET", "/api/deployments"],
      ["POST", "/api/deployments/report/runs", {}],
      ["POST", `/api/runs/${runId}/cancel`, {}],
    ];
    for (const [method, p, body] of refused) {
      const r = await call<{ error: { code: string; message: string } }>(method, p, token, body);
      assert.equal(r.status, 403, `${method} ${p} with the run's token: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "FLOTILLA_FORBIDDEN");
      assert.ok(!r.body.error.message.includes(token), "no token in the answer");
    }

    const done = await until("the run's end", async () => {
      const r = (await admin<FlowRunRecord>("GET", `/api/runs/${runId}`)).body;
      return ["Success", "Failed", "Crashed", "Cancelled"].includes(r.state) ? r : undefined;
    });
    assert.equal(done.state, "Success", done.reason);

    // the runner pod's reports, as a user reads them
    const got = await cli(["runs", "get", runId, "--server", server!.url, "-o", "json"]);
    assert.equal(got.code, 0, got.stderr);
    const detail = JSON.parse(got.stdout) as {
      taskRuns: { slug: string; mapIndex: number; state: string; worker?: string }[];
    };
    const work = detail.taskRuns.filter((t) => t.slug === "work" && t.mapIndex >= 0);
    assert.deepEqual(
      work.map((t) => [t.mapIndex, t.state]).sort(),
      [
        [0, "Success"],
        [1, "Success"],
        [2, "Success"],
      ],
      JSON.stringify(detail.taskRuns),
    );
    assert.ok(
      work.every((t) => t.worker),
      "each task run names its worker pod",
    );
    assert.ok(detail.taskRuns.some((t) => t.slug === "total" && t.state === "Success"));
    const table = await cli(["runs", "get", runId, "--server", server!.url]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /tasks: .*Success/);
    const logs = await cli(["runs", "logs", runId, "--server", server!.url]);
    assert.equal(logs.code, 0, logs.stderr);
    for (const i of [0, 1, 2])
      assert.match(logs.stdout, new RegExp(`\\[work\\[${i}\\][^\\]]*\\] work item ${i} done`));
    assert.match(logs.stdout, new RegExp(`flow run ${runId} finished: Success`));

    // the token's value: in the Secret only (base64), in no other object, event, log or output
    const forms = [token, Buffer.from(token).toString("base64")];
    for (const resource of ["pods", "jobs", "events", "secrets", "configmaps", "serviceaccounts"]) {
      for (const o of sim!.objects(resource, NS)) {
        if (resource === "secrets" && o.metadata.name === secret.metadata.name) continue;
        const text = JSON.stringify(o);
        for (const f of forms) assert.ok(!text.includes(f), `the token in ${resource}/${o.metadata.name}`);
      }
    }
    const core = sim!.kubeConfig().makeApiClient(k8s.CoreV1Api);
    for (const pod of ofRun("pods", runId)) {
      for (const c of pod.spec.containers) {
        const text = await core.readNamespacedPodLog({
          name: pod.metadata.name,
          namespace: NS,
          container: c.name,
        });
        for (const f of forms)
          assert.ok(!String(text).includes(f), `the token in the log of ${pod.metadata.name}/${c.name}`);
      }
    }
    const serverLogs = await admin<{ items: { message: string }[] }>(
      "GET",
      `/api/runs/${runId}/logs?limit=100000`,
    );
    for (const f of forms)
      assert.ok(!JSON.stringify(serverLogs.body).includes(f), "the token in the run's reported logs");
    for (const out of [
      got.stdout,
      table.stdout,
      logs.stdout,
      got.stderr,
      logs.stderr,
      agentErrors.join("\n"),
    ])
      for (const f of forms) assert.ok(!out.includes(f), "the token in CLI output or agent errors");

    // the Kubernetes Events of its runner pod are lines of the run too
    assert.match(logs.stdout, /\[k8s pod\/flotilla-kube-reporting-\S+\] Scheduled: /);
    assert.match(logs.stdout, /\[k8s pod\/\S+\] Started: Started container flotilla/);

    // the run ended: its token is gone
    const late = await call("GET", `/api/runs/${runId}`, token);
    assert.equal(late.status, 401, "a finished run's token is refused");
    const tokens = await admin<{ items: { runId?: string }[] }>("GET", "/api/tokens");
    assert.ok(!tokens.body.items.some((t) => t.runId === runId), "no token of the finished run is kept");
  });
  it("a runner pod that never starts: its Kubernetes Events are the run's log lines (source k8s)", async () => {
    const created = await admin<FlowRunRecord>("POST", "/api/deployments/unpullable/runs", {
      parameters: {},
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runId = created.body.id;
    const done = await until("the run's end", async () => {
      const r = (await admin<FlowRunRecord>("GET", `/api/runs/${runId}`)).body;
      return ["Success", "Failed", "Crashed", "Cancelled"].includes(r.state) ? r : undefined;
    });
    assert.equal(done.state, "Crashed", done.reason);
    const logs = await cli(["runs", "logs", runId, "--server", server!.url]);
    assert.equal(logs.code, 0, logs.stderr);
    console.log(logs.stdout.replace(/^/gm, "# "));
    assert.match(
      logs.stdout,
      /WARN \[k8s pod\/flotilla-kube-reporting-\S+\] Failed: Failed to pull image "example\.com\/no-such-image:1"/,
    );
    assert.match(logs.stdout, /\[k8s pod\/\S+\] Failed: Error: (ErrImagePull|ImagePullBackOff)/);
    const json = await cli([
      "runs",
      "logs",
      runId,
      "--server",
      server!.url,
      "-o",
      "json",
      "--grep",
      "ErrImagePull",
    ]);
    assert.equal(json.code, 0, json.stderr);
    const first = JSON.parse(json.stdout.trim().split("\n")[0]!) as Loose;
    assert.equal(first.source, "k8s");
    assert.equal(first.reason, "Failed");
    assert.match(first.object, /^pod\/flotilla-kube-reporting-/);
    assert.equal(first.level, "warn");
  });
  it("a worker pod that never starts: its Kubernetes Events are the run's log lines too", async () => {
    // both runs at once: each ends when its runner gives up on its worker
    const runs = await Promise.all(
      ["worker-unschedulable", "worker-unpullable"].map(async (d) => {
        const created = await admin<FlowRunRecord>("POST", `/api/deployments/${d}/runs`, { parameters: {} });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        return created.body.id;
      }),
    );
    for (const [runId, why] of [
      [runs[0]!, /\[k8s pod\/(\S+-w-\S+)\] FailedScheduling: 0\/1 nodes are available: 1 Insufficient cpu/],
      [runs[1]!, /\[k8s pod\/(\S+-w-\S+)\] Failed: Failed to pull image "example\.com\/no-such-sidecar:1"/],
    ] as const) {
      const done = await until("the run's end", async () => {
        const r = (await admin<FlowRunRecord>("GET", `/api/runs/${runId}`)).body;
        return ["Success", "Failed", "Crashed", "Cancelled"].includes(r.state) ? r : undefined;
      });
      assert.equal(done.state, "Failed", done.reason);
      const logs = await cli(["runs", "logs", runId, "--server", server!.url]);
      assert.equal(logs.code, 0, logs.stderr);
      console.log(logs.stdout.replace(/^/gm, "# "));
      const line = why.exec(logs.stdout);
      assert.ok(line, `the worker pod's Event in the run's logs:\n${logs.stdout}`);
      assert.match(
        logs.stdout,
        new RegExp(`WARN \\[k8s pod/${line[1]}\\]`),
        "a Warning Event is a warn line",
      );
      // the pod is a worker of this run (created by its runner pod, not by the agent)
      const pod = sim!.objects("pods", NS).find((p: Loose) => p.metadata.name === line[1]);
      const events = sim!.objects("events", NS).filter((e: Loose) => e.involvedObject?.name === line[1]);
      assert.ok(events.length > 0, "kube-sim holds the worker pod's Events");
      if (pod) assert.equal(pod.metadata.labels["flotilla.io/component"], "worker");
      assert.ok(line[1]!.includes(runId.replace(/-/g, "").slice(0, 8)), "a pod of this run");
    }
  });
  it("a runner pod that cannot reach the server: its final state still reaches it (the termination message)", async () => {
    const created = await admin<FlowRunRecord>("POST", "/api/deployments/offline/runs", {
      parameters: { n: 2, sleepMs: 10 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runId = created.body.id;
    const done = await until("the run's end", async () => {
      const r = (
        await admin<FlowRunRecord & { taskCounts: Record<string, number> }>("GET", `/api/runs/${runId}`)
      ).body;
      return ["Success", "Failed", "Crashed", "Cancelled"].includes(r.state) ? r : undefined;
    });
    assert.equal(done.state, "Success", done.reason);
    const events = (await admin<{ items: { to: string }[] }>("GET", `/api/runs/${runId}/events`)).body.items;
    assert.deepEqual(
      events.map((e) => e.to),
      ["Scheduled", "Pending", "Starting", "Running", "Success"],
    );
    // nothing came from the runner itself: no task run, no line of its own
    assert.deepEqual(done.taskCounts, {}, "the runner reported no task run");
    const logs = (
      await admin<{ items: { source?: string; message: string }[] }>("GET", `/api/runs/${runId}/logs`)
    ).body.items;
    assert.deepEqual(
      logs.filter((l) => l.source !== "k8s").map((l) => l.message),
      [],
      "only the agent's Kubernetes Events",
    );
    // the runner said once that it could not report, and went on
    const runner = ofRun("pods", runId).find(
      (p: Loose) => p.metadata.labels["flotilla.io/component"] === "runner",
    );
    const core = sim!.kubeConfig().makeApiClient(k8s.CoreV1Api);
    const out = String(
      await core.readNamespacedPodLog({ name: runner.metadata.name, namespace: NS, container: "flotilla" }),
    );
    assert.equal(out.match(/not reporting to http:\/\/127\.0\.0\.1:\d+/g)?.length, 1, out);
  });
});
