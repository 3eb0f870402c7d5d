// kube-sim API server semantics, driven by @kubernetes/client-node as Flotilla drives a real cluster.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { KubeSim } from "../src/testing/index.ts";
import { apiError, jsonPatch, merge, strategic } from "./helpers/kube-sim.ts";

let sim: KubeSim;
let core: k8s.CoreV1Api;
let rbac: k8s.RbacAuthorizationV1Api;

before(async () => {
  sim = await KubeSim.start({ namespaces: ["team"], watchHistory: 50 });
  core = sim.kubeConfig().makeApiClient(k8s.CoreV1Api);
  rbac = sim.kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
});
after(() => sim.stop());

describe("CRUD and Status errors", () => {
  test("create sets uid, creationTimestamp, resourceVersion; duplicate is 409 AlreadyExists", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "c1" }, data: { a: "1" } },
    });
    assert.match(cm.metadata?.uid ?? "", /^[0-9a-f-]{36}$/);
    assert.match(String(cm.metadata?.resourceVersion), /^\d+$/);
    assert.ok(cm.metadata?.creationTimestamp instanceof Date);
    const err = await apiError(() =>
      core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "c1" } } }),
    );
    assert.deepEqual(
      { ...err, httpCode: undefined },
      {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: 'configmaps "c1" already exists',
        reason: "AlreadyExists",
        details: { name: "c1", kind: "configmaps" },
        code: 409,
        httpCode: undefined,
      },
    );
  });

  test("get of a missing object is 404 NotFound; group-qualified for batch", async () => {
    const err = await apiError(() => core.readNamespacedSecret({ name: "nope", namespace: "default" }));
    assert.equal(err.httpCode, 404);
    assert.equal(err.message, 'secrets "nope" not found');
    assert.deepEqual(err.details, { name: "nope", kind: "secrets" });
    const batch = sim.kubeConfig().makeApiClient(k8s.BatchV1Api);
    const jerr = await apiError(() => batch.readNamespacedJob({ name: "nope", namespace: "default" }));
    assert.equal(jerr.message, 'jobs.batch "nope" not found');
    assert.deepEqual(jerr.details, { name: "nope", group: "batch", kind: "jobs" });
  });

  test("create in a missing namespace is 404 namespaces not found", async () => {
    const err = await apiError(() =>
      core.createNamespacedConfigMap({ namespace: "ghost", body: { metadata: { name: "x" } } }),
    );
    assert.equal(err.code, 404);
    assert.equal(err.message, 'namespaces "ghost" not found');
  });

  test("generateName appends 5 characters from the Kubernetes alphabet", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { generateName: "gen-" } },
    });
    assert.match(cm.metadata?.name ?? "", /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  test("invalid name is 422 with the RFC 1123 message and a field cause", async () => {
    const err = await apiError(() =>
      core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "Bad_Name" } } }),
    );
    assert.equal(err.code, 422);
    assert.equal(err.reason, "Invalid");
    assert.equal(err.details?.kind, "ConfigMap");
    assert.match(
      err.message,
      /^ConfigMap "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    assert.equal(err.details?.causes?.[0]?.field, "metadata.name");
    assert.equal(err.details?.causes?.[0]?.reason, "FieldValueInvalid");
  });

  test("pod without image and with a bad restartPolicy lists both causes", async () => {
    const err = await apiError(() =>
      core.createNamespacedPod({
        namespace: "default",
        body: {
          metadata: { name: "p" },
          spec: { restartPolicy: "Sometimes", containers: [{ name: "c" } as k8s.V1Container] },
        },
      }),
    );
    assert.equal(err.code, 422);
    const fields = err.details?.causes?.map((c) => `${c.field}:${c.reason}`).sort();
    assert.deepEqual(fields, [
      "spec.containers[0].image:FieldValueRequired",
      "spec.restartPolicy:FieldValueNotSupported",
    ]);
  });

  test("label syntax is validated", async () => {
    const err = await apiError(() =>
      core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "l", labels: { "bad key!": "v" } } },
      }),
    );
    assert.equal(err.code, 422);
    assert.equal(err.details?.causes?.[0]?.field, "metadata.labels");
  });

  test("secrets: base64 data and dockerconfigjson are checked", async () => {
    const bad = await apiError(() =>
      core.createNamespacedSecret({
        namespace: "default",
        body: {
          metadata: { name: "pull" },
          type: "kubernetes.io/dockerconfigjson",
          data: { ".dockerconfigjson": Buffer.from("{nope").toString("base64") },
        },
      }),
    );
    assert.equal(bad.code, 422);
    assert.equal(bad.details?.causes?.[0]?.field, "data[.dockerconfigjson]");
    const s = await core.createNamespacedSecret({
      namespace: "default",
      body: { metadata: { name: "s1" }, stringData: { k: "v" } },
    });
    assert.equal(s.data?.k, Buffer.from("v").toString("base64"));
    assert.equal(s.type, "Opaque");
  });

  test("PUT with a stale resourceVersion is 409 Conflict", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "upd" }, data: { v: "1" } },
    });
    const fresh = await core.replaceNamespacedConfigMap({
      name: "upd",
      namespace: "default",
      body: { ...cm, data: { v: "2" } },
    });
    assert.notEqual(fresh.metadata?.resourceVersion, cm.metadata?.resourceVersion);
    const err = await apiError(() =>
      core.replaceNamespacedConfigMap({
        name: "upd",
        namespace: "default",
        body: { ...cm, data: { v: "3" } },
      }),
    );
    assert.equal(err.code, 409);
    assert.equal(err.reason, "Conflict");
    assert.equal(
      err.message,
      'Operation cannot be fulfilled on configmaps "upd": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  test("a no-op update keeps the resourceVersion", async () => {
    const cm = await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "noop" }, data: { v: "1" } },
    });
    const same = await core.patchNamespacedConfigMap(
      { name: "noop", namespace: "default", body: { data: { v: "1" } } },
      merge,
    );
    assert.equal(same.metadata?.resourceVersion, cm.metadata?.resourceVersion);
  });

  test("dryRun=All validates without storing", async () => {
    await core.createNamespacedConfigMap({
      namespace: "default",
      dryRun: "All",
      body: { metadata: { name: "dry" } },
    });
    assert.equal(sim.objects("configmaps", "default").filter((c) => c.metadata.name === "dry").length, 0);
  });
});

