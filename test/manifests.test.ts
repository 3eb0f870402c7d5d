// Manifest builders: every forced field and every kept field of the merge rules, on the default
// path and with custom specs (the seed's worker_spec.yaml verbatim included).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Job } from "kubernetes-models/batch/v1";
import { Pod } from "kubernetes-models/v1";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import { runOnKubernetes } from "../src/cli/commands/run-on-kubernetes.ts";
import { Env } from "../src/cluster/process-env.ts";
import { createLogger } from "../src/engine/logging.ts";
import {
  buildBrokerSecret,
  buildRunnerJob,
  buildWorkerPod,
  planWorkers,
  setEnv,
} from "../src/kubernetes/manifests.ts";
import { compileOptions, type KubeClusterEnvironmentOptions } from "../src/kubernetes/options.ts";
import {
  loadWorkerSpec,
  parseSpec,
  SCHEDULER_SPEC_RULE,
  type SchedulerSpec,
  WORKER_SPEC_RULE,
} from "../src/kubernetes/spec-files.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";

const run = {
  flowName: "Min / Max Workers Example",
  runId: "3f2a9c1e-0000-4000-8000-000000000000",
  namespace: "team-a",
  image: "gcr.io/dev/flow:0.1.0",
  flowModule: "examples/flow.ts",
};
const owner = { name: "runner-pod", uid: "uid-123" };
const id = { workerId: "w1", owner, brokerHost: "10.0.0.7", concurrency: 2 };
const opts = (o: KubeClusterEnvironmentOptions = {}) => compileOptions(o).options;
const seedWorker = loadWorkerSpec(
  fileURLToPath(new URL("../examples/seed-custom-worker/worker_spec.yaml", import.meta.url)),
  "worker_spec.yaml",
);
const envOf = (list: IEnvVar[] | undefined, name: string) => (list ?? []).filter((e) => e.name === name);
const workerSpec = (yaml: string) => {
  const { value } = parseSpec(yaml, "w.yaml", WORKER_SPEC_RULE, (o) => new Pod(o as never).validate());
  return { file: "w.yaml", pod: value as never, replicas: undefined };
};
const schedulerSpec = (yaml: string): SchedulerSpec => {
  const { value } = parseSpec(yaml, "s.yaml", SCHEDULER_SPEC_RULE, (o) => new Job(o as never).validate());
  return { file: "s.yaml", job: value as never };
};

describe("runner Job (default)", () => {
  const { object: job } = buildRunnerJob(opts({ ttlSecondsAfterFinished: 600 }), {}, run);
  const pod = job.spec!.template.spec!;
  const runner = pod.containers[0]!;

  test("name, labels, backoffLimit 0, ttl", () => {
    assert.equal(job.metadata!.name, "flotilla-min-max-workers-example-3f2a9c1e");
    assert.ok(job.metadata!.name!.length <= 52);
    assert.equal(job.metadata!.namespace, "team-a");
    for (const labels of [job.metadata!.labels!, job.spec!.template.metadata!.labels!]) {
      assert.equal(labels["flotilla.io/flow"], "min-max-workers-example");
      assert.equal(labels["flotilla.io/flow-run-id"], run.runId);
      assert.equal(labels["flotilla.io/component"], "runner");
      assert.equal(labels["app.kubernetes.io/managed-by"], "flotilla");
    }
    assert.equal(job.spec!.backoffLimit, 0);
    assert.equal(job.spec!.ttlSecondsAfterFinished, 600);
    assert.equal(pod.restartPolicy, "Never");
    assert.equal(pod.serviceAccountName, "flotilla-runner");
  });

  test("runner container: flow image, execute, env, termination message, resources", () => {
    assert.equal(runner.image, run.image);
    assert.deepEqual(runner.args, ["execute"]);
    assert.equal(envOf(runner.env, Env.runId)[0]!.value, run.runId);
    assert.equal(envOf(runner.env, Env.flowModule)[0]!.value, "examples/flow.ts");
    assert.equal(envOf(runner.env, Env.terminationMessagePath)[0]!.value, "/dev/termination-log");
    assert.equal(runner.terminationMessagePath, "/dev/termination-log");
    assert.deepEqual(runner.resources, {
      requests: { cpu: "250m", memory: "256Mi" },
      limits: { memory: "512Mi" },
    });
    const pw = envOf(runner.env, Env.brokerPassword)[0]!;
    assert.equal(pw.value, undefined, "the broker password is never a plain value");
    assert.equal(pw.valueFrom!.secretKeyRef!.name, "flotilla-min-max-workers-example-3f2a9c1e-broker");
    assert.equal(runner.env![0]!.name, Env.podIp, "POD_IP is defined before $(POD_IP) uses it");
  });

  test("broker is a native sidecar with probes, no password in argv", () => {
    const broker = pod.initContainers![0]!;
    assert.equal(broker.restartPolicy, "Always");
    assert.equal(broker.image, "redis:7.0.15-alpine");
    assert.equal(broker.startupProbe!.tcpSocket!.port, 6379);
    assert.ok(broker.readinessProbe);
    const script = broker.command!.join(" ");
    assert.match(script, /noeviction/);
    assert.match(script, /--save ''/);
    assert.doesNotMatch(
      script,
      /\$\(FLOTILLA_BROKER_PASSWORD\)/,
      "no $(VAR) expansion of the password into argv",
    );
    assert.doesNotMatch(script, /--requirepass/);
  });

  test("no pull secret unless privateRegistry; then appended", () => {
    assert.equal(pod.imagePullSecrets, undefined);
    const { object } = buildRunnerJob(opts({ privateRegistry: true }), {}, run);
    assert.deepEqual(object.spec!.template.spec!.imagePullSecrets, [{ name: "docker-registry-credentials" }]);
  });

  test("broker Secret: labels, base64 password, owner Job", () => {
    const s = buildBrokerSecret(run, "pw-123456", { name: "j", uid: "u" });
    assert.equal(s.metadata!.labels!["flotilla.io/component"], "broker-secret");
    assert.equal(Buffer.from(s.data!.password!, "base64").toString(), "pw-123456");
    assert.deepEqual(s.metadata!.ownerReferences![0]!.uid, "u");
  });
});

