// End to end with RBAC enforced (launcher and runner hold exactly what `flotilla rbac` prints):
// both seed examples, a private registry, a custom scheduler spec, scale-up to max under a backlog
// and back to min when idle, `runs cancel`, the runner pod deleted, SIGTERM to the runner, a
// runner Role without `create pods`, the runner container SIGKILLed, `flotilla run --sim`; after
// each, nothing of the run is left but the finished Job;
// and no password appears anywhere but base64 in Secret data.
//
// Target: kube-sim by default. With FLOTILLA_TEST_KUBECONFIG naming a kubeconfig (an admin of
// FLOTILLA_TEST_NAMESPACE, default "flotilla-e2e", which must exist), the same suite runs against
// that cluster with the flow image FLOTILLA_TEST_IMAGE (an image of this checkout); SIGTERM reaches
// the runner through `kubectl exec` there, `--sim` runs on its own embedded sim as here, and the
// three tests that need kube-sim's powers (its image table, its private registry, SIGKILL of a
// container's PID 1) are skipped there with the reason printed. After the suite there, nothing of it is left in the
// namespace: its Jobs (and with them pods and Secrets), ServiceAccounts, Roles and RoleBindings
// are deleted. scripts/e2e-real-cluster.sh makes such a cluster with kind or k3d and runs this.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { createLogger } from "../src/engine/logging.ts";
import { connect, type KubeClients } from "../src/kubernetes/client.ts";
import { isKubeClusterEnvironment, KubeClusterEnvironment } from "../src/kubernetes/environment.ts";
import { PodWatch } from "../src/kubernetes/pod-watch.ts";
import { buildRbac, PERMISSIONS } from "../src/kubernetes/rbac.ts";
import { cancelRun } from "../src/kubernetes/runs.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";
import { within } from "./helpers/deadline.ts";
import { applyRbac } from "./helpers/kube-sim.ts";
import { kubectlPath } from "./helpers/system.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over arbitrary API objects
type Loose = any;

const REAL_KUBECONFIG = process.env.FLOTILLA_TEST_KUBECONFIG || undefined;
const NS = REAL_KUBECONFIG ? process.env.FLOTILLA_TEST_NAMESPACE || "flotilla-e2e" : "life";
const IMAGE = REAL_KUBECONFIG ? process.env.FLOTILLA_TEST_IMAGE : "example.com/flotilla-flow:dev";
/** `{ skip }` for a test that needs kube-sim; node:test prints the reason. */
const simOnly = (why: string) => ({ skip: REAL_KUBECONFIG ? `needs kube-sim: ${why}` : false });
const MODULE = "test/fixtures/kube-flows/slow.ts";
const REGISTRY_PASSWORD = "reg-pass-7f3e9a1c55";
let sim: KubeSim | undefined;
let launcher: KubeClients;
let admin: k8s.KubeConfig;
let adminClients: KubeClients;
const captured: string[] = [];
const logger = createLogger({ format: "json", stream: { write: (l: string) => captured.push(l) } });
const passwords: string[] = [];
const runIds: string[] = [];

/** Create, or keep what a previous run against a real cluster left. */
async function ensure(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (e) {
    if (!(e instanceof k8s.ApiException && e.code === 409)) throw e;
  }
}

/** A kubeconfig of a service account of a real cluster (TokenRequest, one hour). */
async function realServiceAccountConfig(name: string): Promise<k8s.KubeConfig> {
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const token = await core.createNamespacedServiceAccountToken({
    name,
    namespace: NS,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster();
  assert.ok(cluster, "FLOTILLA_TEST_KUBECONFIG has a current cluster");
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: token.status?.token }],
    contexts: [{ name, cluster: cluster.name, user: name, namespace: NS }],
    currentContext: name,
  });
  return kc;
}