describe("unknown fields", () => {
  const raw = (obj: object) => ({
    middleware: [
      {
        pre: (ctx: k8s.RequestContext) => {
          ctx.setBody(JSON.stringify(obj));
          return new k8s.Observable(Promise.resolve(ctx));
        },
        post: (r: k8s.ResponseContext) => new k8s.Observable(Promise.resolve(r)),
      },
    ],
    middlewareMergeStrategy: "append" as const,
  });
  const pod = {
    metadata: { name: "uf" },
    spec: { containers: [{ name: "c", image: "busybox:1", typoField: 1 }], foo: true },
  };

  test("fieldValidation=Strict rejects them with 400 strict decoding error", async () => {
    const err = await apiError(() =>
      core.createNamespacedPod(
        { namespace: "default", body: pod as k8s.V1Pod, fieldValidation: "Strict" },
        raw(pod),
      ),
    );
    assert.equal(err.code, 400);
    assert.equal(err.reason, "BadRequest");
    assert.equal(
      err.message,
      'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].typoField", unknown field "spec.foo"',
    );
  });

  test("default (Warn) accepts, drops them and sends Warning headers", async () => {
    const res = await fetch(`${sim.url}/api/v1/namespaces/default/pods?dryRun=All`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify(pod),
    });
    assert.equal(res.status, 201);
    assert.match(
      res.headers.get("warning") ?? "",
      /299 - "unknown field \\"spec.containers\[0\].typoField\\""/,
    );
    const body = (await res.json()) as { spec: Record<string, unknown> };
    assert.equal(body.spec.foo, undefined);
  });
});

