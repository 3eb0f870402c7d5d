// kube-sim where fakes most often differ from a real API server, driven by @kubernetes/client-node and
// raw HTTP as clients send it: query-parameter parsing, server-side defaults, nodes, patches.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { KubeSim } from "../src/testing/index.ts";
import { apiError } from "./helpers/kube-sim.ts";

let sim: KubeSim;
let core: k8s.CoreV1Api;

before(async () => {
  sim = await KubeSim.start({ capacity: { cpu: "4", memory: "16Gi" } });
  core = sim.kubeConfig().makeApiClient(k8s.CoreV1Api);
});
after(() => sim.stop());

/** a client-node model as plain JSON, for deepEqual */
const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** raw request as the admin, with a deadline */
async function request(
  path: string,
  init: { method?: string; body?: string; contentType?: string } = {},
): Promise<{ status: number; text: string; contentType: string }> {
  const res = await fetch(`${sim.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
      ...(init.contentType ? { "Content-Type": init.contentType } : {}),
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text(), contentType: res.headers.get("content-type") ?? "" };
}

describe("kube-sim fidelity", { timeout: 60_000 }, () => {
  describe("query parameters as the API server converts them", () => {
    before(async () => {
      await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "q1" } } });
    });

    for (const value of ["true", "True", "TRUE", "1", "t", "yes", ""]) {
      test(`watch=${JSON.stringify(value)} is a watch (only absent, "0" and "false" in any case are false)`, async () => {
        const res = await request(
          `/api/v1/namespaces/default/configmaps?watch=${encodeURIComponent(value)}&timeoutSeconds=1`,
        );
        assert.equal(res.status, 200);
        const events = res.text
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
        assert.deepEqual(
          events.map((e) => `${e.type} ${e.object.metadata.name}`),
          ["ADDED q1"],
        );
      });
    }

    for (const value of ["false", "False", "FALSE", "0"]) {
      test(`watch=${value} is a list`, async () => {
        const res = await request(`/api/v1/namespaces/default/configmaps?watch=${value}`);
        assert.equal(res.status, 200);
        const list = JSON.parse(res.text) as { kind: string; items: unknown[] };
        assert.equal(list.kind, "ConfigMapList");
      });
    }

    test("an integer parameter that is not base-10 digits is 400 with Go's ParseInt error", async () => {
      for (const value of ["abc", "1e1", "0x10", " 5", "1.5"]) {
        const res = await request(`/api/v1/namespaces/default/configmaps?limit=${encodeURIComponent(value)}`);
        assert.equal(res.status, 400, value);
        const status = JSON.parse(res.text) as { reason: string; message: string };
        assert.equal(status.reason, "BadRequest");
        assert.equal(status.message, `strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`);
      }
      const ok = await request("/api/v1/namespaces/default/configmaps?limit=%2B1");
      assert.equal(ok.status, 200);
    });
  });

  describe("JSON Patch (RFC 6902) as the API server applies it", () => {
    const patch = (name: string, ops: unknown) =>
      request(`/api/v1/namespaces/default/configmaps/${name}`, {
        method: "PATCH",
        contentType: "application/json-patch+json",
        body: JSON.stringify(ops),
      });
    before(async () => {
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "jp", finalizers: ["a/x", "b/y", "c/z"] }, data: { a: "1", b: "2" } },
      });
    });
    after(async () => {
      await patch("jp", [{ op: "remove", path: "/metadata/finalizers" }]);
    });

    test("test compares by value (key order does not matter), then the next operations apply", async () => {
      const res = await patch("jp", [
        { op: "test", path: "/data", value: { b: "2", a: "1" } },
        { op: "replace", path: "/data/a", value: "3" },
      ]);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(JSON.parse(res.text).data, { a: "3", b: "2" });
    });

    test("a failed test, a missing path or an index like 1e0 is the API server's generic 422", async () => {
      for (const ops of [
        [{ op: "test", path: "/data/a", value: "nope" }],
        [{ op: "replace", path: "/data/missing", value: "x" }],
        [{ op: "remove", path: "/metadata/finalizers/1e0" }],
        [{ op: "remove", path: "/metadata/finalizers/ 1" }],
        [{ op: "frobnicate", path: "/data" }],
      ]) {
        const res = await patch("jp", ops);
        assert.equal(res.status, 422, JSON.stringify(ops));
        assert.equal(
          res.text,
          `${JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Failure",
            message: "the server rejected our request due to an error in our request",
            reason: "Invalid",
            details: {},
            code: 422,
          })}\n`,
        );
      }
      const cm = await core.readNamespacedConfigMap({ namespace: "default", name: "jp" });
      assert.deepEqual(cm.metadata?.finalizers, ["a/x", "b/y", "c/z"], "nothing applied");
    });

    test("array indexes are read as Go's Atoi reads them: 01 is 1, -1 is the last", async () => {
      const res = await patch("jp", [
        { op: "remove", path: "/metadata/finalizers/01" },
        { op: "replace", path: "/metadata/finalizers/-1", value: "d/w" },
      ]);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(JSON.parse(res.text).metadata.finalizers, ["a/x", "d/w"]);
    });

    test("a body that is not a list of operations is 400", async () => {
      const res = await patch("jp", { op: "add" });
      assert.equal(res.status, 400);
      assert.equal(
        JSON.parse(res.text).message,
        "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
      );
    });
  });

  describe("defaults and admission as a default API server applies them", () => {
    test("Secret: type Opaque; stringData merged into data", async () => {
      const s = await core.createNamespacedSecret({
        namespace: "default",
        body: { metadata: { name: "d-secret" }, stringData: { k: "v" } },
      });
      assert.equal(s.type, "Opaque");
      assert.deepEqual(s.data, { k: Buffer.from("v").toString("base64") });
      assert.equal(s.stringData, undefined);
    });

    test("Pod: container, probe, volume and env defaults; ServiceAccount, Priority and DefaultTolerationSeconds admission", async () => {
      await core.createNamespacedServiceAccount({
        namespace: "default",
        body: { metadata: { name: "puller" }, imagePullSecrets: [{ name: "regcred" }] },
      });
      const pod = await core.createNamespacedPod({
        namespace: "default",
        body: {
          metadata: { name: "d-pod" },
          spec: {
            serviceAccountName: "puller",
            tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
            volumes: [{ name: "scratch" }, { name: "cfg", secret: { secretName: "d-secret" } }],
            containers: [
              {
                name: "a",
                image: "nope.example/app",
                resources: { limits: { cpu: "1" } },
                readinessProbe: { httpGet: { port: 80 } },
                env: [{ name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } }],
                ports: [{ containerPort: 80 }],
              },
              { name: "b", image: "nope.example/app:1.2" },
              {
                name: "c",
                image:
                  "nope.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
              },
            ],
          },
        },
      });
      const spec = pod.spec!;
      const [a, b, c] = spec.containers;
      assert.deepEqual(
        [a?.imagePullPolicy, b?.imagePullPolicy, c?.imagePullPolicy],
        ["Always", "IfNotPresent", "IfNotPresent"],
      );
      assert.equal(a?.terminationMessagePath, "/dev/termination-log");
      assert.equal(a?.terminationMessagePolicy, "File");
      assert.deepEqual(plain(a?.resources?.requests), { cpu: "1" }, "requests default to limits");
      assert.deepEqual(plain(a?.readinessProbe), {
        httpGet: { port: 80, path: "/", scheme: "HTTP" },
        timeoutSeconds: 1,
        periodSeconds: 10,
        successThreshold: 1,
        failureThreshold: 3,
      });
      assert.equal(a?.env?.[0]?.valueFrom?.fieldRef?.apiVersion, "v1");
      assert.equal(a?.ports?.[0]?.protocol, "TCP");
      assert.deepEqual(plain(spec.volumes?.[0]), { name: "scratch", emptyDir: {} });
      assert.equal(spec.volumes?.[1]?.secret?.defaultMode, 420);
      assert.equal(spec.enableServiceLinks, true);
      assert.equal(spec.restartPolicy, "Always");
      assert.equal(spec.dnsPolicy, "ClusterFirst");
      assert.equal(spec.schedulerName, "default-scheduler");
      assert.equal(spec.terminationGracePeriodSeconds, 30);
      assert.deepEqual(plain(spec.securityContext), {});
      assert.equal(spec.priority, 0);
      assert.equal(spec.preemptionPolicy, "PreemptLowerPriority");
      assert.equal(spec.serviceAccount, "puller");
      assert.deepEqual(plain(spec.imagePullSecrets), [{ name: "regcred" }], "copied from the ServiceAccount");
      assert.deepEqual(
        spec.tolerations?.map((t) => `${t.key}:${t.effect}:${t.tolerationSeconds ?? ""}`),
        [
          "gpu:NoSchedule:",
          "node.kubernetes.io/not-ready:NoExecute:300",
          "node.kubernetes.io/unreachable:NoExecute:300",
        ],
        "the admission appends to the pod's own tolerations",
      );
      const token = spec.volumes?.[2];
      assert.match(token?.name ?? "", /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      assert.deepEqual(plain(token?.projected?.sources?.[0]), {
        serviceAccountToken: { expirationSeconds: 3607, path: "token" },
      });
      for (const container of spec.containers)
        assert.deepEqual(plain(container.volumeMounts), [
          { name: token?.name, readOnly: true, mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
        ]);
      await core.deleteNamespacedPod({ namespace: "default", name: "d-pod", gracePeriodSeconds: 0 });
    });

    test("automountServiceAccountToken: false mounts no token; a missing ServiceAccount is 403", async () => {
      const pod = await core.createNamespacedPod({
        namespace: "default",
        body: {
          metadata: { name: "d-notoken" },
          spec: {
            automountServiceAccountToken: false,
            containers: [{ name: "a", image: "nope.example/app:1" }],
          },
        },
      });
      assert.equal(pod.spec?.serviceAccountName, "default");
      assert.equal(pod.spec?.volumes, undefined);
      assert.equal(pod.spec?.containers[0]?.volumeMounts, undefined);
      await core.deleteNamespacedPod({ namespace: "default", name: "d-notoken", gracePeriodSeconds: 0 });
      const err = await apiError(() =>
        core.createNamespacedPod({
          namespace: "default",
          body: {
            metadata: { generateName: "w-" },
            spec: { serviceAccountName: "ghost", containers: [{ name: "a", image: "nope.example/app:1" }] },
          },
        }),
      );
      assert.equal(err.code, 403);
      assert.equal(
        err.message,
        'pods "w-" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found',
      );
    });

    test("Job: SetDefaults_Job (completions only when parallelism is unset too, manualSelector, labels from the template) and a template without Pod-only defaults", async () => {
      const batch = sim.kubeConfig().makeApiClient(k8s.BatchV1Api);
      const job = await batch.createNamespacedJob({
        namespace: "default",
        body: {
          metadata: { name: "d-job" },
          spec: {
            parallelism: 2,
            suspend: true,
            podFailurePolicy: {
              rules: [
                {
                  action: "FailJob",
                  onPodConditions: [
                    { type: "DisruptionTarget" } as k8s.V1PodFailurePolicyOnPodConditionsPattern,
                  ],
                },
              ],
            },
            template: {
              metadata: { labels: { app: "d" } },
              spec: { restartPolicy: "Never", containers: [{ name: "a", image: "nope.example/app:1" }] },
            },
          },
        },
      });
      const spec = job.spec!;
      assert.equal(spec.completions, undefined);
      assert.equal(spec.parallelism, 2);
      assert.equal(spec.backoffLimit, 6);
      assert.equal(spec.manualSelector, false);
      assert.equal(spec.completionMode, "NonIndexed");
      assert.equal(spec.podReplacementPolicy, "Failed", "Failed when a podFailurePolicy is set");
      assert.equal(spec.podFailurePolicy?.rules[0]?.onPodConditions?.[0]?.status, "True");
      assert.deepEqual(job.metadata?.labels, { app: "d" });
      const t = spec.template.spec!;
      assert.equal(t.dnsPolicy, "ClusterFirst");
      assert.equal(t.containers[0]?.imagePullPolicy, "IfNotPresent");
      for (const podOnly of ["enableServiceLinks", "tolerations", "serviceAccountName", "priority"] as const)
        assert.equal(t[podOnly], undefined, `${podOnly} is not defaulted in a template`);
      await batch.deleteNamespacedJob({
        namespace: "default",
        name: "d-job",
        propagationPolicy: "Background",
      });
    });

    test("RoleBinding: roleRef.apiGroup defaulted; Event: no server-side count or type", async () => {
      const rbac = sim.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
      const rb = await rbac.createNamespacedRoleBinding({
        namespace: "default",
        body: {
          metadata: { name: "d-rb" },
          roleRef: { kind: "Role", name: "r" } as k8s.V1RoleRef,
          subjects: [{ kind: "User", name: "u" }],
        },
      });
      assert.equal(rb.roleRef.apiGroup, "rbac.authorization.k8s.io");
      assert.equal(rb.subjects?.[0]?.apiGroup, "rbac.authorization.k8s.io");
      const ev = await core.createNamespacedEvent({
        namespace: "default",
        body: {
          metadata: { name: "d-ev" },
          involvedObject: { kind: "Pod", name: "x" },
          reason: "R",
          message: "m",
        },
      });
      assert.equal(ev.count, undefined);
      assert.equal(ev.type, undefined);
    });
  });

  describe("strategic merge patch driven by the types' patch strategies", () => {
    const smp = (path: string, body: unknown) =>
      request(path, {
        method: "PATCH",
        contentType: "application/strategic-merge-patch+json",
        body: JSON.stringify(body),
      });

    test("ServiceAccount: secrets merge by name, imagePullSecrets (no strategy) is atomic", async () => {
      await core.createNamespacedServiceAccount({
        namespace: "default",
        body: {
          metadata: { name: "smp-sa", finalizers: ["a/x"] },
          secrets: [{ name: "s1" }],
          imagePullSecrets: [{ name: "p1" }, { name: "p2" }],
        },
      });
      const res = await smp("/api/v1/namespaces/default/serviceaccounts/smp-sa", {
        metadata: { finalizers: ["b/y"] },
        secrets: [{ name: "s2" }],
        imagePullSecrets: [{ name: "p3" }],
      });
      assert.equal(res.status, 200, res.text);
      const sa = JSON.parse(res.text);
      // merged; a new item goes before the live ones (apimachinery's order without $setElementOrder)
      assert.deepEqual(sa.secrets, [{ name: "s2" }, { name: "s1" }]);
      assert.deepEqual(sa.imagePullSecrets, [{ name: "p3" }]);
      assert.deepEqual(sa.metadata.finalizers, ["b/y", "a/x"], "finalizers merge as a set");
      const removed = await smp("/api/v1/namespaces/default/serviceaccounts/smp-sa", {
        metadata: { "$deleteFromPrimitiveList/finalizers": ["a/x", "b/y"] },
        secrets: [{ name: "s1", $patch: "delete" }],
      });
      const after = JSON.parse(removed.text);
      assert.equal(after.metadata.finalizers, undefined);
      assert.deepEqual(after.secrets, [{ name: "s2" }]);
    });

    test("Service: ports merge by port; Pod: tolerations are atomic (a patch replaces the list, so removing one is 422)", async () => {
      await core.createNamespacedService({
        namespace: "default",
        body: {
          metadata: { name: "smp-svc" },
          spec: {
            ports: [
              { name: "a", port: 80 },
              { name: "b", port: 81 },
            ],
          },
        },
      });
      const svc = await smp("/api/v1/namespaces/default/services/smp-svc", {
        spec: {
          ports: [
            { port: 81, name: "bb" },
            { port: 82, name: "c" },
          ],
        },
      });
      assert.equal(svc.status, 200, svc.text);
      assert.deepEqual(
        JSON.parse(svc.text).spec.ports.map((p: { name: string; port: number }) => `${p.name}:${p.port}`),
        ["a:80", "bb:81", "c:82"],
      );
      await core.createNamespacedPod({
        namespace: "default",
        body: {
          metadata: { name: "smp-pod" },
          spec: {
            tolerations: [{ key: "x", operator: "Exists" }],
            containers: [{ name: "c", image: "nope.example/app:1" }],
          },
        },
      });
      const pod = await smp("/api/v1/namespaces/default/pods/smp-pod", {
        spec: { tolerations: [{ key: "y", operator: "Exists" }] },
      });
      assert.equal(pod.status, 422, pod.text);
      assert.match(
        JSON.parse(pod.text).message,
        /spec\.tolerations: Forbidden: existing toleration can not be modified/,
      );
      await core.deleteNamespacedPod({ namespace: "default", name: "smp-pod", gracePeriodSeconds: 0 });
    });
  });

  describe("nodes", () => {
    test("the node is listable and readable by name, with the capacity the sim was given", async () => {
      const list = await core.listNode();
      assert.deepEqual(
        list.items.map((n) => n.metadata?.name),
        ["kube-sim-node"],
      );
      const node = await core.readNode({ name: "kube-sim-node" });
      assert.equal(node.kind, "Node");
      assert.equal(node.status?.capacity?.cpu, "4");
      assert.equal(node.status?.allocatable?.memory, "16Gi");
      assert.equal(node.metadata?.labels?.["kubernetes.io/hostname"], "kube-sim-node");
      const ready = node.status?.conditions?.find((c) => c.type === "Ready");
      assert.equal(ready?.status, "True");
      assert.equal(node.status?.nodeInfo?.kubeletVersion, "v1.32.4");
      const missing = await request("/api/v1/nodes/nope");
      assert.equal(missing.status, 404);
      assert.equal(JSON.parse(missing.text).message, 'nodes "nope" not found');
    });

    test("a scheduled pod names that node", async () => {
      await core.createNamespacedPod({
        namespace: "default",
        body: {
          metadata: { name: "bound" },
          spec: { containers: [{ name: "c", image: "nope.example/none:1" }] },
        },
      });
      const pod = await sim.waitFor("pods", "default", "bound", (p) => Boolean(p?.spec?.nodeName));
      await core.readNode({ name: pod.spec.nodeName });
      await core.deleteNamespacedPod({ namespace: "default", name: "bound", gracePeriodSeconds: 0 });
    });
  });
});
