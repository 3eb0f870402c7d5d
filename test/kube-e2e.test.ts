// End to end on kube-sim, RBAC enforced (launcher and runner hold exactly what `flotilla rbac`
// prints): both seed examples, a private registry, scale-up under load, `runs cancel`, the runner pod deleted, SIGTERM to the runner, a
// runner Role without `create pods`; after each, nothing of the run is left but the finished Job;
// and no password appears anywhere but base64 in Secret data.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { cancelRun } from "../src/cli/commands/runs.ts";
import { createLogger } from "../src/engine/logging.ts";
import { connect, type KubeClients } from "../src/kubernetes/client.ts";
import { isKubeClusterEnvironment, KubeClusterEnvironment } from "../src/kubernetes/environment.ts";
import { buildRbac, PERMISSIONS } from "../src/kubernetes/rbac.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";

const NS = "life";
const IMAGE = "example.com/flotilla-flow:dev";
const MODULE = "test/fixtures/kube-flows/slow.ts";
const REGISTRY_PASSWORD = "reg-pass-7f3e9a1c55";
let sim: KubeSim;
let launcher: KubeClients;
let admin: k8s.KubeConfig;
const captured: string[] = [];
const logger = createLogger({ format: "json", stream: { write: (l: string) => captured.push(l) } });

before(async () => {
  const images = defaultImages(process.cwd());
  sim = await KubeSim.start({
    namespaces: [NS],
    privateRegistries: ["private.example.com"],
    images: { ...images, "gcr.io/dev/dask-k8s-flow:*": images["*flotilla*"]! },
  });
  admin = sim.kubeConfig();
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "launcher" } } });
  for (const o of buildRbac({ namespace: NS, launcherServiceAccount: "launcher" }) as { kind: string }[]) {
    if (o.kind === "ServiceAccount")
      await core.createNamespacedServiceAccount({ namespace: NS, body: o as never });
    if (o.kind === "Role") await rbac.createNamespacedRole({ namespace: NS, body: o as never });
    if (o.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace: NS, body: o as never });
  }
  // a runner identity whose Role lacks `create pods`
  await core.createNamespacedServiceAccount({
    namespace: NS,
    body: { metadata: { name: "limited-runner" } },
  });
  const rules = PERMISSIONS.filter((p) => p.actor === "runner").map((p) => ({
    apiGroups: [p.apiGroup],
    resources: [p.resource],
    verbs: p.verbs.filter((v) => !(p.resource === "pods" && v === "create")),
  }));
  await rbac.createNamespacedRole({ namespace: NS, body: { metadata: { name: "limited" }, rules } });
  await rbac.createNamespacedRoleBinding({
    namespace: NS,
    body: {
      metadata: { name: "limited" },
      subjects: [{ kind: "ServiceAccount", name: "limited-runner", namespace: NS }],
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "limited" },
    },
  });
  launcher = connect({ kubeConfig: (await sim.serviceAccountKubeconfig(NS, "launcher")).kubeConfig });
});
after(() => sim.stop());

const ofRun = (resource: string, runId: string) =>
  sim.objects(resource, NS).filter((o) => o.metadata.labels?.["flotilla.io/flow-run-id"] === runId);
const workersOf = (runId: string) =>
  ofRun("pods", runId).filter((p) => p.metadata.labels["flotilla.io/component"] === "worker");

/** Resolves when `check` holds, re-checked on every store change of `resource`; rejects after timeoutMs. */
async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function launch(parameters: Record<string, unknown>, env?: KubeClusterEnvironment) {
  const flow = selectFlow(await loadFlowModule(MODULE));
  const environment = env ?? flow.environment;
  assert.ok(isKubeClusterEnvironment(environment));
  const handle = await environment.execute(flow, {
    clients: launcher,
    namespace: NS,
    image: IMAGE,
    parameters,
    logger,
  });
  const password = Buffer.from(ofRun("secrets", handle.runId)[0].data.password, "base64").toString();
  passwords.push(password);
  return handle;
}
const passwords: string[] = [];