before(async () => {
  if (REAL_KUBECONFIG) {
    assert.ok(IMAGE, "FLOTILLA_TEST_IMAGE names an image of this checkout (with FLOTILLA_TEST_KUBECONFIG)");
    admin = new k8s.KubeConfig();
    admin.loadFromFile(REAL_KUBECONFIG);
  } else {
    const images = defaultImages(process.cwd());
    sim = await KubeSim.start({
      namespaces: [NS],
      privateRegistries: ["private.example.com"],
      images: { ...images, "gcr.io/dev/dask-k8s-flow:*": images["*flotilla*"]! },
    });
    admin = sim.kubeConfig();
  }
  adminClients = connect({ kubeConfig: admin });
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
  await applyRbac(admin, NS, { launcher: "launcher", create: ensure });
  // a runner identity whose Role lacks `create pods`
  await ensure(() =>
    core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: "limited-runner" } } }),
  );
  const rules = PERMISSIONS.filter((p) => p.actor === "runner").map((p) => ({
    apiGroups: [p.apiGroup],
    resources: [p.resource],
    verbs: p.verbs.filter((v) => !(p.resource === "pods" && v === "create")),
  }));
  await ensure(() =>
    rbac.createNamespacedRole({ namespace: NS, body: { metadata: { name: "limited" }, rules } }),
  );
  await ensure(() =>
    rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: "limited" },
        subjects: [{ kind: "ServiceAccount", name: "limited-runner", namespace: NS }],
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "limited" },
      },
    }),
  );
  launcher = connect({
    kubeConfig: sim
      ? (await sim.serviceAccountKubeconfig(NS, "launcher")).kubeConfig
      : await realServiceAccountConfig("launcher"),
  });
});

after(async () => {
  if (sim) return sim.stop();
  // a real cluster: remove the finished Jobs of this suite (their TTL would, later)
  for (const runId of runIds)
    await adminClients.batch
      .deleteCollectionNamespacedJob({
        namespace: NS,
        labelSelector: `flotilla.io/flow-run-id=${runId}`,
        propagationPolicy: "Background",
      })
      .catch(() => {});
  // and the accounts, Roles and RoleBindings it created (the printed RBAC and the limited runner)
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
  const printed = buildRbac({ namespace: NS, launcherServiceAccount: "launcher" }) as Loose[];
  const named = (kind: string) => [
    ...printed.filter((o) => o.kind === kind).map((o) => o.metadata.name as string),
    ...(kind === "ServiceAccount" ? ["launcher", "limited-runner"] : ["limited"]),
  ];
  for (const name of named("ServiceAccount"))
    await core.deleteNamespacedServiceAccount({ name, namespace: NS }).catch(() => {});
  for (const name of named("Role")) await rbac.deleteNamespacedRole({ name, namespace: NS }).catch(() => {});
  for (const name of named("RoleBinding"))
    await rbac.deleteNamespacedRoleBinding({ name, namespace: NS }).catch(() => {});
});

/** The objects of one resource in NS, as the API returns them (kube-sim's store when simulated). */
async function objects(resource: "pods" | "secrets" | "jobs" | "events" | "configmaps"): Promise<Loose[]> {
  if (sim) return sim.objects(resource, NS);
  const core = adminClients.core;
  const list =
    resource === "jobs"
      ? await adminClients.batch.listNamespacedJob({ namespace: NS })
      : resource === "pods"
        ? await core.listNamespacedPod({ namespace: NS })
        : resource === "secrets"
          ? await core.listNamespacedSecret({ namespace: NS })
          : resource === "events"
            ? await core.listNamespacedEvent({ namespace: NS })
            : await core.listNamespacedConfigMap({ namespace: NS });
  return list.items as Loose[];
}
const ofRun = async (resource: "pods" | "secrets" | "jobs", runId: string) =>
  (await objects(resource)).filter((o) => o.metadata?.labels?.["flotilla.io/flow-run-id"] === runId);
const workersOf = async (runId: string) =>
  (await ofRun("pods", runId)).filter((p) => p.metadata.labels["flotilla.io/component"] === "worker");
const runnerOf = async (runId: string) =>
  (await ofRun("pods", runId)).find((p) => p.metadata.labels["flotilla.io/component"] === "runner");