describe("runner Job (custom scheduler spec)", () => {
  const spec = schedulerSpec(`apiVersion: batch/v1
kind: Job
metadata:
  name: ignored
  labels: { team: data }
  annotations: { note: kept }
spec:
  backoffLimit: 3
  ttlSecondsAfterFinished: 60
  template:
    metadata:
      labels: { team: data }
    spec:
      restartPolicy: OnFailure
      serviceAccountName: custom-sa
      nodeSelector: { pool: batch }
      tolerations: [{ key: dedicated, operator: Equal, value: flows, effect: NoSchedule }]
      imagePullSecrets: [{ name: mine }, { name: docker-registry-credentials }]
      containers:
        - name: sidecar
          image: busybox
        - name: flotilla
          env: [{ name: MY_VAR, value: "1" }, { name: FLOTILLA_RUN_ID, value: stale }]
          resources: { requests: { cpu: "1" } }
`);
  const { object: job, warnings } = buildRunnerJob(opts({ privateRegistry: true }), { scheduler: spec }, run);
  const pod = job.spec!.template.spec!;
  const c = pod.containers.find((x) => x.name === "flotilla")!;

  test("forced: name, labels merged, backoffLimit 0 (warned), restartPolicy", () => {
    assert.equal(job.metadata!.name, "flotilla-min-max-workers-example-3f2a9c1e");
    assert.equal(job.metadata!.labels!.team, "data");
    assert.equal(job.metadata!.labels!["flotilla.io/component"], "runner");
    assert.equal(job.spec!.template.metadata!.labels!.team, "data");
    assert.equal(job.spec!.backoffLimit, 0);
    assert.ok(warnings.some((w) => w.includes("backoffLimit 3")));
    assert.equal(pod.restartPolicy, "Never");
    assert.ok(warnings.some((w) => w.includes("restartPolicy OnFailure replaced by Never")));
  });

  test("kept: annotations, ttl, service account, nodeSelector, tolerations, resources, other containers", () => {
    assert.equal(job.metadata!.annotations!.note, "kept");
    assert.equal(job.spec!.ttlSecondsAfterFinished, 60);
    assert.equal(pod.serviceAccountName, "custom-sa");
    assert.deepEqual(pod.nodeSelector, { pool: "batch" });
    assert.equal(pod.tolerations![0]!.key, "dedicated");
    assert.deepEqual(c.resources, { requests: { cpu: "1" } });
    assert.equal(pod.containers[0]!.image, "busybox", "the container named flotilla is used, not the first");
  });

  test("env set by name, never duplicated; user env kept; pull secrets deduped", () => {
    assert.equal(envOf(c.env, "MY_VAR")[0]!.value, "1");
    assert.equal(envOf(c.env, Env.runId).length, 1);
    assert.equal(envOf(c.env, Env.runId)[0]!.value, run.runId);
    assert.deepEqual(pod.imagePullSecrets, [{ name: "mine" }, { name: "docker-registry-credentials" }]);
    assert.equal(c.image, run.image, "missing image filled with the flow's");
  });

  test("the user's spec object is not mutated", () => {
    assert.equal(spec.job.metadata!.name, "ignored");
    assert.equal(spec.job.spec!.backoffLimit, 3);
  });
});