describe("selectors and lists", () => {
  before(async () => {
    for (const [name, labels] of [
      ["s-a", { app: "web", tier: "front" }],
      ["s-b", { app: "web", tier: "back" }],
      ["s-c", { app: "db" }],
    ] as const) {
      await core.createNamespacedConfigMap({ namespace: "team", body: { metadata: { name, labels } } });
    }
  });
  const names = async (labelSelector?: string, fieldSelector?: string) =>
    (await core.listNamespacedConfigMap({ namespace: "team", labelSelector, fieldSelector })).items
      .map((i) => i.metadata?.name)
      .sort();

  test("label selector operators", async () => {
    assert.deepEqual(await names("app=web"), ["s-a", "s-b"]);
    assert.deepEqual(await names("app==web,tier!=back"), ["s-a"]);
    assert.deepEqual(await names("tier in (back, front)"), ["s-a", "s-b"]);
    assert.deepEqual(
      await names("app notin (web)"),
      ["s-c", "kube-root-ca.crt"].filter((n) => n !== "kube-root-ca.crt"),
    );
    assert.deepEqual(await names("tier"), ["s-a", "s-b"]);
    assert.deepEqual(await names("!tier,app"), ["s-c"]);
  });

  test("field selectors and list metadata", async () => {
    assert.deepEqual(await names(undefined, "metadata.name=s-b"), ["s-b"]);
    assert.deepEqual(await names("app", "metadata.name!=s-b"), ["s-a", "s-c"]);
    const list = await core.listNamespacedConfigMap({ namespace: "team" });
    assert.match(String(list.metadata?.resourceVersion), /^\d+$/);
    const err = await apiError(() =>
      core.listNamespacedConfigMap({ namespace: "team", fieldSelector: "spec.bogus=1" }),
    );
    assert.equal(err.code, 400);
  });

  test("cluster-wide list spans namespaces", async () => {
    const all = await core.listConfigMapForAllNamespaces({ labelSelector: "app" });
    assert.ok(all.items.every((i) => i.metadata?.namespace === "team"));
    const sas = await core.listServiceAccountForAllNamespaces();
    assert.ok(sas.items.some((s) => s.metadata?.namespace === "team" && s.metadata?.name === "default"));
  });
});

