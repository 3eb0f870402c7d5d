// kube-sim controllers and kubelet: Jobs, garbage collection, scheduling, image pulls, processes.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { buildBrokerSecret, buildRunnerJob } from "../src/kubernetes/manifests.ts";
import { compileOptions } from "../src/kubernetes/options.ts";
import { KubeSim } from "../src/testing/index.ts";
import { apiError, groupAlive, shPod, TEST_IMAGES } from "./helpers/kube-sim.ts";

let sim: KubeSim;
let core: k8s.CoreV1Api;
let batch: k8s.BatchV1Api;
const scratch = mkdtempSync(join(tmpdir(), "kube-sim-test-"));

before(async () => {
  sim = await KubeSim.start({
    images: { ...TEST_IMAGES, "redis:*": { entrypoint: ["redis-server"] } },
    privateRegistries: ["registry.example.com"],
    capacity: { cpu: "4", memory: "8Gi" },
  });
  core = sim.kubeConfig().makeApiClient(k8s.CoreV1Api);
  batch = sim.kubeConfig().makeApiClient(k8s.BatchV1Api);
});
after(async () => {
  await sim.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const job = (name: string, script: string, spec: Partial<k8s.V1JobSpec> = {}): k8s.V1Job => ({
  metadata: { name },
  spec: {
    template: {
      spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox:1", args: [script] }] },
    },
    ...spec,
  },
});
const condTypes = (j: k8s.V1Job | undefined) =>
  (j?.status?.conditions ?? []).map((c) => `${c.type}:${c.reason}`);
const reasons = (ns: string, name: string) =>
  sim
    .objects("events", ns)
    .filter((e) => e.involvedObject.name === name)
    .map((e) => e.reason);

describe("Job controller", () => {
  test("a Job completes: labels, ownerReference, status and conditions as 1.32", async () => {
    const created = await batch.createNamespacedJob({ namespace: "default", body: job("ok", "echo done") });
    assert.equal(created.spec?.template.metadata?.labels?.["job-name"], "ok");
    assert.equal(
      created.spec?.selector?.matchLabels?.["batch.kubernetes.io/controller-uid"],
      created.metadata?.uid,
    );
    const done = await sim.waitFor("jobs", "default", "ok", (j) => j?.status?.completionTime !== undefined);
    assert.deepEqual(condTypes(done), [
      "SuccessCriteriaMet:CompletionsReached",
      "Complete:CompletionsReached",
    ]);
    assert.equal(done.status.succeeded, 1);
    assert.equal(done.status.active, undefined);
    const [pod] = sim.objects("pods", "default").filter((p) => p.metadata.labels?.["job-name"] === "ok");
    assert.match(pod.metadata.name, /^ok-[a-z0-9]{5}$/);
    assert.deepEqual(pod.metadata.ownerReferences, [
      {
        apiVersion: "batch/v1",
        kind: "Job",
        name: "ok",
        uid: created.metadata?.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(pod.metadata.labels["batch.kubernetes.io/job-name"], "ok");
    assert.ok(reasons("default", "ok").includes("SuccessfulCreate"));
    assert.ok(reasons("default", "ok").includes("Completed"));
  });

  test("backoffLimit: failures beyond it fail the Job with BackoffLimitExceeded", async () => {
    await batch.createNamespacedJob({
      namespace: "default",
      body: job("fails", "exit 3", { backoffLimit: 1 }),
    });
    const failed = await sim.waitFor("jobs", "default", "fails", (j) =>
      condTypes(j).includes("Failed:BackoffLimitExceeded"),
    );
    assert.deepEqual(condTypes(failed), [
      "FailureTarget:BackoffLimitExceeded",
      "Failed:BackoffLimitExceeded",
    ]);
    assert.equal(failed.status.failed, 2);
    const pods = sim.objects("pods", "default").filter((p) => p.metadata.labels?.["job-name"] === "fails");
    assert.equal(pods.length, 2);
    assert.equal(pods[0].status.containerStatuses[0].state.terminated.exitCode, 3);
    assert.equal(pods[0].status.containerStatuses[0].state.terminated.reason, "Error");
  });

  test("activeDeadlineSeconds kills pods and fails with DeadlineExceeded", async () => {
    await batch.createNamespacedJob({
      namespace: "default",
      body: job("slow", "sleep 30", { activeDeadlineSeconds: 1 }),
    });
    const failed = await sim.waitFor(
      "jobs",
      "default",
      "slow",
      (j) => condTypes(j).includes("Failed:DeadlineExceeded"),
      10_000,
    );
    assert.equal(failed.status.conditions[1].message, "Job was active longer than specified deadline");
    assert.equal(sim.processes().filter((p) => p.pod.startsWith("slow-")).length, 0);
  });

  test("ttlSecondsAfterFinished deletes the Job and (Background) its pods", async () => {
    await batch.createNamespacedJob({
      namespace: "default",
      body: job("ttl", "true", { ttlSecondsAfterFinished: 0 }),
    });
    await sim.waitFor("jobs", "default", "ttl", (j) => j === undefined);
    const start = Date.now();
    while (sim.objects("pods", "default").some((p) => p.metadata.labels?.["job-name"] === "ttl")) {
      assert.ok(Date.now() - start < 5000, "pods of the TTL'd job were not collected");
      await new Promise((r) => setImmediate(r));
    }
  });

  test("parallelism and completions", async () => {
    await batch.createNamespacedJob({
      namespace: "default",
      body: job("par", "true", { parallelism: 2, completions: 3 }),
    });
    const done = await sim.waitFor(
      "jobs",
      "default",
      "par",
      (j) => j?.status?.succeeded === 3 && j.status.completionTime,
    );
    assert.ok(done);
  });

  describe("podReplacementPolicy (Kubernetes 1.29+)", () => {
    // a pod that ignores SIGTERM, so it stays Terminating until SIGKILL at its 2 s grace deadline
    const stubborn = (name: string, spec: Partial<k8s.V1JobSpec>) => {
      const j = job(name, "trap '' TERM; sleep 60 & wait", spec);
      j.spec!.template.spec!.terminationGracePeriodSeconds = 2;
      return j;
    };
    const podsOf = (name: string) =>
      sim.objects("pods", "default").filter((p) => p.metadata.labels?.["job-name"] === name);
    const runningPod = async (name: string) => {
      await sim.waitFor("jobs", "default", name, (j) => j?.status?.ready === 1);
      const [pod] = podsOf(name);
      await sim.waitFor("pods", "default", pod.metadata.name, (p) => p?.status?.phase === "Running");
      return pod.metadata.name as string;
    };

    test("Failed, backoffLimit 0: a deleted pod is not replaced; once it has terminated the Job fails with BackoffLimitExceeded", async () => {
      await batch.createNamespacedJob({
        namespace: "default",
        body: stubborn("prp-once", { backoffLimit: 0, podReplacementPolicy: "Failed" }),
      });
      const first = await runningPod("prp-once");
      await core.deleteNamespacedPod({ namespace: "default", name: first });
      const terminating = await sim.waitFor(
        "jobs",
        "default",
        "prp-once",
        (j) => j?.status?.terminating === 1,
      );
      assert.equal(terminating.status.failed, undefined, "a terminating pod is not yet a failure");
      assert.deepEqual(condTypes(terminating), []);
      assert.equal(podsOf("prp-once").length, 1, "no replacement while the old pod terminates");
      const failed = await sim.waitFor("jobs", "default", "prp-once", (j) =>
        condTypes(j).includes("Failed:BackoffLimitExceeded"),
      );
      assert.deepEqual(condTypes(failed), [
        "FailureTarget:BackoffLimitExceeded",
        "Failed:BackoffLimitExceeded",
      ]);
      assert.equal(failed.status.failed, 1);
      assert.equal(failed.status.conditions[1].message, "Job has reached the specified backoff limit");
      assert.equal(reasons("default", "prp-once").filter((r) => r === "SuccessfulCreate").length, 1);
    });

    test("TerminatingOrFailed (the default), backoffLimit 0: a deleted pod is a failure at once (FailureTarget while it terminates)", async () => {
      await batch.createNamespacedJob({
        namespace: "default",
        body: stubborn("prp-default", { backoffLimit: 0 }),
      });
      const first = await runningPod("prp-default");
      await core.deleteNamespacedPod({ namespace: "default", name: first });
      const target = await sim.waitFor("jobs", "default", "prp-default", (j) =>
        condTypes(j).includes("FailureTarget:BackoffLimitExceeded"),
      );
      assert.equal(target.status.failed, 1);
      assert.ok(!condTypes(target).includes("Failed:BackoffLimitExceeded"), "Failed waits for the pod to go");
      await sim.waitFor("jobs", "default", "prp-default", (j) =>
        condTypes(j).includes("Failed:BackoffLimitExceeded"),
      );
      assert.equal(reasons("default", "prp-default").filter((r) => r === "SuccessfulCreate").length, 1);
    });

    test("backoffLimit 1: TerminatingOrFailed replaces a terminating pod at once, Failed only after it has terminated", async () => {
      await batch.createNamespacedJob({
        namespace: "default",
        body: stubborn("prp-now", { backoffLimit: 1, podReplacementPolicy: "TerminatingOrFailed" }),
      });
      const a = await runningPod("prp-now");
      await core.deleteNamespacedPod({ namespace: "default", name: a });
      await sim.waitFor(
        "jobs",
        "default",
        "prp-now",
        (j) => j?.status?.active === 1 && j.status.terminating === 1,
      );
      assert.equal(podsOf("prp-now").length, 2, "old and new pod side by side");

      await batch.createNamespacedJob({
        namespace: "default",
        body: stubborn("prp-later", { backoffLimit: 1, podReplacementPolicy: "Failed" }),
      });
      const b = await runningPod("prp-later");
      await core.deleteNamespacedPod({ namespace: "default", name: b });
      await sim.waitFor("jobs", "default", "prp-later", (j) => j?.status?.terminating === 1);
      assert.equal(podsOf("prp-later").length, 1);
      const replaced = await sim.waitFor(
        "jobs",
        "default",
        "prp-later",
        (j) => j?.status?.active === 1 && j.status.failed === 1,
      );
      assert.equal(replaced.status.terminating, 0);
      assert.ok(!podsOf("prp-later").some((p) => p.metadata.name === b && p.status?.phase === "Running"));
      for (const name of ["prp-now", "prp-later"])
        await batch.deleteNamespacedJob({
          namespace: "default",
          name,
          propagationPolicy: "Background",
          gracePeriodSeconds: 0,
        });
    });
  });

  test("a template restartPolicy Always is 422", async () => {
    const bad = job("bad", "true");
    bad.spec!.template.spec!.restartPolicy = "Always";
    const err = await apiError(() => batch.createNamespacedJob({ namespace: "default", body: bad }));
    assert.equal(err.code, 422);
    assert.equal(err.details?.causes?.[0]?.field, "spec.template.spec.restartPolicy");
  });
});

describe("garbage collection", () => {
  const owned = async (owner: k8s.V1ConfigMap, name: string) =>
    core.createNamespacedConfigMap({
      namespace: "default",
      body: {
        metadata: {
          name,
          ownerReferences: [
            {
              apiVersion: "v1",
              kind: "ConfigMap",
              name: owner.metadata!.name!,
              uid: owner.metadata!.uid!,
              blockOwnerDeletion: true,
            },
          ],
        },
      },
    });

  test("Background deletes dependents after the owner", async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "bg-owner" } },
    });
    await owned(owner, "bg-dep");
    await core.deleteNamespacedConfigMap({
      name: "bg-owner",
      namespace: "default",
      propagationPolicy: "Background",
    });
    await sim.waitFor("configmaps", "default", "bg-dep", (o) => o === undefined);
  });

  test("Foreground keeps the owner with a foregroundDeletion finalizer until dependents are gone", async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "fg-owner" } },
    });
    await owned(owner, "fg-dep");
    // client-node types this response as V1Status; read the raw body
    const res = await fetch(`${sim.url}/api/v1/namespaces/default/configmaps/fg-owner`, {
      method: "DELETE",
      headers: {
        Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ propagationPolicy: "Foreground" }),
    });
    const obj = (await res.json()) as k8s.V1ConfigMap;
    assert.equal(obj.kind, "ConfigMap");
    assert.ok(obj.metadata?.deletionTimestamp);
    assert.deepEqual(obj.metadata?.finalizers, ["foregroundDeletion"]);
    await sim.waitFor("configmaps", "default", "fg-dep", (o) => o === undefined);
    await sim.waitFor("configmaps", "default", "fg-owner", (o) => o === undefined);
  });

  test("Orphan strips ownerReferences; a Job deleted without a policy orphans its pods (legacy default)", async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "or-owner" } },
    });
    await owned(owner, "or-dep");
    await core.deleteNamespacedConfigMap({
      name: "or-owner",
      namespace: "default",
      propagationPolicy: "Orphan",
    });
    const dep = await sim.waitFor(
      "configmaps",
      "default",
      "or-dep",
      (o) => o?.metadata.ownerReferences === undefined,
    );
    assert.ok(dep);
    await sim.waitFor("configmaps", "default", "or-owner", (o) => o === undefined);

    await batch.createNamespacedJob({ namespace: "default", body: job("orphaner", "sleep 30") });
    const pod = await new Promise<string>((resolve) => {
      const find = () =>
        sim.objects("pods", "default").find((p) => p.metadata.labels?.["job-name"] === "orphaner");
      const t = setInterval(() => {
        const p = find();
        if (p) {
          clearInterval(t);
          resolve(p.metadata.name);
        }
      }, 10);
    });
    await batch.deleteNamespacedJob({ name: "orphaner", namespace: "default" });
    await sim.waitFor("jobs", "default", "orphaner", (o) => o === undefined);
    const orphan = await sim.waitFor(
      "pods",
      "default",
      pod,
      (p) => p?.metadata.ownerReferences === undefined,
    );
    assert.equal(orphan.metadata.deletionTimestamp, undefined);
    await core.deleteNamespacedPod({ name: pod, namespace: "default", gracePeriodSeconds: 0 });
  });
});

