// On kube-sim with RBAC enforced: `flotilla rbac` objects applied, `flotilla doctor` naming each
// missing permission, the private-registry setup step, and the launcher (Secret owned by the Job,
// fail fast on a runner image that cannot be pulled, cancel leaves nothing), `flotilla runs get`
// naming why a detached run's runner pod cannot start.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { doctor } from "../src/cli/commands/doctor.ts";
import { FlotillaError } from "../src/core/errors.ts";
import { Flow } from "../src/core/flow.ts";
import { task } from "../src/core/task.ts";
import { connect } from "../src/kubernetes/client.ts";
import { KubeClusterEnvironment } from "../src/kubernetes/environment.ts";
import { PodWatch } from "../src/kubernetes/pod-watch.ts";
import { ensurePullSecret } from "../src/kubernetes/pull-secret.ts";
import { buildRbac } from "../src/kubernetes/rbac.ts";
import { cancelRun, getRun } from "../src/kubernetes/runs.ts";
import { scrub } from "../src/secrets/redact.ts";
import { KubeSim } from "../src/testing/index.ts";

const NS = "team";
const PASSWORD = "s3cr3t-registry-pass-9911";
const creds = {
  "docker-server": "registry.example.com",
  "docker-username": "bot",
  "docker-password": PASSWORD,
  "docker-email": "bot@example.com",
};
let sim: KubeSim;

async function applyRbac(kc: k8s.KubeConfig, launcherSa: string) {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: launcherSa } } });
  for (const o of buildRbac({ namespace: NS, launcherServiceAccount: launcherSa }) as { kind: string }[]) {
    if (o.kind === "ServiceAccount")
      await core.createNamespacedServiceAccount({ namespace: NS, body: o as never });
    if (o.kind === "Role") await rbac.createNamespacedRole({ namespace: NS, body: o as never });
    if (o.kind === "RoleBinding") await rbac.createNamespacedRoleBinding({ namespace: NS, body: o as never });
  }
}

before(async () => {
  sim = await KubeSim.start({ namespaces: [NS] });
  await applyRbac(sim.kubeConfig(), "launcher");
  await sim
    .kubeConfig()
    .makeApiClient(k8s.CoreV1Api)
    .createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "nobody" } } });
});
after(() => sim.stop());

describe("doctor", () => {
  test("the launcher identity bound to the printed Role has every permission", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, "launcher");
    const r = await doctor({ namespace: NS, clients: connect({ kubeConfig }) });
    assert.deepEqual(r.missing, []);
    assert.ok(r.checks.some((c) => c.permission === "get pods/log"));
  });

  test("the runner's service account has the runner's permissions", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, "flotilla-runner");
    const r = await doctor({ namespace: NS, asRunner: true, clients: connect({ kubeConfig }) });
    assert.deepEqual(r.missing, []);
  });

  test("an identity without the Role: each missing permission named, fix = flotilla rbac", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, "nobody");
    await assert.rejects(doctor({ namespace: NS, clients: connect({ kubeConfig }) }), (e: unknown) => {
      assert.ok(e instanceof FlotillaError);
      assert.match(e.message, /create jobs\.batch/);
      assert.match(e.message, /get pods\/log/);
      assert.match(e.hint ?? "", /flotilla rbac -n team/);
      return true;
    });
  });
});

describe("private registry setup", () => {
  test("creates the dockerconfigjson Secret once, then finds it (idempotent)", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, "launcher");
    const clients = connect({ kubeConfig });
    assert.equal(
      await ensurePullSecret(clients, NS, "DOCKER_REGISTRY_CREDENTIALS", async () => creds),
      "created",
    );
    assert.equal(
      await ensurePullSecret(clients, NS, "DOCKER_REGISTRY_CREDENTIALS", async () => creds),
      "exists",
    );
    const s = sim.objects("secrets", NS).find((o) => o.metadata.name === "docker-registry-credentials");
    assert.equal(s.type, "kubernetes.io/dockerconfigjson");
    const cfg = JSON.parse(Buffer.from(s.data[".dockerconfigjson"], "base64").toString());
    assert.equal(cfg.auths["registry.example.com"].auth, Buffer.from(`bot:${PASSWORD}`).toString("base64"));
    assert.equal(scrub(`x ${PASSWORD} y`), "x [redacted] y", "the password is registered with the scrubber");
  });

  test("missing keys: error names the secret and keys; nothing created", async () => {
    const clients = connect({ kubeConfig: sim.kubeConfig() });
    await assert.rejects(
      ensurePullSecret(clients, NS, "OTHER_CREDS", async () => ({
        "docker-server": "r.io",
        "docker-password": "pw-abcdef",
      })),
      (e: unknown) =>
        e instanceof FlotillaError &&
        /secret "OTHER_CREDS" is not registry credentials: docker-username missing/.test(e.message) &&
        !e.message.includes("pw-abcdef"),
    );
    assert.equal(sim.objects("secrets", NS).filter((o) => o.metadata.name === "other-creds").length, 0);
  });

  test("an identity without secrets permission gets a 403 naming it and the fix", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, "nobody");
    await assert.rejects(
      ensurePullSecret(connect({ kubeConfig }), NS, "X_CREDS", async () => creds),
      (e: unknown) => {
        assert.ok(e instanceof FlotillaError);
        assert.match(
          e.message,
          /get secrets "x-creds" in namespace "team" is forbidden \(403\): missing permission "get" on "secrets"/,
        );
        assert.match(e.hint ?? "", /flotilla rbac/);
        return true;
      },
    );
  });
});