describe("patch", () => {
  test("merge, JSON and strategic merge patches", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: {
        metadata: { name: "patchme", labels: { a: "1" } },
        spec: {
          nodeName: "elsewhere",
          containers: [
            { name: "c", image: "busybox:1", env: [{ name: "A", value: "1" }] },
            { name: "d", image: "busybox:1" },
          ],
        },
      },
    });
    let p = await core.patchNamespacedPod(
      { name: "patchme", namespace: "default", body: { metadata: { labels: { b: "2", a: null } } } },
      merge,
    );
    assert.deepEqual(p.metadata?.labels, { b: "2" });
    p = await core.patchNamespacedPod(
      {
        name: "patchme",
        namespace: "default",
        body: [{ op: "add", path: "/metadata/annotations", value: { x: "y" } }],
      },
      jsonPatch,
    );
    assert.deepEqual(p.metadata?.annotations, { x: "y" });
    p = await core.patchNamespacedPod(
      {
        name: "patchme",
        namespace: "default",
        body: {
          spec: { containers: [{ name: "d", image: "busybox:2" }] },
          metadata: { finalizers: ["x/y"] },
        },
      },
      strategic,
    );
    assert.deepEqual(
      p.spec?.containers.map((c) => `${c.name}=${c.image}`),
      ["c=busybox:1", "d=busybox:2"],
    );
    assert.equal(p.spec?.containers[0]?.env?.[0]?.value, "1");
    assert.deepEqual(p.metadata?.finalizers, ["x/y"]);
    p = await core.patchNamespacedPod(
      { name: "patchme", namespace: "default", body: { metadata: { finalizers: null } } },
      merge,
    );
    assert.equal(p.metadata?.finalizers, undefined);
  });

  test("pod spec is immutable except images", async () => {
    const err = await apiError(() =>
      core.patchNamespacedPod(
        { name: "patchme", namespace: "default", body: { spec: { restartPolicy: "Never" } } },
        merge,
      ),
    );
    assert.equal(err.code, 422);
    assert.match(err.message, /spec: Forbidden: pod updates may not change fields other than/);
  });

  test("status subresource changes only status; main endpoint ignores status", async () => {
    await core.patchNamespacedPodStatus(
      {
        name: "patchme",
        namespace: "default",
        body: { status: { message: "hi" }, metadata: { labels: { z: "1" } } },
      },
      merge,
    );
    let p = await core.readNamespacedPod({ name: "patchme", namespace: "default" });
    assert.equal(p.status?.message, "hi");
    assert.equal(p.metadata?.labels?.z, undefined);
    p = await core.patchNamespacedPod(
      { name: "patchme", namespace: "default", body: { status: { message: "ignored" } } },
      merge,
    );
    assert.equal(p.status?.message, "hi");
  });

  test("unsupported patch content type is 415", async () => {
    const res = await fetch(`${sim.url}/api/v1/namespaces/default/pods/patchme`, {
      method: "PATCH",
      headers: {
        Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
        "Content-Type": "text/plain",
      },
      body: "{}",
    });
    assert.equal(res.status, 415);
  });
});

describe("watch", () => {
  test("ADDED for existing, then MODIFIED and DELETED; resume from a resourceVersion", async () => {
    const watch = new k8s.Watch(sim.kubeConfig());
    await core.createNamespacedConfigMap({
      namespace: "team",
      body: { metadata: { name: "w1", labels: { w: "1" } } },
    });
    const seen: string[] = [];
    let lastRv = "";
    let resolveDone: () => void;
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const req = await watch.watch(
      "/api/v1/namespaces/team/configmaps",
      { labelSelector: "w=1" },
      (type, obj: k8s.V1ConfigMap) => {
        seen.push(`${type} ${obj.metadata?.name} ${obj.kind}`);
        lastRv = obj.metadata?.resourceVersion ?? "";
        if (type === "DELETED") resolveDone();
      },
      () => {},
    );
    await core.patchNamespacedConfigMap({ name: "w1", namespace: "team", body: { data: { a: "b" } } }, merge);
    await core.createNamespacedConfigMap({ namespace: "team", body: { metadata: { name: "w-other" } } });
    await core.deleteNamespacedConfigMap({ name: "w1", namespace: "team" });
    await done;
    req.abort();
    assert.deepEqual(seen, ["ADDED w1 ConfigMap", "MODIFIED w1 ConfigMap", "DELETED w1 ConfigMap"]);

    const list = await core.listNamespacedConfigMap({ namespace: "team" });
    const rv = list.metadata!.resourceVersion!;
    await core.createNamespacedConfigMap({ namespace: "team", body: { metadata: { name: "w2" } } });
    const resumed: string[] = [];
    const got = new Promise<void>((resolve) => {
      void watch
        .watch(
          "/api/v1/namespaces/team/configmaps",
          { resourceVersion: rv },
          (type, obj: k8s.V1ConfigMap) => {
            resumed.push(`${type} ${obj.metadata?.name}`);
            resolve();
          },
          () => {},
        )
        .then((r) => setTimeout(() => r.abort(), 50));
    });
    await got;
    assert.deepEqual(resumed, ["ADDED w2"]);
    assert.ok(Number(lastRv) > 0);
  });

  test("a resourceVersion older than the history gives one ERROR 410 event, then the stream closes", async () => {
    const start = (await core.listNamespacedConfigMap({ namespace: "team" })).metadata!.resourceVersion!;
    for (let i = 0; i < 60; i++)
      await core.createNamespacedConfigMap({
        namespace: "team",
        body: { metadata: { generateName: "churn-" } },
      });
    const events: { type: string; obj: Record<string, unknown> }[] = [];
    const closed = new Promise<unknown>((resolve) => {
      void new k8s.Watch(sim.kubeConfig()).watch(
        "/api/v1/namespaces/team/configmaps",
        { resourceVersion: start },
        (type, obj) => events.push({ type, obj }),
        resolve,
      );
    });
    await closed;
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type, "ERROR");
    assert.equal(events[0]?.obj.code, 410);
    assert.equal(events[0]?.obj.reason, "Expired");
    assert.match(String(events[0]?.obj.message), /^too old resource version: \d+ \(\d+\)$/);
  });

  test("timeoutSeconds ends the stream", async () => {
    const closed = new Promise<unknown>((resolve) => {
      void new k8s.Watch(sim.kubeConfig()).watch(
        "/api/v1/namespaces/team/secrets",
        { timeoutSeconds: 1 },
        () => {},
        resolve,
      );
    });
    assert.equal(await closed, null);
  });
});