describe("scheduling and images", () => {
  test("a pod that does not fit stays Pending with FailedScheduling, then schedules when room frees", async () => {
    const big = (name: string, cpu: string): k8s.V1Pod => ({
      metadata: { name },
      spec: {
        restartPolicy: "Never",
        containers: [
          { name: "main", image: "busybox:1", args: ["sleep 30"], resources: { requests: { cpu } } },
        ],
      },
    });
    await core.createNamespacedPod({ namespace: "default", body: big("hog", "3") });
    await sim.waitFor("pods", "default", "hog", (p) => p?.status?.phase === "Running");
    await core.createNamespacedPod({ namespace: "default", body: big("waiter", "2") });
    const pending = await sim.waitFor("pods", "default", "waiter", (p) =>
      (p?.status?.conditions ?? []).some((c: k8s.V1PodCondition) => c.reason === "Unschedulable"),
    );
    const cond = pending.status.conditions.find((c: k8s.V1PodCondition) => c.type === "PodScheduled");
    assert.equal(cond.status, "False");
    assert.match(cond.message, /^0\/1 nodes are available: 1 Insufficient cpu\./);
    assert.ok(reasons("default", "waiter").includes("FailedScheduling"));
    await core.deleteNamespacedPod({ name: "hog", namespace: "default", gracePeriodSeconds: 0 });
    const scheduled = await sim.waitFor(
      "pods",
      "default",
      "waiter",
      (p) => p?.spec?.nodeName === "kube-sim-node",
    );
    assert.ok(scheduled);
    await core.deleteNamespacedPod({ name: "waiter", namespace: "default", gracePeriodSeconds: 0 });
  });

  test("a pod whose nodeSelector or required node affinity the node does not match stays Pending, and schedules once the node is labelled", async () => {
    const pod = (name: string, spec: Partial<k8s.V1PodSpec>): k8s.V1Pod => ({
      metadata: { name },
      spec: {
        restartPolicy: "Never",
        containers: [{ name: "main", image: "busybox:1", args: ["sleep 30"] }],
        ...spec,
      },
    });
    await core.createNamespacedPod({
      namespace: "default",
      body: pod("gpu-pool", { nodeSelector: { pool: "gpu" } }),
    });
    const pending = await sim.waitFor("pods", "default", "gpu-pool", (p) =>
      (p?.status?.conditions ?? []).some((c: k8s.V1PodCondition) => c.reason === "Unschedulable"),
    );
    const cond = pending.status.conditions.find((c: k8s.V1PodCondition) => c.type === "PodScheduled");
    assert.equal(
      cond.message,
      "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
    );
    assert.ok(reasons("default", "gpu-pool").includes("FailedScheduling"));
    // the node's own labels satisfy a required affinity term (In on kubernetes.io/os)
    await core.createNamespacedPod({
      namespace: "default",
      body: pod("linux-only", {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: "kubernetes.io/os", operator: "In", values: ["linux"] }] },
              ],
            },
          },
        },
      }),
    });
    await sim.waitFor("pods", "default", "linux-only", (p) => p?.spec?.nodeName === "kube-sim-node");
    // `kubectl label node kube-sim-node pool=gpu`: the waiting pod is bound
    await core.patchNode(
      {
        name: "kube-sim-node",
        body: { metadata: { labels: { pool: "gpu" } } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await sim.waitFor("pods", "default", "gpu-pool", (p) => p?.spec?.nodeName === "kube-sim-node");
    await core.patchNode(
      {
        name: "kube-sim-node",
        body: { metadata: { labels: { pool: null } } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    for (const name of ["gpu-pool", "linux-only"])
      await core.deleteNamespacedPod({ name, namespace: "default", gracePeriodSeconds: 0 });
  });

  test("an unknown image goes ErrImagePull → ImagePullBackOff with Failed and BackOff events", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "noimg" }, spec: { containers: [{ name: "c", image: "nope:1" }] } },
    });
    const p = await sim.waitFor(
      "pods",
      "default",
      "noimg",
      (x) => x?.status?.containerStatuses?.[0]?.state?.waiting?.reason === "ImagePullBackOff",
    );
    assert.equal(p.status.phase, "Pending");
    const events = sim.objects("events", "default").filter((e) => e.involvedObject.name === "noimg");
    assert.ok(
      events.some((e) => e.reason === "Failed" && e.message.startsWith('Failed to pull image "nope:1"')),
    );
    assert.ok(events.some((e) => e.reason === "BackOff" && e.message === 'Back-off pulling image "nope:1"'));
    await core.deleteNamespacedPod({ name: "noimg", namespace: "default" });
  });

  test("a private-registry image needs a matching dockerconfigjson pull secret", async () => {
    const image = "registry.example.com/private/app:1";
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "nosecret" },
        spec: { restartPolicy: "Never", containers: [{ name: "c", image, args: ["true"] }] },
      },
    });
    await sim.waitFor(
      "pods",
      "default",
      "nosecret",
      (x) => x?.status?.containerStatuses?.[0]?.state?.waiting?.reason === "ErrImagePull",
    );
    const auth = {
      auths: {
        "registry.example.com": { username: "u", password: "p", auth: Buffer.from("u:p").toString("base64") },
      },
    };
    await core.createNamespacedSecret({
      namespace: "default",
      body: {
        metadata: { name: "regcred" },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(JSON.stringify(auth)).toString("base64") },
      },
    });
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "withsecret" },
        spec: {
          restartPolicy: "Never",
          imagePullSecrets: [{ name: "regcred" }],
          containers: [{ name: "c", image, args: ["true"] }],
        },
      },
    });
    await sim.waitFor("pods", "default", "withsecret", (x) => x?.status?.phase === "Succeeded");
    await core.deleteNamespacedPod({ name: "nosecret", namespace: "default" });
  });
});