/** Nothing of the run but its finished Job (kept for its logs until ttlSecondsAfterFinished). */
async function onlyTheJobLeft(runId: string) {
  await until(`worker pods of ${runId} to be deleted`, () => workersOf(runId).length === 0);
}

describe("seed examples", () => {
  test("min/max workers: runs to Success; workers owned by the runner pod; only the finished Job remains", async () => {
    const flow = selectFlow(await loadFlowModule("examples/seed-min-max/flow.ts"));
    assert.ok(isKubeClusterEnvironment(flow.environment));
    const started = Date.now();
    const handle = await flow.environment.execute(flow, {
      clients: launcher,
      namespace: NS,
      image: IMAGE,
    });
    const state = await handle.wait();
    const elapsedMs = Date.now() - started;
    assert.equal(state.type, "Success", state.message);
    console.log(`# seed-min-max on kube-sim: ${elapsedMs} ms to final state`);
    const workers = sim
      .objects("pods", NS)
      .filter((p) => p.metadata.labels?.["flotilla.io/component"] === "worker");
    for (const w of workers) assert.equal(w.metadata.ownerReferences[0].kind, "Pod");
    assert.equal(ofRun("jobs", handle.runId).length, 1, "the finished Job is kept until its TTL");
  });
});

describe("custom worker spec (the seed's YAML verbatim) and failures", () => {
  test("seed custom worker: the spec's image runs, replicas 2 start two workers", async () => {
    const flow = selectFlow(await loadFlowModule("examples/seed-custom-worker/flow.ts"));
    assert.ok(isKubeClusterEnvironment(flow.environment));
    const seen = new Set<string>();
    const timer = setInterval(() => {
      for (const p of sim.objects("pods", NS))
        if (p.metadata.labels?.["flotilla.io/component"] === "worker") seen.add(p.metadata.name);
    }, 20);
    try {
      const handle = await flow.environment.execute(flow, {
        clients: launcher,
        namespace: NS,
      });
      const state = await handle.wait();
      assert.equal(state.type, "Success", state.message);
    } finally {
      clearInterval(timer);
    }
    assert.ok(seen.size >= 2, `expected 2 worker pods, saw ${[...seen].join(", ")}`);
  });

  test("private registry: without the pull Secret the run fails fast on the image pull; with setup it succeeds", async () => {
    const image = "private.example.com/team/flotilla-flow:1";
    const plain = selectFlow(await loadFlowModule("examples/seed-min-max/flow.ts"));
    assert.ok(isKubeClusterEnvironment(plain.environment));
    const started = Date.now();
    const failed = await (
      await plain.environment.execute(plain, { clients: launcher, namespace: NS, image })
    ).wait();
    assert.equal(failed.type, "Failed");
    assert.match(failed.message, /ErrImagePull|ImagePullBackOff/);
    assert.match(failed.message, /privateRegistry: true/);
    assert.ok(Date.now() - started < 15_000, "fails fast, does not hang");

    const env = new KubeClusterEnvironment({ privateRegistry: true, namespace: NS }, process.cwd());
    const readSecret = async () => ({
      "docker-server": "private.example.com",
      "docker-username": "bot",
      "docker-password": REGISTRY_PASSWORD,
      "docker-email": "b@x.io",
    });
    await env.setup(plain, { clients: launcher, readSecret });
    const ok = await (await env.execute(plain, { clients: launcher, image })).wait();
    assert.equal(ok.type, "Success", ok.message);
  });
});

