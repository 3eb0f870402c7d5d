// Schedules across server downtime, end to end on kube-sim (RBAC enforced): three deployments of
// one Kubernetes flow, deployed with the same daily cron schedule and catch-up skip, once and
// all, are launched by the Kubernetes agent (under the Role `flotilla agent install kubernetes
// --rbac` prints). The server stops; its database is left as a server that went down 73 hours
// ago leaves it (each schedule's last tick then, written through the store while no server owns
// the file); the server starts again on the same port while the agent, which kept running, keeps
// polling. Then exactly what each policy says is launched: all → one run for each of the 3
// missed ticks (oldest first), once → one run for the latest, skip → none; each is one runner
// Job on kube-sim and ends Success; the scheduler's next passes add nothing.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { Agent } from "../src/agent/agent.ts";
import { buildAgentInstall } from "../src/agent/install.ts";
import { KubernetesLauncher } from "../src/agent/kubernetes-launcher.ts";
import { deploymentBody } from "../src/cli/commands/deploy.ts";
import { connect } from "../src/kubernetes/client.ts";
import { ApiClient } from "../src/server/client.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { openStore } from "../src/store/open.ts";
import type { FlowRunRecord, ScheduleRecord } from "../src/store/store.ts";
import type { KubeSim } from "../src/testing/index.ts";
import { startFlotillaSim } from "./helpers/kube-sim.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over arbitrary API objects
type Loose = any;

const root = fileURLToPath(new URL("..", import.meta.url));
const NS = "schedules";
const IMAGE = "example.com/flotilla-flow:dev";
const MODULE = path.join(root, "test/fixtures/kube-flows/reporting.ts");
const HOUR = 3_600_000;
const home = mkdtempSync(path.join(tmpdir(), "flotilla-agent-schedules-"));
const database = path.join(home, "flotilla.db");

let sim: KubeSim | undefined;
let server: RunningServer | undefined;
let agent: Agent | undefined;
let launcher: KubernetesLauncher | undefined;

const serve = (port: number) => startServer({ port, home, database, schedulerPeriodMs: 200 });

async function admin<T = Loose>(
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const send = () =>
    fetch(`${server!.url}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${server!.adminToken}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  // The server is stopped and started again on the same port: fetch's pool may still hold a
  // keep-alive socket to the stopped one, and a GET sent on it fails with "other side closed"
  // (UND_ERR_SOCKET) under load. A GET is safe to send again, once, on a new connection.
  const res = await send().catch((e: unknown) => {
    const code = ((e as Error).cause as { code?: string } | undefined)?.code;
    if (method === "GET" && (code === "UND_ERR_SOCKET" || code === "ECONNRESET")) return send();
    throw e;
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Re-check `check` every 200 ms until it returns a value; fail after `ms`. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 240_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const runsOf = async (deployment: string) =>
  (await admin<{ items: FlowRunRecord[] }>("GET", `/api/runs?deployment=${deployment}&limit=100`)).body.items;
const jobsOf = (runId: string): Loose[] =>
  sim!.objects("jobs", NS).filter((o: Loose) => o.metadata?.labels?.["flotilla.io/flow-run-id"] === runId);

before(async () => {
  sim = await startFlotillaSim(IMAGE, { namespaces: [NS] });
  server = await serve(0);
  // the agent's and the runners' identities as `flotilla agent install kubernetes --rbac` prints them
  const objects = k8s.KubernetesObjectApi.makeApiClient(sim.kubeConfig());
  for (const o of buildAgentInstall({ namespace: NS, server: server.url, image: IMAGE, rbac: true })) {
    if (o.kind !== "Deployment") await objects.create(o as k8s.KubernetesObject);
  }
  const t = await admin<{ token: string }>("POST", "/api/tokens", { name: "k8s-agent", scope: "agent" });
  assert.equal(t.status, 201);
  launcher = new KubernetesLauncher({
    clients: connect({ kubeConfig: (await sim.serviceAccountKubeconfig(NS, "flotilla-agent")).kubeConfig }),
    namespace: NS,
    environment: { serviceAccountName: "flotilla-runner" },
    resyncMs: 500,
  });
  agent = new Agent({
    client: new ApiClient({ url: server.url, token: t.body.token, timeoutMs: 5000 }),
    pool: "kubernetes",
    launcher,
    id: "k8s-schedules",
    capacity: 2,
    pollMs: 200,
    onError: (e) => console.log(`# agent: ${(e as Error).message}`),
  });
  agent.start();
});