const isLive = (p: Loose) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed";

/**
 * SIGTERM to the runner container's process, as the kubelet sends it: on kube-sim to its host
 * process; on a real cluster through `kubectl exec … kill -TERM 1` (the runner is the container's
 * PID 1, and it handles SIGTERM, so the kernel delivers it).
 */
async function terminateRunner(runner: Loose): Promise<void> {
  assert.ok(runner, "the runner pod");
  if (sim) {
    const proc = sim.processes().find((p) => p.pod === runner.metadata.name && p.container === "flotilla");
    assert.ok(proc, "the runner process");
    process.kill(proc.pid, "SIGTERM");
    return;
  }
  await promisify(execFile)(
    kubectlPath(),
    ["--kubeconfig", REAL_KUBECONFIG!, "-n", NS, "exec", runner.metadata.name, "-c", "flotilla", "--"].concat(
      ["sh", "-c", "kill -TERM 1"],
    ),
    { timeout: 60_000 },
  );
}

/** Resolves when `check` holds; rejects after timeoutMs. */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = REAL_KUBECONFIG ? 120_000 : 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, sim ? 50 : 500));
  }
}

/**
 * Follow a run's worker pods as they change (a watch with the admin's clients), calling `see`
 * with the pods on every change and the time of that change.
 */
function observeWorkers(runId: string, see: (pods: Loose[], atMs: number) => void): { stop(): void } {
  const watch = new PodWatch({
    clients: adminClients,
    namespace: NS,
    labelSelector: `flotilla.io/flow-run-id=${runId},flotilla.io/component=worker`,
  });
  let stopped = false;
  void (async () => {
    let seen = -1;
    while (!stopped) {
      await watch.changed(seen, 1000);
      seen = watch.version;
      see(watch.pods(), Date.now());
    }
  })();
  return {
    stop() {
      stopped = true;
      watch.stop();
    },
  };
}

/** The runner container's JSON log lines (kept with the finished pod until the Job's TTL). */
async function runnerLog(runId: string): Promise<{ time: number; msg: string; [k: string]: unknown }[]> {
  const runner = await runnerOf(runId);
  if (!runner) return [];
  const text = await adminClients.core
    .readNamespacedPodLog({ name: runner.metadata.name, namespace: NS, container: "flotilla" })
    .catch(() => "");
  return String(text)
    .split("\n")
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
}

async function launch(
  parameters: Record<string, unknown>,
  env?: KubeClusterEnvironment,
  module = MODULE,
  /** null: the flow's own image (its storage's) */
  image: string | null = IMAGE ?? null,
) {
  const flow = selectFlow(await loadFlowModule(module));
  const environment = env ?? flow.environment;
  assert.ok(isKubeClusterEnvironment(environment));
  const handle = await environment.execute(flow, {
    clients: launcher,
    namespace: NS,
    ...(image !== null ? { image } : {}),
    parameters,
    logger,
  });
  runIds.push(handle.runId);
  const secret = (await ofRun("secrets", handle.runId))[0];
  passwords.push(Buffer.from(secret.data.password, "base64").toString());
  return handle;
}

/** Nothing of the run but its finished Job (kept for its logs until ttlSecondsAfterFinished). */
async function onlyTheJobLeft(runId: string) {
  await until(`worker pods of ${runId} to be deleted`, async () => (await workersOf(runId)).length === 0);
}

describe("seed examples", () => {
  test("min/max workers: runs to Success; workers owned by the runner pod; only the finished Job remains", async () => {
    const started = Date.now();
    const handle = await launch({}, undefined, "examples/seed-min-max/flow.ts");
    const seen: Loose[] = [];
    const observer = observeWorkers(handle.runId, (pods) => seen.push(...pods));
    const state = await handle.wait().finally(() => observer.stop());
    const elapsedMs = Date.now() - started;
    assert.equal(state.type, "Success", state.message);
    console.log(`# seed-min-max: ${elapsedMs} ms from launch to final state`);
    assert.ok(seen.length > 0, "a worker pod ran");
    for (const w of seen) {
      assert.equal(w.metadata.ownerReferences[0].kind, "Pod");
      // least privilege: the workers' own account, no API token in the pod
      assert.equal(w.spec.serviceAccountName, "flotilla-worker");
      assert.equal(w.spec.automountServiceAccountToken, false);
      assert.ok(!(w.spec.volumes ?? []).some((v: Loose) => v.projected), "no token volume in a worker pod");
    }
    await onlyTheJobLeft(handle.runId);
    assert.equal((await ofRun("jobs", handle.runId)).length, 1, "the finished Job is kept until its TTL");
  });
});