describe("lifecycle", () => {
  test("scale-up to maxWorkers under a backlog; worker pods created in parallel; Success", async () => {
    const handle = await launch({ n: 6, sleepMs: 1500 });
    let max = 0;
    const created: number[] = [];
    const timer = setInterval(() => {
      const w = workersOf(handle.runId);
      max = Math.max(max, w.length);
      for (const p of w) {
        const t = Date.parse(p.metadata.creationTimestamp);
        if (!created.includes(t)) created.push(t);
      }
    }, 20);
    const state = await handle.wait().finally(() => clearInterval(timer));
    assert.equal(state.type, "Success", state.message);
    assert.equal(max, 3, "scaled up to maxWorkers");
    await onlyTheJobLeft(handle.runId);
    assert.equal(ofRun("jobs", handle.runId).length, 1);
  });

  test("runs cancel: the Job and everything it owns are deleted", async () => {
    const handle = await launch({ n: 2, sleepMs: 60_000 });
    await until("a running worker", () => workersOf(handle.runId).some((p) => p.status?.phase === "Running"));
    await cancelRun(handle.runId, { clients: launcher, namespace: NS });
    await until("nothing of the run left", () =>
      ["pods", "secrets", "jobs"].every((r) => ofRun(r, handle.runId).length === 0),
    );
    const state = await handle.wait();
    assert.equal(state.type, "Failed");
  });

  test("the runner pod deleted: every worker pod is garbage-collected", async () => {
    const handle = await launch({ n: 2, sleepMs: 60_000 });
    await until("a running worker", () => workersOf(handle.runId).some((p) => p.status?.phase === "Running"));
    const runner = ofRun("pods", handle.runId).find(
      (p) => p.metadata.labels["flotilla.io/component"] === "runner",
    );
    await admin
      .makeApiClient(k8s.CoreV1Api)
      .deleteNamespacedPod({ name: runner.metadata.name, namespace: NS, gracePeriodSeconds: 0 });
    await onlyTheJobLeft(handle.runId);
    await handle.cancel();
  });

  test("SIGTERM to the runner: workers retired and deleted, the run ends Failed", async () => {
    const handle = await launch({ n: 2, sleepMs: 60_000 });
    await until("a running worker", () => workersOf(handle.runId).some((p) => p.status?.phase === "Running"));
    const runner = ofRun("pods", handle.runId).find(
      (p) => p.metadata.labels["flotilla.io/component"] === "runner",
    );
    const proc = sim.processes().find((p) => p.pod === runner.metadata.name && p.container === "flotilla");
    assert.ok(proc, "the runner process");
    process.kill(proc.pid, "SIGTERM");
    const state = await handle.wait();
    assert.equal(state.type, "Failed");
    await onlyTheJobLeft(handle.runId);
  });

  test("a runner Role without `create pods`: the run fails naming the permission", async () => {
    const env = new KubeClusterEnvironment(
      { minWorkers: 1, maxWorkers: 1, serviceAccountName: "limited-runner" },
      process.cwd(),
    );
    const handle = await launch({ n: 1, sleepMs: 10 }, env);
    const state = await handle.wait();
    assert.equal(state.type, "Failed");
    assert.match(
      JSON.stringify(state),
      /missing permission \\"create\\" on \\"pods\\"|missing permission "create" on "pods"/,
    );
  });

  test("no leaks: broker passwords appear nowhere but base64 in Secret data", async () => {
    assert.ok(passwords.length >= 4);
    const haystacks: string[] = [captured.join("\n")];
    for (const r of ["pods", "jobs", "events", "configmaps"])
      haystacks.push(JSON.stringify(sim.objects(r, NS)));
    const core = admin.makeApiClient(k8s.CoreV1Api);
    for (const p of sim.objects("pods", NS)) {
      for (const c of ["flotilla", "broker"]) {
        haystacks.push(
          await core
            .readNamespacedPodLog({ name: p.metadata.name, namespace: NS, container: c })
            .catch(() => ""),
        );
      }
    }
    const all = haystacks.join("\n");
    for (const pw of passwords) assert.ok(!all.includes(pw), "a broker password leaked");
    assert.ok(!all.includes(REGISTRY_PASSWORD), "the registry password leaked");
    for (const pod of sim.objects("pods", NS)) {
      for (const c of pod.spec.containers) {
        const env = (c.env ?? []).find((e: { name: string }) => e.name === "FLOTILLA_BROKER_PASSWORD");
        if (env) assert.ok(env.valueFrom?.secretKeyRef && env.value === undefined);
      }
    }
  });
});
