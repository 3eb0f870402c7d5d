// The Kubernetes agent end to end, on kube-sim with RBAC enforced: a real flotilla server (SQLite,
// temp home), an agent of the kubernetes pool that holds exactly the identity `flotilla agent
// install kubernetes --rbac` prints (the whole output applied with kubectl after the token Secret its
// stderr asks for; SelfSubjectAccessReview shows it can do what it calls and nothing more; the
// Deployment rolled out, its pod the in-cluster agent that launches a run), and deployments
// of a flow in the image kube-sim maps to this checkout. What a user sees on the server: a run
// launched as a runner Job ends Success (its final state read from the termination message); a
// runner pod deleted or its container SIGKILLed, and an image that cannot be pulled, end Crashed
// with the Kubernetes reason; cancel while the runner pod is still Pending and while it runs ends
// Cancelled with the Job and its pods gone; an agent restarted mid-run re-adopts the run without
// a second Job; a deployment's concurrency slot is free again after a crash.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { parseAllDocuments } from "yaml";
import { Agent } from "../src/agent/agent.ts";
import { KubernetesLauncher } from "../src/agent/kubernetes-launcher.ts";
import { deploymentBody } from "../src/cli/commands/deploy.ts";
import { connect, type KubeClients } from "../src/kubernetes/client.ts";
import { ApiClient } from "../src/server/client.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import type { FlowRunRecord } from "../src/store/store.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";
import { execWithHome } from "./helpers/agent-install.ts";
import { kubectlPath } from "./helpers/system.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over arbitrary API objects
type Loose = any;

const root = fileURLToPath(new URL("..", import.meta.url));
const NS = "agents";
const IMAGE = "example.com/flotilla-flow:dev";
const STUCK_BROKER = "example.com/never-ready-broker:1";
const MODULE = path.join(root, "test/fixtures/kube-flows/slow.ts");
const home = mkdtempSync(path.join(tmpdir(), "flotilla-agent-k8s-"));

let sim: KubeSim;
let server: RunningServer;
let agentClients: KubeClients;
let agentToken: string;
let installed = "";
let appliedOutput = "";
let deploymentObject: Loose;
/** kubectl's flags for the admin kubeconfig of this sim */
let kubectlArgs: string[] = [];
const agents: { agent: Agent; launcher: KubernetesLauncher }[] = [];

function cli(args: string[], timeoutMs = 60_000) {
  return exec(process.execPath, [path.join(root, "bin/flotilla.js"), ...args], undefined, timeoutMs);
}

/** Run a program to its end (bounded), with `input` on its stdin and this file's FLOTILLA_HOME. */
const exec = (file: string, args: string[], input?: string, timeoutMs?: number) =>
  execWithHome(home, file, args, input, timeoutMs);

const api = async <T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${server.url}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${server.adminToken}`,
      ...(body ? { "content-type": "application/json" } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
};

/** An agent of `pool` under the agent's service account (its Role only). */
function startAgent(pool: string, id: string, environment: Record<string, unknown> = {}) {
  const launcher = new KubernetesLauncher({
    clients: agentClients,
    namespace: NS,
    environment: { serviceAccountName: "flotilla-runner", ...environment },
    resyncMs: 500,
  });
  const agent = new Agent({
    client: new ApiClient({ url: server.url, token: agentToken }),
    runnerToken: agentToken,
    pool,
    launcher,
    id,
    capacity: 4,
    pollMs: 200,
    leaseMs: 30_000,
    onError: (e) => console.log(`# agent ${id}: ${(e as Error).message}`),
  });
  agent.start();
  const entry = { agent, launcher };
  agents.push(entry);
  return entry;
}

async function stopAgent(entry: { agent: Agent; launcher: KubernetesLauncher }) {
  await entry.agent.stop();
  entry.launcher.close();
}