describe("least privilege", () => {
  /** What SelfSubjectAccessReview answers for the launcher's identity. */
  const may = async (verb: string, resource: string, name?: string) =>
    (
      await launcher.authorization.createSelfSubjectAccessReview({
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SelfSubjectAccessReview",
          spec: { resourceAttributes: { namespace: NS, verb, resource, ...(name ? { name } : {}) } },
        },
      })
    ).status?.allowed === true;

  test("the launcher may create Secrets, read only the image pull Secret, and patch, delete, list or read no other", async () => {
    assert.equal(await may("create", "secrets"), true);
    assert.equal(await may("get", "secrets", "docker-registry-credentials"), true);
    for (const verb of ["get", "list", "watch", "patch", "update", "delete", "deletecollection"])
      assert.equal(await may(verb, "secrets"), false, `${verb} secrets is gone`);
    assert.equal(await may("get", "secrets", "someone-elses"), false);
    for (const verb of ["patch", "delete"])
      assert.equal(await may(verb, "secrets", "docker-registry-credentials"), false);
  });

  test("the run's Secret is owned by its Job from its creation and goes with it; the run still succeeds", async () => {
    const handle = await launch({ n: 1, sleepMs: 10 });
    const job = (await ofRun("jobs", handle.runId))[0];
    const secret = (await ofRun("secrets", handle.runId))[0];
    assert.deepEqual(
      secret.metadata.ownerReferences.map((r: Loose) => [r.kind, r.uid]),
      [["Job", job.metadata.uid]],
    );
    const state = await handle.wait();
    assert.equal(state.type, "Success", state.message);
    await adminClients.batch.deleteNamespacedJob({
      name: job.metadata.name,
      namespace: NS,
      propagationPolicy: "Background",
    });
    await until(
      "the run's Secret collected with its Job",
      async () => (await ofRun("secrets", handle.runId)).length === 0,
    );
  });
});

describe("custom specs and failures", () => {
  test(
    "seed custom worker: the spec's image runs, replicas 2 start two workers",
    simOnly("the seed's image gcr.io/dev/dask-k8s-flow is mapped to this checkout by the image table"),
    async () => {
      const names = new Set<string>();
      const handle = await launch({}, undefined, "examples/seed-custom-worker/flow.ts", null);
      const observer = observeWorkers(handle.runId, (pods) => {
        for (const p of pods) names.add(p.metadata.name);
      });
      const state = await handle.wait().finally(() => observer.stop());
      assert.equal(state.type, "Success", state.message);
      assert.ok(names.size >= 2, `expected 2 worker pods, saw ${[...names].join(", ")}`);
      await onlyTheJobLeft(handle.runId);
    },
  );

  test("custom scheduler spec: the Job keeps the user's fields and carries Flotilla's; Success", async () => {
    const handle = await launch({}, undefined, "test/fixtures/kube-flows/custom-scheduler.ts");
    const job = (await ofRun("jobs", handle.runId))[0];
    const state = await handle.wait();
    assert.equal(state.type, "Success", state.message);
    // the user's
    assert.equal(job.metadata.labels.team, "data");
    assert.equal(job.metadata.annotations["example.com/owner"], "data-platform");
    assert.equal(job.spec.activeDeadlineSeconds, 600);
    assert.equal(job.spec.template.metadata.labels["cost-center"], "42");
    const c = job.spec.template.spec.containers.find((x: Loose) => x.name === "flotilla");
    assert.deepEqual(
      c.env.find((e: Loose) => e.name === "TEAM_SETTING"),
      { name: "TEAM_SETTING", value: "on" },
    );
    assert.equal(c.resources.requests.cpu, "50m");
    assert.equal(c.resources.limits.memory, "768Mi");
    // Flotilla's
    assert.equal(job.metadata.labels["flotilla.io/component"], "runner");
    assert.equal(job.metadata.labels["flotilla.io/flow-run-id"], handle.runId);
    assert.equal(job.spec.template.metadata.labels["flotilla.io/flow-run-id"], handle.runId);
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.template.spec.restartPolicy, "Never");
    assert.deepEqual(c.args, ["execute"]);
    const names = c.env.map((e: Loose) => e.name);
    assert.equal(new Set(names).size, names.length, "no env var twice");
    assert.ok(names.includes("FLOTILLA_RUN_ID") && names.includes("FLOTILLA_BROKER_PASSWORD"));
    assert.ok(job.spec.template.spec.initContainers.some((x: Loose) => x.name === "broker"));
    await onlyTheJobLeft(handle.runId);
  });

  test(
    "private registry: without the pull Secret the run fails fast on the image pull; with setup it succeeds",
    simOnly("the private registry private.example.com is kube-sim's"),
    async () => {
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
    },
  );
});

