// The fault matrix on Kubernetes (kube-sim), run as a user runs it: `flotilla run <flow> --kubeconfig
// <the launcher account's> -n faults --image …` in a separate process. Workers that cannot start
// (CrashLoopBackOff, CreateContainerConfigError, Unschedulable, not Running within
// workerStartTimeoutMs) fail the run fast with the reason; a create refused midway leaves nothing;
// the broker killed under a running flow ends the run with every process of it gone; the runner's pod
// watch re-lists after a 410. After each run, `leftovers` checks every kind of object a run creates
// (Job, runner pod, worker pods, per-run Secret, pull Secret) and every process of its pods.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { connect } from "../src/kubernetes/client.ts";
import { Label, run8 } from "../src/kubernetes/names.ts";
import { PodWatch } from "../src/kubernetes/pod-watch.ts";
import { buildRbac } from "../src/kubernetes/rbac.ts";
import { KubeSim } from "../src/testing/index.ts";
import { applyRbac, startFlotillaSim, TEST_IMAGES } from "./helpers/kube-sim.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over arbitrary API objects
type Loose = any;

const root = fileURLToPath(new URL("..", import.meta.url));
const NS = "faults";
const IMAGE = "example.com/flotilla-faults:dev";
let sim: KubeSim;
let launcherKubeconfig: string;

before(async () => {
  sim = await startFlotillaSim(IMAGE, { namespaces: [NS], extraImages: TEST_IMAGES });
  await applyRbac(sim.kubeConfig(), NS, { launcher: "launcher" });
  launcherKubeconfig = (await sim.serviceAccountKubeconfig(NS, "launcher")).path;
});

after(async () => {
  await sim?.stop();
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], timeoutMs = 180_000): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "bin/flotilla.js"), ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flotilla ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const onSim = (flow: string, ...extra: string[]) =>
  cli(["run", flow, "--kubeconfig", launcherKubeconfig, "-n", NS, "--image", IMAGE, ...extra]);

/** the runs of a flow (by its label), newest last */
function runIdsOf(flowName: string): string[] {
  return sim
    .objects("jobs", NS)
    .filter((j) => j.metadata.labels?.[Label.flow] === flowName)
    .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))
    .map((j) => j.metadata.labels[Label.runId]);
}

const until = (what: string, check: () => boolean, timeoutMs = 30_000) => sim.until(what, check, timeoutMs);

/**
 * What a finished run leaves, every kind it creates: no worker pod; its Job either finished (Complete
 * or Failed) with only its terminated runner pod and the per-run Secrets it owns (garbage collected
 * with it after its TTL), or, when the launcher tore the run down, nothing at all; no ConfigMap,
 * Service, ServiceAccount, Role or RoleBinding of the run; no process of any of its pods alive.
 */
async function assertOnlyTheFinishedJobLeft(runId: string): Promise<void> {
  const ofRun = (resource: string) =>
    sim.objects(resource, NS).filter((o) => o.metadata.labels?.[Label.runId] === runId);
  // a deleted pod may take its whole terminationGracePeriodSeconds (30 s by default) before the
  // kubelet kills it, so the deadline is that plus the kubelet's own time
  await until(
    `worker pods of ${runId} to be gone`,
    () => ofRun("pods").every((p) => p.metadata.labels?.[Label.component] === "runner"),
    60_000,
  );
  const finished = (j: Loose) =>
    (j.status?.conditions ?? []).some(
      (c: Loose) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
    );
  await until(`the Job of ${runId} to finish or be gone`, () => ofRun("jobs").every(finished));
  const jobs = ofRun("jobs");
  assert.ok(jobs.length <= 1, "one Job per run");
  const job = jobs[0];
  await until(`the pods and Secrets of ${runId} to go with its Job`, () =>
    job ? true : ofRun("pods").length === 0 && ofRun("secrets").length === 0,
  );
  for (const p of ofRun("pods")) {
    assert.equal(p.metadata.labels[Label.component], "runner");
    assert.ok(
      ["Succeeded", "Failed"].includes(p.status.phase),
      `runner pod ${p.metadata.name} is ${p.status.phase}`,
    );
  }
  for (const s of ofRun("secrets")) {
    assert.ok(
      (s.metadata.ownerReferences ?? []).some((r: Loose) => r.uid === job?.metadata.uid),
      `Secret ${s.metadata.name} is owned by the run's Job`,
    );
  }
  for (const resource of ["configmaps", "services", "serviceaccounts", "roles", "rolebindings"])
    assert.deepEqual(ofRun(resource), [], `no ${resource} of the run`);
  const ofRunPods = () => sim.processes().filter((p) => p.namespace === NS && p.pod.includes(run8(runId)));
  await until(`processes of ${runId}'s pods to end`, () => ofRunPods().length === 0);
}