async function deploy(name: string, pool: string, extra: Record<string, unknown> = {}, image = IMAGE) {
  const flow = selectFlow(await loadFlowModule(MODULE));
  const body = { ...deploymentBody(flow, MODULE, { name, pool, image }), ...extra };
  const r = await api<{ id: string }>("POST", "/api/deployments", body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function start(deployment: string, parameters: Record<string, unknown>) {
  const r = await api<FlowRunRecord>("POST", `/api/deployments/${deployment}/runs`, { parameters });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** Wait (bounded) until the run satisfies `ok`. */
async function until(id: string, ok: (r: FlowRunRecord) => boolean, ms = 90_000): Promise<FlowRunRecord> {
  const deadline = Date.now() + ms;
  let last: FlowRunRecord | undefined;
  while (Date.now() < deadline) {
    last = (await api<FlowRunRecord>("GET", `/api/runs/${id}`)).body;
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${id} still ${last?.state} (${last?.reason ?? ""}) after ${ms} ms`);
}

const terminal = (r: FlowRunRecord) => ["Success", "Failed", "Crashed", "Cancelled"].includes(r.state);

/** Resolves when `check` holds; rejects after timeoutMs. */
async function waitFor(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ofRun = (resource: string, runId: string): Loose[] =>
  sim.objects(resource, NS).filter((o: Loose) => o.metadata?.labels?.["flotilla.io/flow-run-id"] === runId);
const runnerOf = (runId: string): Loose =>
  ofRun("pods", runId).find((p) => p.metadata.labels["flotilla.io/component"] === "runner");

const events = async (id: string) =>
  (await api<{ items: { to: string }[] }>("GET", `/api/runs/${id}/events`)).body.items.map((e) => e.to);

before(async () => {
  const images = defaultImages(root);
  const flotilla = images["*flotilla*"]!;
  sim = await KubeSim.start({
    namespaces: [NS],
    images: {
      ...images,
      [IMAGE]: flotilla,
      // a broker whose port never opens: the runner pod stays Pending (its sidecar never starts)
      [STUCK_BROKER]: {
        entrypoint: [],
        commands: { sh: [process.execPath, "-e", "setInterval(() => {}, 1000)", "--"] },
        cwd: root,
      },
    },
  });
  server = await startServer({
    port: 0,
    home,
    database: path.join(home, "flotilla.db"),
    schedulerPeriodMs: 200,
  });
  const t = await api<{ token: string }>("POST", "/api/tokens", { name: "k8s-agent", scope: "agent" });
  assert.equal(t.status, 201);
  agentToken = t.body.token;
  // the agent's identity is exactly what `flotilla agent install kubernetes --rbac` prints,
  // applied with kubectl
  const printed = await cli([
    "agent",
    "install",
    "kubernetes",
    "--rbac",
    "-n",
    NS,
    "--server",
    server.url,
    "--image",
    IMAGE,
    "--pool",
    "in-cluster",
  ]);
  assert.equal(printed.code, 0, printed.stderr);
  installed = printed.stdout;
  const docs = parseAllDocuments(installed).map((d) => d.toJS() as Loose);
  deploymentObject = docs.find((d) => d.kind === "Deployment");
  // applied whole, as its stderr says: the token Secret first, then the output with kubectl
  const kubeconfig = path.join(home, "admin.kubeconfig");
  writeFileSync(kubeconfig, sim.kubeConfig().exportConfig());
  const kubectl = ["--kubeconfig", kubeconfig, "--cache-dir", path.join(home, "kubectl-cache")];
  assert.match(
    printed.stderr,
    /kubectl -n agents create secret generic flotilla-agent-token --from-literal=token=/,
  );
  // kubectl talks to the kube-sim of this process: spawned, never spawnSync
  const secret = await exec(kubectlPath(), [
    ...kubectl,
    "-n",
    NS,
    "create",
    "secret",
    "generic",
    "flotilla-agent-token",
    `--from-literal=token=${agentToken}`,
  ]);
  assert.equal(secret.code, 0, secret.stderr);
  const applied = await exec(kubectlPath(), [...kubectl, "apply", "-f", "-"], installed);
  assert.equal(applied.code, 0, applied.stderr);
  appliedOutput = applied.stdout;
  kubectlArgs = kubectl;
  agentClients = connect({
    kubeConfig: (await sim.serviceAccountKubeconfig(NS, "flotilla-agent")).kubeConfig,
  });
});

after(async () => {
  for (const a of agents) await stopAgent(a).catch(() => {});
  await server?.close();
  await sim?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe("the Kubernetes agent on kube-sim (RBAC enforced)", { timeout: 480_000 }, () => {
  let main: { agent: Agent; launcher: KubernetesLauncher };
  before(async () => {
    await deploy("quick", "kubernetes");
    await deploy("limited", "kubernetes", { concurrencyLimit: 1 });
    await deploy("unpullable", "kubernetes", {}, "example.com/no-such-image:1");
    main = startAgent("kubernetes", "k8s-main");
  });

  it("agent install kubernetes --rbac: applied by kubectl; the agent may do what it calls and nothing more", async () => {
    assert.match(appliedOutput, /role\.rbac\.authorization\.k8s\.io\/flotilla-agent created/);
    assert.match(appliedOutput, /rolebinding\.rbac\.authorization\.k8s\.io\/flotilla-runner created/);
    assert.match(appliedOutput, /deployment\.apps\/flotilla-agent created/);
    assert.ok(!installed.includes("'*'") && !/- "?\*"?$/m.test(installed), "no * in any rule");
    assert.doesNotMatch(installed, new RegExp(agentToken), "no token in the output");
    new Deployment(deploymentObject).validate(); // the official apps/v1 schema
    assert.equal(deploymentObject.spec.replicas, 1);
    assert.equal(deploymentObject.spec.strategy.type, "Recreate");
    assert.equal(deploymentObject.spec.template.spec.serviceAccountName, "flotilla-agent");
    const can = async (verb: string, resource: string, group = "", namespace = NS) => {
      const r = await agentClients.authorization.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb, resource, group, namespace } } },
      });
      return r.status?.allowed === true;
    };
    const allowed: [string, string, string?][] = [
      ["create", "jobs", "batch"],
      ["get", "jobs", "batch"],
      ["list", "jobs", "batch"],
      ["patch", "jobs", "batch"],
      ["delete", "jobs", "batch"],
      ["create", "secrets"],
      ["list", "pods"],
      ["watch", "pods"],
      ["list", "events"],
    ];
    for (const [verb, resource, group] of allowed)
      assert.ok(await can(verb, resource, group), `may ${verb} ${resource}`);
    const denied: [string, string, string?][] = [
      ["get", "secrets"],
      ["list", "secrets"],
      ["patch", "secrets"],
      ["delete", "secrets"],
      ["create", "pods"],
      ["delete", "pods"],
      ["get", "pods"],
      ["update", "jobs", "batch"],
      ["create", "deployments", "apps"],
      ["create", "roles", "rbac.authorization.k8s.io"],
      ["create", "serviceaccounts"],
    ];
    for (const [verb, resource, group] of denied)
      assert.ok(!(await can(verb, resource, group)), `may not ${verb} ${resource}`);
    assert.ok(!(await can("create", "jobs", "batch", "default")), "nothing in another namespace");
  });

  it("the installed agent, run as its Deployment's pod under its ServiceAccount, launches a run to Success", async () => {
    const rollout = await exec(
      kubectlPath(),
      [...kubectlArgs, "-n", NS, "rollout", "status", "deployment/flotilla-agent", "--timeout=180s"],
      undefined,
      200_000,
    );
    assert.equal(rollout.code, 0, rollout.stderr);
    assert.match(rollout.stdout, /deployment "flotilla-agent" successfully rolled out/);
    const agentPods = sim
      .objects("pods", NS)
      .filter(
        (p: Loose) => p.metadata.ownerReferences?.[0]?.kind === "ReplicaSet" && !p.metadata.deletionTimestamp,
      );
    assert.equal(agentPods.length, 1, "one agent pod, the Deployment's");
    assert.equal(agentPods[0].spec.serviceAccountName, "flotilla-agent");
    assert.ok(
      sim.processes().some((p) => p.pod === agentPods[0].metadata.name),
      "the agent runs as the Deployment's pod",
    );
    try {
      await deploy("in-cluster", "in-cluster");
      const run = await start("in-cluster", { n: 1, sleepMs: 10 });
      const done = await until(run.id, terminal);
      assert.equal(done.state, "Success", done.reason);
      assert.equal(done.agentId, `flotilla-agent-${NS}-in-cluster`);
    } finally {
      // the in-cluster agent is not needed by the other cases: scaled to none (the scale subresource)
      await exec(kubectlPath(), [
        ...kubectlArgs,
        "-n",
        NS,
        "scale",
        "deployment/flotilla-agent",
        "--replicas=0",
      ]);
    }
    await waitFor("the agent pod gone", () =>
      sim.objects("pods", NS).every((p: Loose) => p.metadata.ownerReferences?.[0]?.kind !== "ReplicaSet"),
    );
  });

  it("launch: the run becomes a runner Job labelled with the run and ends Success", async () => {
    const run = await start("quick", { n: 2, sleepMs: 10 });
    const done = await until(run.id, terminal);
    assert.equal(done.state, "Success", done.reason);
    assert.deepEqual(await events(run.id), ["Scheduled", "Pending", "Starting", "Running", "Success"]);
    const jobs = ofRun("jobs", run.id);
    assert.equal(jobs.length, 1, "one runner Job");
    assert.equal(done.infraRef, `job:${NS}/${jobs[0].metadata.name}`);
    assert.equal(jobs[0].metadata.labels["flotilla.io/component"], "runner");
    const secret = ofRun("secrets", run.id)[0];
    assert.equal(secret.metadata.ownerReferences[0].kind, "Job", "the per-run Secret is owned by its Job");
  });

  it("runner pod deleted mid-run: Crashed saying so; the deployment's concurrency slot is free again", async () => {
    const run = await start("limited", { n: 1, sleepMs: 120_000 });
    await until(run.id, (r) => r.state === "Running");
    const second = await start("limited", { n: 1, sleepMs: 10 });
    // the limit holds the second run back while the first lives
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await api<FlowRunRecord>("GET", `/api/runs/${second.id}`)).body.state, "Scheduled");
    const pod = runnerOf(run.id);
    await sim
      .kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .deleteNamespacedPod({ name: pod.metadata.name, namespace: NS });
    const crashed = await until(run.id, terminal);
    assert.equal(crashed.state, "Crashed");
    assert.match(crashed.reason ?? "", new RegExp(`runner pod ${pod.metadata.name} was deleted`));
    const next = await until(second.id, terminal);
    assert.equal(next.state, "Success", next.reason);
  });

  it("runner container SIGKILLed: Crashed with the exit code and no final state", async () => {
    const run = await start("quick", { n: 1, sleepMs: 120_000 });
    await until(run.id, (r) => r.state === "Running");
    const pod = runnerOf(run.id).metadata.name;
    const proc = sim.processes().find((p) => p.pod === pod && p.container === "flotilla");
    assert.ok(proc, "the runner process");
    process.kill(proc.pid, "SIGKILL");
    const crashed = await until(run.id, terminal);
    assert.equal(crashed.state, "Crashed");
    assert.match(crashed.reason ?? "", /ended \(exit 137.*\) without a final state/);
  });

  it("an image that cannot be pulled: Crashed with ErrImagePull, the Job removed", async () => {
    const run = await start("unpullable", { n: 1, sleepMs: 10 });
    const crashed = await until(run.id, terminal);
    assert.equal(crashed.state, "Crashed");
    assert.match(crashed.reason ?? "", /ErrImagePull|ImagePullBackOff/);
    assert.match(crashed.reason ?? "", /example\.com\/no-such-image:1/);
    await waitFor("the Job deleted", () => ofRun("jobs", run.id).length === 0);
  });

  it("cancel while Running: Cancelled once the Job and its pods are gone", async () => {
    const run = await start("quick", { n: 1, sleepMs: 120_000 });
    await until(run.id, (r) => r.state === "Running");
    const c = await api("POST", `/api/runs/${run.id}/cancel`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const done = await until(run.id, terminal);
    assert.equal(done.state, "Cancelled", done.reason);
    assert.equal(ofRun("jobs", run.id).length, 0, "the Job is gone");
    await waitFor("the run's pods gone", () => ofRun("pods", run.id).length === 0);
  });

  it("agent restart mid-run: the new agent re-adopts the run, no second Job, Success", async () => {
    const run = await start("quick", { n: 1, sleepMs: 6000 });
    await until(run.id, (r) => r.state === "Running");
    await stopAgent(main);
    main = startAgent("kubernetes", "k8s-main");
    const done = await until(run.id, terminal);
    assert.equal(done.state, "Success", done.reason);
    assert.equal(ofRun("jobs", run.id).length, 1, "one Job");
    assert.equal(
      ofRun("pods", run.id).filter((p) => p.metadata.labels["flotilla.io/component"] === "runner").length,
      1,
      "one runner pod",
    );
  });
});

describe("cancel while the runner pod is Pending", { timeout: 120_000 }, () => {
  it("Cancelled with the Job and its pod gone, the runner never started", async () => {
    await deploy("stuck", "kubernetes-stuck");
    const stuck = startAgent("kubernetes-stuck", "k8s-stuck", { brokerImage: STUCK_BROKER });
    const run = await start("stuck", { n: 1, sleepMs: 10 });
    await until(run.id, (r) => r.state === "Starting");
    await waitFor("the runner pod, Pending", () => runnerOf(run.id)?.status?.phase === "Pending");
    const c = await api("POST", `/api/runs/${run.id}/cancel`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const done = await until(run.id, terminal);
    assert.equal(done.state, "Cancelled", done.reason);
    assert.ok(!(await events(run.id)).includes("Running"), "never Running");
    assert.equal(ofRun("jobs", run.id).length, 0, "the Job is gone");
    await waitFor("the run's pods gone", () => ofRun("pods", run.id).length === 0);
    await stopAgent(stuck);
  });
});