describe("scaling", () => {
  test("a backlog scales up to maxWorkers (pods created together); idle workers scale back down to minWorkers", async () => {
    const handle = await launch(
      { n: 6, sleepMs: 1000, idleMs: 6000 },
      undefined,
      "test/fixtures/kube-flows/burst-idle.ts",
    );
    let max = 0;
    let downToMinAfterMax = false;
    const createdAt = new Map<string, number>();
    const observer = observeWorkers(handle.runId, (pods, atMs) => {
      const live = pods.filter(isLive);
      for (const p of pods) if (!createdAt.has(p.metadata.name)) createdAt.set(p.metadata.name, atMs);
      max = Math.max(max, live.length);
      if (max === 3 && live.length === 1) downToMinAfterMax = true;
    });
    const state = await handle.wait().finally(() => observer.stop());
    assert.equal(state.type, "Success", state.message);
    assert.equal(max, 3, "scaled up to maxWorkers");
    assert.ok(downToMinAfterMax, "back to minWorkers (1 live worker pod) while the idle task ran");
    // The runner's own account of it: its `workers` lines. `workers` counts the workers that run
    // (heartbeat seen), `pending` those asked for and not running yet. The pods above count both:
    // on a loaded machine workers 2 and 3 may still be starting when the backlog is done, and are
    // then cancelled before they ever run, so the runner's *running* count need never reach 3.
    // What it must show is the same as the pods: 3 asked for, then back to 1.
    const lines = (await runnerLog(handle.runId)).filter((l) => typeof l.workers === "number");
    const asked = lines.map((l) => (l.workers as number) + ((l.pending as number | undefined) ?? 0));
    const shown = lines.map((l) => `${l.workers}+${l.pending ?? 0}`).join(",");
    assert.ok(
      asked.includes(3) && asked.lastIndexOf(1) > asked.indexOf(3),
      `workers+pending lines: ${shown}`,
    );
    console.log(`# runner workers+pending lines: ${shown}`);
    // figures for the log (not asserted: timing on a loaded machine)
    const firstRunning = lines.find((l) => l.workers === 1);
    const scaleUp = lines.find((l) => (l.workers as number) > 1 || (l.pending as number) > 0);
    const created = [...createdAt.values()].sort((a, b) => a - b);
    console.log(
      `# scale-up decision: ${scaleUp && firstRunning ? scaleUp.time - firstRunning.time : "?"} ms after the first worker ran (the backlog appears then);` +
        ` worker pods 2..3 seen within ${created.length >= 3 ? created[2]! - created[1]! : "?"} ms of each other`,
    );
    await onlyTheJobLeft(handle.runId);
    assert.equal((await ofRun("jobs", handle.runId)).length, 1);
  });
});