describe("workers that cannot start fail the run fast, with the reason", { timeout: 600_000 }, () => {
  for (const [flow, name, reason] of [
    ["crashLoop", "worker-crash-loop", /CrashLoopBackOff/],
    ["configError", "worker-config-error", /CreateContainerConfigError[^\n]*no-such-secret/],
    ["unschedulable", "worker-unschedulable", /Unschedulable: 0\/1 nodes are available: 1 Insufficient cpu/],
    [
      "neverReady",
      "worker-never-ready",
      /not Running within workerStartTimeoutMs \(4000 ms; phase Pending\)/,
    ],
  ] as const) {
    test(`${name}: exit 1, the reason in the summary, only the finished Job left`, async () => {
      const r = await onSim("test/fixtures/kube-flows/worker-faults.ts", "--flow", flow);
      const printed = r.stdout + r.stderr;
      console.log(`# ${name}: flotilla run ended after ${r.ms} ms`);
      assert.equal(r.code, 1, printed);
      assert.match(printed, /cannot start/, printed);
      assert.match(printed, reason, printed);
      const [runId] = runIdsOf(name).slice(-1);
      assert.ok(runId, "the run's Job exists");
      await assertOnlyTheFinishedJobLeft(runId);
    });
  }
});

describe("a create refused midway leaves nothing behind", { timeout: 120_000 }, () => {
  test("the runner Job refused by the API server (422): exit non-zero, the reason, no Secret or Job of the run", async () => {
    const before = new Set(sim.objects("secrets", NS).map((s) => s.metadata.uid));
    const r = await onSim("test/fixtures/kube-flows/refused-job.ts");
    const printed = r.stdout + r.stderr;
    assert.notEqual(r.code, 0, printed);
    assert.match(printed, /activeDeadlineSeconds/, printed);
    assert.match(printed, /422|invalid/i, printed);
    assert.deepEqual(runIdsOf("refused-job"), [], "no Job");
    const created = sim.objects("secrets", NS).filter((s) => !before.has(s.metadata.uid));
    assert.deepEqual(
      created.map((s) => s.metadata.name),
      [],
      "the per-run Secret created before the Job was deleted",
    );
    assert.deepEqual(
      sim.objects("pods", NS).filter((p) => p.metadata.labels?.[Label.flow] === "refused-job"),
      [],
    );
  });
});

describe("a create refused midway leaves nothing behind (the Secret after the Job)", {
  timeout: 120_000,
}, () => {
  test("a launcher that may not create Secrets: the Job created first is deleted again, nothing of the run left", async () => {
    const kc = sim.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const launcherRole = (buildRbac({ namespace: NS, launcherServiceAccount: "launcher" }) as Loose[]).find(
      (o) => o.kind === "Role" && o.rules.some((r: Loose) => r.resources.includes("jobs")),
    );
    const rules = launcherRole.rules.map((r: Loose) =>
      r.resources.includes("secrets") ? { ...r, verbs: r.verbs.filter((v: string) => v !== "create") } : r,
    );
    const name = "launcher-no-secrets";
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });
    await rbac.createNamespacedRole({ namespace: NS, body: { metadata: { name }, rules } });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name },
        subjects: [{ kind: "ServiceAccount", name, namespace: NS }],
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      },
    });
    const kubeconfig = (await sim.serviceAccountKubeconfig(NS, name)).path;
    const before = new Set(
      ["jobs", "pods", "secrets"].flatMap((res) => sim.objects(res, NS).map((o) => o.metadata.uid)),
    );
    const recording = sim.record();
    try {
      const r = await cli([
        "run",
        "test/fixtures/kube-flows/worker-faults.ts",
        "--flow",
        "configError",
        "--kubeconfig",
        kubeconfig,
        "-n",
        NS,
        "--image",
        IMAGE,
      ]);
      const printed = r.stdout + r.stderr;
      assert.notEqual(r.code, 0, printed);
      assert.match(printed, /secrets/, printed);
      assert.match(printed, /forbidden|403|cannot create/i, printed);
      const jobCreates = recording
        .requests()
        .filter((q) => q.resource === "jobs" && q.verb === "create" && q.user.endsWith(`:${name}`));
      const secretCreates = recording
        .requests()
        .filter((q) => q.resource === "secrets" && q.verb === "create");
      console.log(
        `# midway: ${jobCreates.length} Job create(s), ${secretCreates.length} refused Secret create(s)`,
      );
      assert.ok(
        secretCreates.some((q) => !q.allowed),
        "the Secret create was refused",
      );
      const ofThisRun = () =>
        ["jobs", "pods", "secrets"].flatMap((res) =>
          sim
            .objects(res, NS)
            .filter(
              (o) => o.metadata.labels?.[Label.flow] === "worker-config-error" && !before.has(o.metadata.uid),
            ),
        );
      await until("nothing of the refused run left", () => ofThisRun().length === 0);
    } finally {
      recording.stop();
    }
  });
});

