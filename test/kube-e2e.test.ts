// End to end on kube-sim with RBAC enforced: the launcher and the runner pod hold exactly what
// `flotilla rbac` prints. The seed's examples run to their final state; worker pods are owned by
// the runner pod; nothing of the run is left but the finished Job; no secret leaks.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { connect } from "../src/kubernetes/client.ts";
import { isKubeClusterEnvironment, KubeClusterEnvironment } from "../src/kubernetes/environment.ts";
import { buildRbac } from "../src/kubernetes/rbac.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";

const NS = "e2e";
const IMAGE = "example.com/flotilla-flow:dev";
const REGISTRY_PASSWORD = "reg-pass-7f3e9a1c55";
let sim: KubeSim;
let launcher: ReturnType<typeof connect>;

before(async () => {
  const images = defaultImages(process.cwd());
  sim = await KubeSim.start({
    namespaces: [NS],
    privateRegistries: ["private.example.com"],
    images: { ...images, "gcr.io/dev/dask-k8s-flow:*": images["*flotilla*"]! },
  });
  const kc = sim.kubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "launcher" } } });
  for (const o of buildRbac({ namespace: NS, launcherServiceAccount: "launcher" }) as { kind: string }[]) {
    if (o.kind === "ServiceAccount")
      await core.createNamespacedServiceAccount({ namespace: NS, body: o as never });
    if (o.kind === "Role") await rbac.createNamespacedRole({ namespace: NS, body: o as never });
    if (o.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace: NS, body: o as never });
  }
  launcher = connect({ kubeConfig: (await sim.serviceAccountKubeconfig(NS, "launcher")).kubeConfig });
});
after(() => sim.stop());

const ofRun = (resource: string, runId: string) =>
  sim.objects(resource, NS).filter((o) => o.metadata.labels?.["flotilla.io/flow-run-id"] === runId);

describe("seed examples", () => {
  test("min/max workers: runs to Success; workers owned by the runner pod; only the finished Job remains", async () => {
    const flow = selectFlow(await loadFlowModule("examples/seed-min-max/flow.ts"));
    assert.ok(isKubeClusterEnvironment(flow.environment));
    const started = Date.now();
    const handle = await flow.environment.execute(flow, {
      clients: launcher,
      namespace: NS,
      image: IMAGE,
      pollIntervalMs: 100,
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
        pollIntervalMs: 100,
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
      await plain.environment.execute(plain, { clients: launcher, namespace: NS, image, pollIntervalMs: 100 })
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
    const ok = await (await env.execute(plain, { clients: launcher, image, pollIntervalMs: 100 })).wait();
    assert.equal(ok.type, "Success", ok.message);
  });
});