describe("launcher", () => {
  const say = task("say", async () => "hi");
  const flow = new Flow("launch-test");
  flow.addTask(say);
  flow.modulePath = `${process.cwd()}/examples/seed-min-max/flow.ts`;

  test("a runner image that cannot be pulled fails the run fast with the reason and events; nothing left", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, "launcher");
    const env = new KubeClusterEnvironment({ image: "registry.invalid/nope:1", namespace: NS });
    const handle = await env.execute(flow, { clients: connect({ kubeConfig }) });
    const secret = sim
      .objects("secrets", NS)
      .find((o) => o.metadata.labels?.["flotilla.io/flow-run-id"] === handle.runId);
    const job = sim
      .objects("jobs", NS)
      .find((o) => o.metadata.labels?.["flotilla.io/flow-run-id"] === handle.runId);
    assert.equal(
      secret.metadata.ownerReferences[0].uid,
      job.metadata.uid,
      "the broker Secret is owned by the Job",
    );
    const started = Date.now();
    const state = await handle.wait();
    assert.equal(state.type, "Failed");
    assert.match(state.message, /ErrImagePull|ImagePullBackOff/);
    assert.ok(Date.now() - started < 15_000);
    await sim.waitFor("jobs", NS, job.metadata.name, (o) => o === undefined, 10_000);
    await sim.waitFor("secrets", NS, secret.metadata.name, (o) => o === undefined, 10_000);
  });
});

/** Wait (by watch, within `timeoutMs`) until the pods of run `runId` satisfy `ok`. */
async function untilPods(runId: string, ok: (pods: k8s.V1Pod[]) => boolean, timeoutMs: number) {
  const watch = new PodWatch({
    clients: connect({ kubeConfig: sim.kubeConfig() }),
    namespace: NS,
    labelSelector: `flotilla.io/flow-run-id=${runId}`,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    await watch.ready;
    let seen = -1;
    while (!ok(watch.pods())) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `pods of run ${runId} not as expected after ${timeoutMs} ms: ${JSON.stringify(watch.pods().map((p) => p.status))}`,
        );
      await watch.changed(seen, left);
      seen = watch.version;
    }
  } finally {
    watch.stop();
  }
}

describe("runs", () => {
  test("runs get on a detached run whose runner image cannot be pulled: Stuck, with the reason; cancel leaves nothing", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, "launcher");
    const clients = connect({ kubeConfig });
    const env = new KubeClusterEnvironment({ image: "registry.invalid/detached:1", namespace: NS });
    const say = task("say", async () => "hi");
    const flow = new Flow("detached-test");
    flow.addTask(say);
    flow.modulePath = `${process.cwd()}/examples/seed-min-max/flow.ts`;
    const handle = await env.execute(flow, { clients }); // not followed: nothing fails it fast
    const pullFailed = (pods: k8s.V1Pod[]) =>
      pods.some((p) =>
        [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].some((c) =>
          /ErrImagePull|ImagePullBackOff/.test(c.state?.waiting?.reason ?? ""),
        ),
      );
    await untilPods(handle.runId, pullFailed, 15_000);
    const info = await getRun(handle.runId, { namespace: NS, clients });
    assert.equal(info.status, "Stuck");
    assert.match(
      info.message ?? "",
      /runner pod \S+: (ErrImagePull|ImagePullBackOff): container "(broker|flotilla)" \((redis:|registry\.invalid\/detached:1)/,
    );
    assert.ok(info.message?.includes(`flotilla runs cancel ${handle.runId}`), info.message);
    await cancelRun(handle.runId, { namespace: NS, clients });
    await untilPods(handle.runId, (pods) => pods.length === 0, 10_000);
    const left = ["jobs", "secrets"].flatMap((r) =>
      sim.objects(r, NS).filter((o) => o.metadata.labels?.["flotilla.io/flow-run-id"] === handle.runId),
    );
    assert.deepEqual(left, [], "no Job or Secret of the run remains");
  });
});