describe("the broker dies under a running flow", { timeout: 240_000 }, () => {
  test("redis-server SIGKILLed in the runner pod: the run ends Failed saying so, no process of it left", async () => {
    const child = spawn(
      process.execPath,
      [
        path.join(root, "bin/flotilla.js"),
        "run",
        "test/fixtures/kube-flows/slow.ts",
        "--kubeconfig",
        launcherKubeconfig,
        "-n",
        NS,
        "--image",
        IMAGE,
        "--param",
        "n=40",
        "--param",
        "sleepMs=2000",
      ],
      { cwd: root, env: { ...process.env, NO_COLOR: "1" } },
    );
    let printed = "";
    child.stdout.on("data", (d) => (printed += d));
    child.stderr.on("data", (d) => (printed += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    try {
      // a worker runs a task: the broker is in use
      await until(
        "a worker pod Running",
        () =>
          sim
            .objects("pods", NS)
            .some(
              (p) =>
                p.metadata.labels?.[Label.flow] === "kube-slow" &&
                p.metadata.labels?.[Label.component] === "worker" &&
                p.status?.phase === "Running",
            ),
        120_000,
      );
      const runId = runIdsOf("kube-slow").at(-1)!;
      const broker = sim
        .processes()
        .find((p) => p.namespace === NS && p.container === "broker" && p.pod.includes(run8(runId)));
      assert.ok(broker, `the broker process: ${JSON.stringify(sim.processes())}`);
      process.kill(broker.pid, "SIGKILL");
      const deadline = setTimeout(() => child.kill("SIGKILL"), 150_000);
      const code = await exited.finally(() => clearTimeout(deadline));
      assert.equal(code, 1, printed);
      assert.match(printed, /broker/i, printed);
      await assertOnlyTheFinishedJobLeft(runId);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("the runner's pod watch", { timeout: 60_000 }, () => {
  test("re-lists after a 410 Gone (its resourceVersion fell out of the history) and keeps following", async () => {
    const small = await KubeSim.start({ namespaces: ["w"], images: TEST_IMAGES, watchHistory: 5 });
    const recording = small.record();
    const clients = connect({ kubeConfig: small.kubeConfig() });
    const watch = new PodWatch({
      clients,
      namespace: "w",
      labelSelector: "app=x",
      timeoutSeconds: 1,
      retryDelayMs: 50,
    });
    try {
      await watch.ready;
      const pod = (name: string): k8s.V1Pod => ({
        metadata: { name, labels: { app: "x" } },
        spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox:1", args: ["sleep 30"] }] },
      });
      await clients.core.createNamespacedPod({ namespace: "w", body: pod("p1") });
      let v = watch.version;
      while (!watch.pods().some((p) => p.metadata?.name === "p1")) {
        await watch.changed(v, 5000);
        v = watch.version;
      }
      const rvOfP1 = Number(small.objects("pods", "w")[0].metadata.resourceVersion);
      // 20 writes elsewhere push every resourceVersion the watch knows out of the 5 kept
      for (let i = 0; i < 20; i++)
        await clients.core.createNamespacedConfigMap({
          namespace: "w",
          body: { metadata: { name: `cm${i}` } },
        });
      // the watch ends after 1 s; resuming from its stale resourceVersion gets the 410, then a re-list
      const relisted = () =>
        recording
          .requests()
          .some((r) => r.resource === "pods" && r.verb === "list" && r.query.labelSelector === "app=x");
      const deadline = Date.now() + 20_000;
      while (!relisted()) {
        assert.ok(Date.now() < deadline, "no re-list after the 410");
        await watch.changed(watch.version, 200);
      }
      const watches = recording.requests().filter((r) => r.resource === "pods" && r.verb === "watch");
      assert.ok(
        watches.some((w) => Number(w.query.resourceVersion) <= rvOfP1),
        `a watch resumed from the stale resourceVersion: ${JSON.stringify(watches.map((w) => w.query))}`,
      );
      // and it keeps following: a new pod is seen
      await clients.core.createNamespacedPod({ namespace: "w", body: pod("p2") });
      const seen = Date.now() + 10_000;
      while (!watch.pods().some((p) => p.metadata?.name === "p2")) {
        assert.ok(Date.now() < seen, "p2 never seen after the re-list");
        await watch.changed(watch.version, 1000);
      }
    } finally {
      watch.stop();
      recording.stop();
      await small.stop();
    }
  });
});