describe("kubelet", () => {
  test("pod IPs are unique loopback addresses; status fields clients read are set", async () => {
    await core.createNamespacedPod({ namespace: "default", body: shPod("ip1", "sleep 30") });
    await core.createNamespacedPod({ namespace: "default", body: shPod("ip2", "sleep 30") });
    const a = await sim.waitFor("pods", "default", "ip1", (p) => p?.status?.phase === "Running");
    const b = await sim.waitFor("pods", "default", "ip2", (p) => p?.status?.phase === "Running");
    assert.match(a.status.podIP, /^127\.\d+\.\d+\.\d+$/);
    assert.notEqual(a.status.podIP, "127.0.0.1");
    assert.notEqual(a.status.podIP, b.status.podIP);
    assert.equal(a.status.hostIP, "127.0.0.1");
    assert.equal(a.status.qosClass, "BestEffort");
    const cs = a.status.containerStatuses[0];
    assert.ok(cs.state.running.startedAt);
    assert.equal(cs.ready, true);
    assert.match(cs.containerID, /^containerd:\/\//);
    for (const n of ["ip1", "ip2"])
      await core.deleteNamespacedPod({ name: n, namespace: "default", gracePeriodSeconds: 0 });
  });

  test("SIGTERM grace: a trapping container finishes its handler; an ignoring one is SIGKILLed at the deadline", async () => {
    const marker = join(scratch, "trapped");
    await core.createNamespacedPod({
      namespace: "default",
      body: shPod("trapper", `trap 'echo bye > ${marker}; exit 0' TERM; while true; do sleep 0.05; done`, {
        terminationGracePeriodSeconds: 10,
      }),
    });
    await core.createNamespacedPod({
      namespace: "default",
      body: shPod("stubborn", "trap '' TERM; while true; do sleep 0.05; done", {
        terminationGracePeriodSeconds: 1,
      }),
    });
    await sim.waitFor("pods", "default", "trapper", (p) => p?.status?.phase === "Running");
    await sim.waitFor("pods", "default", "stubborn", (p) => p?.status?.phase === "Running");
    const deleted = (await core.deleteNamespacedPod({ name: "trapper", namespace: "default" })) as k8s.V1Pod;
    assert.equal(deleted.metadata?.deletionGracePeriodSeconds, 10);
    await sim.waitFor("pods", "default", "trapper", (p) => p === undefined);
    assert.equal(readFileSync(marker, "utf8"), "bye\n");
    const t0 = Date.now();
    await core.deleteNamespacedPod({ name: "stubborn", namespace: "default" });
    await sim.waitFor("pods", "default", "stubborn", (p) => p === undefined, 5000);
    assert.ok(Date.now() - t0 >= 900, "SIGKILL came before the grace period");
    assert.ok(reasons("default", "stubborn").includes("Killing"));
  });

  test("native sidecars start before main containers and stop after them; init containers run first", async () => {
    const order = join(scratch, "order");
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "sidecar" },
        spec: {
          restartPolicy: "Never",
          initContainers: [
            { name: "init", image: "busybox:1", args: [`echo init >> ${order}`] },
            {
              name: "side",
              image: "busybox:1",
              restartPolicy: "Always",
              args: [
                `echo side-start >> ${order}; trap 'echo side-stop >> ${order}; exit 0' TERM; while true; do sleep 0.05; done`,
              ],
            },
          ],
          containers: [{ name: "main", image: "busybox:1", args: [`echo main >> ${order}`] }],
        },
      },
    });
    const done = await sim.waitFor("pods", "default", "sidecar", (p) => p?.status?.phase === "Succeeded");
    assert.deepEqual(readFileSync(order, "utf8").trim().split("\n"), [
      "init",
      "side-start",
      "main",
      "side-stop",
    ]);
    assert.equal(done.status.initContainerStatuses[1].state.terminated.exitCode, 0);
  });

  test("env: value, secretKeyRef (optional), configMapKeyRef, fieldRef, envFrom and $(VAR) expansion", async () => {
    await core.createNamespacedSecret({
      namespace: "default",
      body: { metadata: { name: "env-s" }, stringData: { pw: "hunter2" } },
    });
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "env-c" }, data: { mode: "fast", FROM_CM: "yes" } },
    });
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "envpod", labels: { tier: "gold" } },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "main",
              image: "busybox:1",
              envFrom: [{ configMapRef: { name: "env-c" } }],
              env: [
                { name: "A", value: "alpha" },
                { name: "B", value: "$(A)-beta $$(A) $(MISSING)" },
                { name: "PW", valueFrom: { secretKeyRef: { name: "env-s", key: "pw" } } },
                { name: "OPT", valueFrom: { secretKeyRef: { name: "nope", key: "x", optional: true } } },
                { name: "MODE", valueFrom: { configMapKeyRef: { name: "env-c", key: "mode" } } },
                { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                { name: "TIER", valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
                { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                { name: "SA", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
              ],
              // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell default expansion, not a template
              args: ['echo "$B|$PW|${OPT-unset}|$MODE|$POD|$NS|$TIER|$IP|$SA|$FROM_CM|$(A)"'],
            },
          ],
        },
      },
    });
    const p = await sim.waitFor("pods", "default", "envpod", (x) => x?.status?.phase === "Succeeded");
    const log = await core.readNamespacedPodLog({ name: "envpod", namespace: "default" });
    assert.equal(
      log,
      `alpha-beta $(A) $(MISSING)|hunter2|unset|fast|envpod|default|gold|${p.status.podIP}|default|yes|alpha\n`,
    );
  });

  test("termination message: the path in env is mapped to a host file and read into the status", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "termmsg" },
        spec: {
          restartPolicy: "Never",
          containers: [
            {
              name: "main",
              image: "busybox:1",
              env: [{ name: "MSG_FILE", value: "/dev/termination-log" }],
              args: ['echo "it broke" > "$MSG_FILE"; exit 2'],
            },
            {
              name: "logs",
              image: "busybox:1",
              terminationMessagePolicy: "FallbackToLogsOnError",
              args: ["echo last words; exit 1"],
            },
          ],
        },
      },
    });
    const p = await sim.waitFor("pods", "default", "termmsg", (x) => x?.status?.phase === "Failed");
    const [main, logs] = p.status.containerStatuses;
    assert.equal(main.state.terminated.message, "it broke\n");
    assert.equal(main.state.terminated.exitCode, 2);
    assert.equal(logs.state.terminated.message, "last words\n");
  });

  test("pods/log: tailLines, container choice errors, follow until the container ends", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: shPod("logger", "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.3; echo late"),
    });
    await sim.waitFor("pods", "default", "logger", (p) => p?.status?.phase === "Running");
    const followed = await new Promise<string>((resolve, reject) => {
      let text = "";
      const res = fetch(`${sim.url}/api/v1/namespaces/default/pods/logger/log?follow=true`, {
        headers: { Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}` },
      });
      res
        .then(async (r) => {
          for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>)
            text += Buffer.from(chunk).toString();
          resolve(text);
        })
        .catch(reject);
    });
    assert.equal(followed, "line1\nline2\nline3\nline4\nline5\nlate\n");
    assert.equal(
      await core.readNamespacedPodLog({ name: "logger", namespace: "default", tailLines: 2 }),
      "line5\nlate\n",
    );
    const err = await apiError(() =>
      core.readNamespacedPodLog({ name: "logger", namespace: "default", container: "nope" }),
    );
    assert.equal(err.code, 400);
    assert.equal(err.message, "container nope is not valid for pod logger");
  });

  test("in-pod KUBECONFIG reaches the API as the pod's service account (403 without a Role)", async () => {
    await core.createNamespacedServiceAccount({
      namespace: "default",
      body: { metadata: { name: "inpod" } },
    });
    const script = `
      import("@kubernetes/client-node").then(async (k8s) => {
        const kc = new k8s.KubeConfig(); kc.loadFromDefault();
        try { await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: "default" }); console.log("allowed"); }
        catch (e) { console.log(e.code, JSON.parse(e.body).message); }
      });`;
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "inpod" },
        spec: {
          restartPolicy: "Never",
          serviceAccountName: "inpod",
          containers: [{ name: "main", image: "node:20", args: ["-e", script] }],
        },
      },
    });
    await sim.waitFor("pods", "default", "inpod", (p) => p?.status?.phase === "Succeeded", 15_000);
    const log = await core.readNamespacedPodLog({ name: "inpod", namespace: "default" });
    assert.equal(
      log,
      '403 pods is forbidden: User "system:serviceaccount:default:inpod" cannot list resource "pods" in API group "" in the namespace "default"\n',
    );
  });

  test("restartPolicy OnFailure restarts a failing container with CrashLoopBackOff", async () => {
    const flag = join(scratch, "once");
    await core.createNamespacedPod({
      namespace: "default",
      body: shPod(
        "flaky",
        `if [ -f ${flag} ]; then echo second; exit 0; fi; touch ${flag}; echo first; exit 1`,
        { restartPolicy: "OnFailure" },
      ),
    });
    const p = await sim.waitFor("pods", "default", "flaky", (x) => x?.status?.phase === "Succeeded");
    assert.equal(p.status.containerStatuses[0].restartCount, 1);
    assert.equal(p.status.containerStatuses[0].lastState.terminated.exitCode, 1);
    assert.equal(
      await core.readNamespacedPodLog({ name: "flaky", namespace: "default", previous: true }),
      "first\n",
    );
  });

  test("50 pods started and deleted leave no process behind", async () => {
    const names = Array.from({ length: 50 }, (_, i) => `many-${i}`);
    await Promise.all(
      names.map((n) =>
        core.createNamespacedPod({
          namespace: "default",
          body: shPod(n, "sleep 60", { terminationGracePeriodSeconds: 1 }),
        }),
      ),
    );
    await Promise.all(
      names.map((n) => sim.waitFor("pods", "default", n, (p) => p?.status?.phase === "Running", 30_000)),
    );
    const pids = sim
      .processes()
      .filter((p) => p.pod.startsWith("many-"))
      .map((p) => p.pid);
    assert.equal(pids.length, 50);
    await core.deleteCollectionNamespacedPod({
      namespace: "default",
      labelSelector: "",
      fieldSelector: "status.phase=Running",
    });
    await Promise.all(names.map((n) => sim.waitFor("pods", "default", n, (p) => p === undefined, 30_000)));
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
    for (const pid of pids)
      assert.equal(groupAlive(pid), false, "no process of the container's group is left");
  });

  test("a container ends with its main process: processes it left in the background are killed", async () => {
    await core.createNamespacedPod({ namespace: "default", body: shPod("orphaner", "sleep 600 & echo $$!") });
    await sim.waitFor("pods", "default", "orphaner", (p) => p?.status?.phase === "Succeeded");
    const orphan = Number(await core.readNamespacedPodLog({ name: "orphaner", namespace: "default" }));
    assert.ok(orphan > 0);
    assert.equal(groupAlive(orphan), false);
  });
});

describe("Flotilla's broker sidecar", () => {
  test("a successful runner pod: Redis gets SIGTERM as PID 1 and exits 0; the pod prints Completed, never Init:Error", async () => {
    const run = {
      flowName: "Broker",
      runId: "5b1e2c3d-0000-4000-8000-000000000000",
      namespace: "default",
      image: "busybox:1",
      flowModule: "flow.ts",
    };
    const secret = buildBrokerSecret(run, "p4ss-w0rd-1234");
    await core.createNamespacedSecret({ namespace: "default", body: secret as k8s.V1Secret });
    const { object: job } = buildRunnerJob(compileOptions({}).options, {}, run);
    const broker = job.spec!.template.spec!.initContainers!.find((c) => c.restartPolicy === "Always")!;
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "broker-sidecar" },
        spec: {
          restartPolicy: "Never",
          initContainers: [broker as k8s.V1Container],
          containers: [{ name: "main", image: "busybox:1", args: ["true"] }],
        },
      },
    });
    const pod = await sim.waitFor(
      "pods",
      "default",
      "broker-sidecar",
      (p) => p?.status?.phase === "Succeeded" && p.status.initContainerStatuses?.[0]?.state?.terminated,
      20_000,
    );
    const sidecar = pod.status.initContainerStatuses[0];
    assert.equal(sidecar.state.terminated.exitCode, 0, JSON.stringify(sidecar.state));
    assert.equal(sidecar.state.terminated.reason, "Completed");
    const res = await fetch(`${sim.url}/api/v1/namespaces/default/pods/broker-sidecar`, {
      headers: {
        Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
        Accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
      },
      signal: AbortSignal.timeout(10_000),
    });
    const table = (await res.json()) as { rows: { cells: unknown[] }[] };
    assert.equal(table.rows[0]?.cells[2], "Completed");
  });

  test("the printer follows Kubernetes 1.32: a sidecar that ended non-zero after the pod completed still prints Completed", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "sidecar-143" },
        spec: {
          restartPolicy: "Never",
          initContainers: [{ name: "side", image: "busybox:1", restartPolicy: "Always", args: ["sleep 60"] }],
          containers: [{ name: "main", image: "busybox:1", args: ["true"] }],
        },
      },
    });
    const pod = await sim.waitFor(
      "pods",
      "default",
      "sidecar-143",
      (p) => p?.status?.phase === "Succeeded" && p.status.initContainerStatuses?.[0]?.state?.terminated,
      20_000,
    );
    assert.notEqual(pod.status.initContainerStatuses[0].state.terminated.exitCode, 0);
    const res = await fetch(`${sim.url}/api/v1/namespaces/default/pods/sidecar-143`, {
      headers: {
        Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
        Accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
      },
      signal: AbortSignal.timeout(10_000),
    });
    const table = (await res.json()) as { rows: { cells: unknown[] }[] };
    assert.equal(table.rows[0]?.cells[2], "Completed");
  });
});

describe("stop", () => {
  test("stop() kills every process and is idempotent", async () => {
    const other = await KubeSim.start({ images: TEST_IMAGES });
    const c = other.kubeConfig().makeApiClient(k8s.CoreV1Api);
    await c.createNamespacedPod({ namespace: "default", body: shPod("ignorer", "trap '' TERM; sleep 60") });
    await other.waitFor("pods", "default", "ignorer", (p) => p?.status?.phase === "Running");
    const pids = other.processes().map((p) => p.pid);
    assert.equal(pids.length, 1);
    await Promise.all([other.stop(), other.stop()]);
    await other.stop();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: "ESRCH" });
    for (const pid of pids)
      assert.equal(groupAlive(pid), false, "no process of the container's group is left");
    assert.equal(existsSync(other.kubeconfigPath), false);
  });
});