after(async () => {
  await agent?.stop().catch(() => {});
  launcher?.close();
  await server?.close();
  await sim?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe("schedules across server downtime, launched by the Kubernetes agent (kube-sim)", {
  timeout: 600_000,
}, () => {
  it("after 73 hours down, a daily schedule launches 3 runs (all), 1 (once), none (skip), each once", async () => {
    // a daily tick 12 hours from now (to the minute), so every tick is far from the grace window
    const at = new Date(Date.now() + 12 * HOUR);
    const cron = `${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    const flow = selectFlow(await loadFlowModule(MODULE));
    for (const catchUp of ["skip", "once", "all"] as const) {
      const d = await admin("POST", "/api/deployments", {
        ...deploymentBody(flow, MODULE, {
          name: `daily-${catchUp}`,
          pool: "kubernetes",
          image: IMAGE,
          schedule: cron,
          catchUp,
        }),
        parameters: { n: 1, sleepMs: 10 },
      });
      assert.equal(d.status, 201, JSON.stringify(d.body));
    }
    const { port } = new URL(server!.url);
    await server!.close();
    server = undefined;

    // the database as a server that went down 73 hours ago leaves it: each schedule last ticked then
    const downAt = Date.now() - 73 * HOUR;
    const store = await openStore(database);
    try {
      const deployments = await store.listDeployments();
      for (const s of await store.listSchedules()) {
        const { cron: c, timezone, catchUp } = s as ScheduleRecord;
        await store.setSchedule(s.deploymentId, { ...(c ? { cron: c } : {}), timezone, catchUp }, downAt);
      }
      assert.equal(deployments.length, 3);
    } finally {
      await store.close();
    }
    const restartedAt = Date.now();
    server = await serve(Number(port));

    // the missed ticks: the cron's minute on each of the 3 days before now
    const tick = new Date(at);
    tick.setUTCSeconds(0, 0);
    const missed = [3, 2, 1].map((days) => tick.getTime() - days * 24 * HOUR).filter((t) => t > downAt);
    assert.equal(missed.length, 3);
    const all = await until("the 3 runs of catch-up all, ended", async () => {
      const runs = await runsOf("daily-all");
      return runs.length >= 3 && runs.every((r) => ["Success", "Failed", "Crashed"].includes(r.state))
        ? runs
        : undefined;
    });
    const once = await until("the run of catch-up once, ended", async () => {
      const runs = await runsOf("daily-once");
      return runs.length >= 1 && runs.every((r) => ["Success", "Failed", "Crashed"].includes(r.state))
        ? runs
        : undefined;
    });
    console.log(`# the last run ended ${Date.now() - restartedAt} ms after the server started again`);
    const skip = await runsOf("daily-skip");
    assert.deepEqual(
      all.map((r) => r.scheduledAt).sort(),
      missed,
      "all: one run for each missed tick, none twice",
    );
    assert.deepEqual(
      once.map((r) => r.scheduledAt),
      [missed[2]],
      "once: one run, for the latest missed tick",
    );
    assert.deepEqual(skip, [], "skip: no run for a missed tick");
    for (const r of [...all, ...once]) {
      assert.equal(r.state, "Success", `${r.id}: ${r.reason ?? ""}`);
      assert.equal(jobsOf(r.id).length, 1, `one runner Job for run ${r.id}`);
    }
    const runIds = new Set([...all, ...once].map((r) => r.id));
    const strayJobs = sim!
      .objects("jobs", NS)
      .filter((j: Loose) => !runIds.has(j.metadata?.labels?.["flotilla.io/flow-run-id"]));
    assert.deepEqual(
      strayJobs.map((j: Loose) => j.metadata.name),
      [],
      "no Job of any other run",
    );

    // the scheduler's next passes create nothing more (the next tick is hours away)
    const counts = async () =>
      (await Promise.all(["daily-skip", "daily-once", "daily-all"].map(runsOf))).map((rs) => rs.length);
    assert.deepEqual(await counts(), [0, 1, 3]);
    await server.scheduler.tick();
    await server.scheduler.tick();
    assert.deepEqual(await counts(), [0, 1, 3], "two more passes add no run");
  });
});