describe("RBAC, TokenRequest and SelfSubjectAccessReview", () => {
  before(async () => {
    await core.createNamespacedServiceAccount({
      namespace: "default",
      body: { metadata: { name: "runner" } },
    });
    await rbac.createNamespacedRole({
      namespace: "default",
      body: {
        metadata: { name: "runner" },
        rules: [
          { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create"] },
          { apiGroups: [""], resources: ["pods/log"], verbs: ["get"], resourceNames: ["allowed"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: "default",
      body: {
        metadata: { name: "runner" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "runner" },
        subjects: [{ kind: "ServiceAccount", name: "runner", namespace: "default" }],
      },
    });
  });

  test("a service account can do what its Role grants and gets Kubernetes' 403 otherwise", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig("default", "runner");
    const sa = kubeConfig.makeApiClient(k8s.CoreV1Api);
    await sa.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "by-sa" } } });
    const err = await apiError(() =>
      sa.createNamespacedPod({
        namespace: "default",
        body: { metadata: { name: "x" }, spec: { containers: [{ name: "c", image: "i" }] } },
      }),
    );
    assert.deepEqual(
      { ...err, httpCode: undefined },
      {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message:
          'pods is forbidden: User "system:serviceaccount:default:runner" cannot create resource "pods" in API group "" in the namespace "default"',
        reason: "Forbidden",
        details: { kind: "pods" },
        code: 403,
        httpCode: undefined,
      },
    );
    const logErr = await apiError(() => sa.readNamespacedPodLog({ name: "w-1", namespace: "default" }));
    assert.equal(
      logErr.message,
      'pods "w-1" is forbidden: User "system:serviceaccount:default:runner" cannot get resource "pods/log" in API group "" in the namespace "default"',
    );
    assert.deepEqual(logErr.details, { name: "w-1", kind: "pods" });
    const jobs = kubeConfig.makeApiClient(k8s.BatchV1Api);
    const jerr = await apiError(() => jobs.listNamespacedJob({ namespace: "default" }));
    assert.equal(
      jerr.message,
      'jobs.batch is forbidden: User "system:serviceaccount:default:runner" cannot list resource "jobs" in API group "batch" in the namespace "default"',
    );
    const cluster = await apiError(() => sa.listNamespace());
    assert.match(cluster.message, /cannot list resource "namespaces" in API group "" at the cluster scope$/);
  });

  test("a service account cannot grant itself more (RBAC escalation check)", async () => {
    const { kubeConfig } = await sim.serviceAccountKubeconfig("default", "runner");
    const r = kubeConfig.makeApiClient(k8s.RbacAuthorizationV1Api);
    const err = await apiError(() =>
      r.createNamespacedRole({
        namespace: "default",
        body: { metadata: { name: "esc" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["*"] }] },
      }),
    );
    assert.equal(err.code, 403);
  });

  test("unknown token is 401", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: sim.url, skipTLSVerify: true }],
      users: [{ name: "u", token: "nope" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    const err = await apiError(() =>
      kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: "default" }),
    );
    assert.equal(err.httpCode, 401);
  });

  test("TokenRequest mints a working token; SSAR answers from the same rules", async () => {
    const tr = await core.createNamespacedServiceAccountToken({
      name: "runner",
      namespace: "default",
      body: { spec: { audiences: [] } },
    });
    const token = tr.status?.token;
    assert.ok(token);
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: sim.url, skipTLSVerify: true }],
      users: [{ name: "u", token }],
      contexts: [{ name: "x", cluster: "c", user: "u", namespace: "default" }],
      currentContext: "x",
    });
    const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
    const yes = await authz.createSelfSubjectAccessReview({
      body: {
        spec: { resourceAttributes: { namespace: "default", verb: "create", resource: "configmaps" } },
      },
    });
    assert.equal(yes.status?.allowed, true);
    assert.equal(
      yes.status?.reason,
      'RBAC: allowed by RoleBinding "runner/default" of Role "runner" to ServiceAccount "runner/default"',
    );
    const no = await authz.createSelfSubjectAccessReview({
      body: {
        spec: { resourceAttributes: { namespace: "default", verb: "delete", resource: "configmaps" } },
      },
    });
    assert.equal(no.status?.allowed, false);
    assert.equal(no.status?.reason, undefined);
    const named = await authz.createSelfSubjectAccessReview({
      body: {
        spec: {
          resourceAttributes: {
            namespace: "default",
            verb: "get",
            resource: "pods",
            subresource: "log",
            name: "allowed",
          },
        },
      },
    });
    assert.equal(named.status?.allowed, true);
  });
});