describe("lifecycle", () => {
  test("runs cancel: the Job and everything it owns are deleted", async () => {
    const handle = await launch({ n: 2, sleepMs: 60_000 });
    await until("a running worker", async () =>
      (await workersOf(handle.runId)).some((p) => p.status?.phase === "Running"),
    );
    await cancelRun(handle.runId, { clients: launcher, namespace: NS });
    await until("nothing of the run left", async () => {
      for (const r of ["pods", "secrets", "jobs"] as const)
        if ((await ofRun(r, handle.runId)).length > 0) return false;
      return true;
    });
    const state = await handle.wait();
    assert.equal(state.type, "Failed");
  });

  for (const grace of [undefined, 0]) {
    test(`the runner pod deleted (${grace === undefined ? "as kubectl delete pod does" : "grace 0"}): the run ends Failed saying so, no second runner ever starts, every worker pod is collected`, async () => {
      const handle = await launch({ n: 2, sleepMs: 60_000 });
      const runners = new Set<string>();
      const watch = new PodWatch({
        clients: adminClients,
        namespace: NS,
        labelSelector: `flotilla.io/flow-run-id=${handle.runId},flotilla.io/component=runner`,
      });
      let watching = true;
      void (async () => {
        let seen = -1;
        while (watching) {
          await watch.changed(seen, 1000);
          seen = watch.version;
          for (const p of watch.pods()) runners.add(p.metadata!.name!);
        }
      })();
      try {
        await until(
          "a running worker",
          async () => (await workersOf(handle.runId)).some((p) => p.status?.phase === "Running"),
          REAL_KUBECONFIG ? 120_000 : 60_000, // a pod start takes seconds on a loaded 2-core machine
        );
        const runner = await runnerOf(handle.runId);
        const waiting = handle.wait(); // the launcher follows the run, as `flotilla run` does
        await adminClients.core.deleteNamespacedPod({
          name: runner.metadata.name,
          namespace: NS,
          ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
        });
        const state = await waiting;
        assert.equal(state.type, "Failed");
        assert.match(
          state.message,
          new RegExp(`runner pod ${runner.metadata.name} was deleted before the run ended`),
        );
        // the Job fails (backoffLimit 0) instead of replacing its pod (podReplacementPolicy Failed)
        await until("the runner Job to be Failed", async () => {
          const job = (await ofRun("jobs", handle.runId))[0];
          return (
            job?.status?.conditions?.some((c: Loose) => c.type === "Failed" && c.status === "True") ?? false
          );
        });
        await onlyTheJobLeft(handle.runId);
        const job = (await ofRun("jobs", handle.runId))[0];
        console.log(
          `# runner pod deleted (grace ${grace ?? "default"}): Job ${job.status.conditions.map((c: Loose) => c.reason).join(",")}`,
        );
        assert.deepEqual([...runners], [runner.metadata.name], "one runner pod, never a second");
      } finally {
        watching = false;
        watch.stop();
        await handle.cancel();
      }
    });
  }

  test("SIGTERM to the runner: workers retired and deleted, the run ends Failed", async () => {
    const handle = await launch({ n: 2, sleepMs: 60_000 });
    await until("a running worker", async () =>
      (await workersOf(handle.runId)).some((p) => p.status?.phase === "Running"),
    );
    await terminateRunner(await runnerOf(handle.runId));
    const state = await within(handle.wait(), 120_000, "the run's end after SIGTERM to its runner");
    assert.equal(state.type, "Failed");
    await onlyTheJobLeft(handle.runId);
  });

  test(
    "the runner container SIGKILLed, its pod kept: workers end themselves after workerDeathTimeoutMs",
    simOnly(
      "SIGKILLs the runner's container process from the node (inside the container, kubectl exec cannot: the kernel ignores SIGKILL to a namespace's PID 1 from within it)",
    ),
    async () => {
      const handle = await launch({}, undefined, "test/fixtures/kube-flows/short-death.ts");
      await until(
        "two running workers",
        async () => (await workersOf(handle.runId)).filter((p) => p.status?.phase === "Running").length === 2,
      );
      const runner = await runnerOf(handle.runId);
      const proc = sim!.processes().find((p) => p.pod === runner.metadata.name && p.container === "flotilla");
      assert.ok(proc, "the runner process");
      const killedAt = Date.now();
      process.kill(proc.pid, "SIGKILL");
      const state = await handle.wait();
      assert.equal(state.type, "Failed");
      assert.ok(await runnerOf(handle.runId), "the runner pod is kept (until the Job's TTL)");
      const workerPods = new Set((await workersOf(handle.runId)).map((p) => p.metadata.name));
      await until("no worker process left", () => !sim!.processes().some((p) => workerPods.has(p.pod)));
      console.log(
        `# runner SIGKILLed: worker processes gone ${Date.now() - killedAt} ms later (death timeout 2000 ms)`,
      );
      assert.ok(
        (await workersOf(handle.runId)).every((p) => !isLive(p)),
        "worker pods ended",
      );
      await handle.cancel();
    },
  );

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
    for (const r of ["pods", "jobs", "events", "configmaps"] as const)
      haystacks.push(JSON.stringify(await objects(r)));
    for (const p of await objects("pods")) {
      for (const c of ["flotilla", "broker"]) {
        haystacks.push(
          await adminClients.core
            .readNamespacedPodLog({ name: p.metadata.name, namespace: NS, container: c })
            .catch(() => ""),
        );
      }
    }
    const all = haystacks.join("\n");
    for (const pw of passwords) assert.ok(!all.includes(pw), "a broker password leaked");
    assert.ok(!all.includes(REGISTRY_PASSWORD), "the registry password leaked");
    for (const pod of await objects("pods")) {
      for (const c of pod.spec.containers) {
        const env = (c.env ?? []).find((e: { name: string }) => e.name === "FLOTILLA_BROKER_PASSWORD");
        if (env) assert.ok(env.valueFrom?.secretKeyRef && env.value === undefined);
      }
    }
  });
});