describe("worker pod", () => {
  test("default: owner reference, restartPolicy Never, labels, env, resources", () => {
    const { object: pod } = buildWorkerPod(opts(), undefined, run, id);
    assert.equal(pod.metadata!.name, "flotilla-min-max-workers-example-3f2a9c1e-w-w1");
    assert.deepEqual(pod.metadata!.ownerReferences, [
      {
        apiVersion: "v1",
        kind: "Pod",
        name: "runner-pod",
        uid: "uid-123",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(pod.spec!.restartPolicy, "Never");
    assert.equal(pod.metadata!.labels!["flotilla.io/component"], "worker");
    assert.equal(pod.metadata!.labels!["flotilla.io/worker-id"], "w1");
    const c = pod.spec!.containers[0]!;
    assert.deepEqual(c.args, ["worker", "--death-timeout-ms", "30000"]);
    assert.equal(envOf(c.env, Env.brokerUrl)[0]!.value, "redis://10.0.0.7:6379");
    assert.equal(envOf(c.env, Env.concurrency)[0]!.value, "2");
    assert.equal(envOf(c.env, Env.workerId)[0]!.value, "w1");
    assert.ok(envOf(c.env, Env.brokerPassword)[0]!.valueFrom!.secretKeyRef);
    assert.deepEqual(c.resources, { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "1Gi" } });
  });

  test("the seed's worker_spec.yaml as written: replicas → initial workers, --nthreads → concurrency", () => {
    assert.equal(seedWorker.replicas, 2);
    assert.equal(
      (seedWorker.pod.spec as unknown as Record<string, unknown>).replicas,
      undefined,
      "replicas removed before sending",
    );
    const plan = planWorkers(opts({ minWorkers: 1, maxWorkers: 3 }), seedWorker);
    assert.equal(plan.initialWorkers, 2);
    assert.equal(plan.concurrency, 2);
    const w = plan.warnings.join("\n");
    assert.match(w, /--no-bokeh/);
    assert.match(w, /--memory-limit 4GB/);
  });

  test("seed spec merged: user labels, env, resources, imagePullPolicy kept; image kept with a warning", () => {
    const { object: pod, warnings } = buildWorkerPod(opts({ privateRegistry: true }), seedWorker, run, id);
    const c = pod.spec!.containers[0]!;
    assert.equal(pod.metadata!.labels!.foo, "bar");
    assert.equal(c.name, "dask-worker");
    assert.equal(c.image, "gcr.io/dev/dask-k8s-flow:0.1.0");
    assert.ok(warnings.some((x) => x.includes("differs from the flow's image")));
    assert.equal(c.imagePullPolicy, "IfNotPresent");
    assert.deepEqual(c.resources, {
      limits: { cpu: "2", memory: "4G" },
      requests: { cpu: "2", memory: "2G" },
    });
    assert.equal(envOf(c.env, "EXTRA_PIP_PACKAGES").length, 1);
    assert.deepEqual(c.args, ["worker", "--death-timeout-ms", "30000"]);
    assert.deepEqual(pod.spec!.imagePullSecrets, [{ name: "docker-registry-credentials" }]);
    assert.equal(seedWorker.pod.spec!.containers[0]!.args![0], "dask-worker", "the loaded spec is untouched");
  });

  test("kept: volumes, affinity, serviceAccountName, tolerations; forced restartPolicy warned", () => {
    const spec = workerSpec(`kind: Pod
spec:
  restartPolicy: Always
  serviceAccountName: workers
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: gpu, operator: Exists }] }] } } }
  tolerations: [{ key: gpu, operator: Exists }]
  volumes: [{ name: data, emptyDir: {} }]
  containers:
    - name: flotilla
      volumeMounts: [{ name: data, mountPath: /data }]
      env: [{ name: FLOTILLA_CONCURRENCY, value: "9" }]
`);
    const { object: pod, warnings } = buildWorkerPod(opts(), spec, run, id);
    assert.equal(pod.spec!.restartPolicy, "Never");
    assert.ok(warnings.some((w) => w.includes("restartPolicy Always")));
    assert.equal(pod.spec!.serviceAccountName, "workers");
    assert.ok(pod.spec!.affinity!.nodeAffinity);
    assert.equal(pod.spec!.volumes![0]!.name, "data");
    const c = pod.spec!.containers[0]!;
    assert.equal(c.volumeMounts![0]!.mountPath, "/data");
    assert.equal(c.image, run.image);
    assert.deepEqual(
      envOf(c.env, Env.concurrency).map((e) => e.value),
      ["2"],
      "forced by name, once",
    );
  });

  test("explicit workerConcurrency wins over --nthreads; replicas clamped to bounds", () => {
    const plan = planWorkers(opts({ workerConcurrency: 4, minWorkers: 0, maxWorkers: 1 }), seedWorker);
    assert.equal(plan.concurrency, 4);
    assert.equal(plan.initialWorkers, 1);
    assert.ok(plan.warnings.some((w) => w.includes("outside minWorkers..maxWorkers")));
  });
});

test("setEnv replaces in place, appends the rest, drops duplicate user entries", () => {
  const out = setEnv(
    [
      { name: "A", value: "1" },
      { name: "B", value: "x" },
      { name: "A", value: "dup" },
    ],
    [
      { name: "B", value: "forced" },
      { name: "C", value: "3" },
    ],
  );
  assert.deepEqual(out, [
    { name: "A", value: "1" },
    { name: "B", value: "forced" },
    { name: "C", value: "3" },
  ]);
});

test("worker pods inherit the runner pod's pull secrets, deduplicated", () => {
  const { object: pod } = buildWorkerPod(opts({ privateRegistry: true }), undefined, run, {
    ...id,
    pullSecrets: ["docker-registry-credentials", "team-pull"],
  });
  assert.deepEqual(pod.spec!.imagePullSecrets, [
    { name: "docker-registry-credentials" },
    { name: "team-pull" },
  ]);
});

describe("flotilla run --dry-run (the seed's custom worker example)", () => {
  test("prints every object a run creates at start, apiVersion/kind first, no secret value; needs no cluster", async () => {
    const flow = selectFlow(await loadFlowModule("examples/seed-custom-worker/flow.ts"));
    const lines: string[] = [];
    let out = "";
    const result = await runOnKubernetes(flow, {
      parameters: {},
      logger: createLogger({ stream: { write: (l: string) => lines.push(l) } }),
      onEvent: () => {},
      stdout: {
        write: (chunk: string) => {
          out += chunk;
          return true;
        },
      } as unknown as NodeJS.WritableStream,
      dryRun: "json",
      namespace: "team-a",
      kubeconfig: "does-not-exist.kubeconfig", // never read: a dry run touches no cluster
    });
    assert.equal(result.exitCode, 0);
    // biome-ignore lint/suspicious/noExplicitAny: reading arbitrary Kubernetes objects back
    type Loose = Record<string, any>;
    const list = JSON.parse(out) as { kind: string; items: Loose[] };
    assert.equal(list.kind, "List");
    assert.deepEqual(
      list.items.map((o) => `${o.kind} ${o.metadata.name.replace(/[0-9a-f]{8}/, "<run8>")}`),
      [
        "Secret flotilla-custom-worker-spec-kubernetes-exam-<run8>-broker",
        "Job flotilla-custom-worker-spec-kubernetes-exam-<run8>",
        "Pod flotilla-custom-worker-spec-kubernetes-exam-<run8>-w-w1",
        "Pod flotilla-custom-worker-spec-kubernetes-exam-<run8>-w-w2", // the spec's replicas: 2
      ],
    );
    for (const o of list.items) {
      assert.deepEqual(Object.keys(o).slice(0, 2), ["apiVersion", "kind"]);
      assert.equal(o.metadata.namespace, "team-a");
    }
    const [secret, , worker] = list.items;
    assert.equal(secret!.data, undefined, "no value, not even base64");
    assert.match(secret!.stringData.password, /^<generated at launch, never printed>$/);
    assert.equal(secret!.metadata.ownerReferences, undefined, "no placeholder owner uid");
    assert.equal(worker!.metadata.ownerReferences, undefined, "no placeholder owner uid");
    assert.equal(worker!.spec.replicas, undefined, "replicas is not a Pod field: removed");
    assert.deepEqual(worker!.metadata.labels.foo, "bar", "the spec's labels kept");
    const password = worker!.spec.containers[0].env.find(
      (e: IEnvVar) => e.name === "FLOTILLA_BROKER_PASSWORD",
    );
    assert.ok(password.valueFrom.secretKeyRef, "the broker password only by secretKeyRef");
    assert.ok(
      lines.some((l) => l.includes("dask-worker args translated")),
      "the Dask args warning is logged",
    );
  });
});