describe("namespaces and discovery", () => {
  test("deleting a namespace marks it Terminating, refuses new content, empties it, then removes it", async () => {
    await core.createNamespace({ body: { metadata: { name: "doomed" } } });
    await sim.waitFor("serviceaccounts", "doomed", "default", (o) => o !== undefined);
    await core.createNamespacedConfigMap({
      namespace: "doomed",
      body: { metadata: { name: "c", finalizers: ["example.com/hold"] } },
    });
    const ns = await core.deleteNamespace({ name: "doomed" });
    assert.equal((ns as k8s.V1Namespace).status?.phase, "Terminating");
    const err = await apiError(() =>
      core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "late" } } }),
    );
    assert.equal(err.code, 403);
    assert.equal(
      err.message,
      'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated',
    );
    await core.patchNamespacedConfigMap(
      { name: "c", namespace: "doomed", body: { metadata: { finalizers: null } } },
      merge,
    );
    await sim.waitFor("namespaces", "", "doomed", (o) => o === undefined);
  });

  test("KubernetesObjectApi discovers resources and does generic CRUD", async () => {
    const objApi = k8s.KubernetesObjectApi.makeApiClient(sim.kubeConfig());
    const created = await objApi.create({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "generic", namespace: "team" },
      spec: {
        suspend: true,
        template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox:1" }] } },
      },
    } as k8s.KubernetesObject);
    assert.equal(created.metadata?.name, "generic");
    const read = await objApi.read({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "generic", namespace: "team" },
    });
    assert.equal((read as k8s.V1Job).spec?.backoffLimit, 6);
    await objApi.delete(
      { apiVersion: "batch/v1", kind: "Job", metadata: { name: "generic", namespace: "team" } },
      undefined,
      undefined,
      undefined,
      undefined,
      "Background",
    );
  });
});