describe("flotilla run --sim", () => {
  test(// it needs no cluster of its own: with FLOTILLA_TEST_KUBECONFIG too it runs on its embedded sim
  "the seed min/max example runs to Success on its own embedded kube-sim, launched as the printed launcher account", async () => {
    const { runOnKubernetes } = await import("../src/cli/commands/run-on-kubernetes.ts");
    const flow = selectFlow(await loadFlowModule("examples/seed-min-max/flow.ts"));
    const out: string[] = [];
    const started = Date.now();
    const steps: string[] = [];
    const tallies: Loose[] = [];
    const workerEvents: Loose[] = [];
    const result = await runOnKubernetes(flow, {
      parameters: {},
      logger,
      onEvent: (e) => {
        if (e.type === "workers") workerEvents.push(e);
      },
      onProgress: (p) => steps.push(p.step),
      onTally: (t) => tallies.push(t),
      stdout: { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream,
      sim: true,
    });
    console.log(
      `# run --sim (seed min/max): ${Date.now() - started} ms to final state, kube-sim start included`,
    );
    assert.equal(result.state?.type, "Success", result.state?.message);
    assert.ok(
      captured.some((l) => l.includes("Example!")),
      "the task's output was followed from the runner",
    );
    // from launch to the first task, then the task counts, as a local run shows them
    assert.deepEqual(
      steps.filter((x, i) => steps.indexOf(x) === i),
      ["created", "scheduled", "pulling", "broker-ready", "runner-started"],
    );
    assert.ok(
      workerEvents.some((e) => e.count >= 1),
      "the runner's worker count reached the launcher",
    );
    const last = tallies.at(-1);
    assert.ok(last && last.counts.Success >= 1 && last.running === 0, JSON.stringify(tallies));
    assert.ok(
      !captured.some((l) => l.includes('"progress"')),
      "task counts feed the status line; they are not relayed as log lines",
    );
  });
});
