// kube-sim against a real kube-apiserver, request by request (issue 12: "when kube-sim and a real
// API server would differ, fix kube-sim"). Sends the same sequence of API requests (the calls Flotilla
// and its users make: creates with labels and owner references, dry-run, strict field validation,
// conflicts, RBAC refusals as a service account, patches, server-side apply, the scale subresource,
// field and label selectors, deletes) to a fresh kube-sim and to the real server, normalises what
// varies between any two servers (uids, resourceVersions, timestamps, generated names, IPs, tokens)
// and prints every difference: status code, Status reason and message, warning headers, fields.
//
//   node scripts/real-apiserver.mjs -- node --import tsx --conditions=flotilla-source scripts/kube-sim-compare.mjs
//   FLOTILLA_REAL_KUBECONFIG=PATH node --import tsx --conditions=flotilla-source scripts/kube-sim-compare.mjs [FILTER]
//
// FILTER keeps the probes whose name contains it. Exits 1 when anything differs. The real server
// needs kube-controller-manager for the default ServiceAccount (pods) and garbage collection.
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import { KubeSim } from "../src/testing/index.ts";

const NS = `cmp-${Date.now().toString(36)}`;

/** `{ server, ca, token }` of a kubeconfig's current context */
function targetOf(kubeconfigPath) {
  const doc = parse(readFileSync(kubeconfigPath, "utf8"));
  const ctx = doc.contexts.find((c) => c.name === doc["current-context"]).context;
  const cluster = doc.clusters.find((c) => c.name === ctx.cluster).cluster;
  const user = doc.users.find((u) => u.name === ctx.user).user;
  const ca = cluster["certificate-authority-data"]
    ? Buffer.from(cluster["certificate-authority-data"], "base64")
    : readFileSync(cluster["certificate-authority"]);
  return { server: cluster.server, ca, token: user.token };
}

function send(target, { method = "GET", path, body, type = "application/json", token, accept }) {
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, target.server), {
      method,
      ca: target.ca,
      headers: {
        authorization: `Bearer ${token ?? target.token}`,
        accept: accept ?? "application/json",
        // a DELETE body needs its length: Node sends it neither chunked nor with a length otherwise
        ...(payload !== undefined
          ? { "content-type": type, "content-length": Buffer.byteLength(payload) }
          : {}),
      },
      timeout: 30_000,
    });
    req.on("response", (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          try {
            json = text
              .trim()
              .split("\n")
              .map((l) => JSON.parse(l)); // a watch: one event a line
          } catch {
            json = text;
          }
        }
        resolve({ code: res.statusCode, warning: res.headers.warning, body: json });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on("error", reject);
    req.end(payload);
  });
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** what differs between any two servers, replaced by placeholders */
function normalise(value, key) {
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "managedFields") continue;
      out[k] = normalise(v, k);
    }
    return out;
  }
  if (typeof value !== "string") return value;
  if (key === "resourceVersion" || key === "continue") return value ? "<rv>" : value;
  if (key === "token" || key === "expirationTimestamp") return "<token>";
  if (key === "clusterIP" || key === "clusterIPs") return "<ip>";
  if (TIME.test(value)) return "<time>";
  return value
    .replace(UUID, "<uid>")
    .replace(/-[bcdfghjklmnpqrstvwxz2456789]{5}\b/g, "-<x>")
    .replace(/\b10\.(9[6-9]|1[01][0-9])\.\d+\.\d+\b/g, "<ip>")
    .replace(/resourceVersion(:|=)\s*"?\d+"?/g, "resourceVersion$1<rv>");
}

/** every path where `a` and `b` differ, with both values */
function diff(a, b, at = "", out = []) {
  if (isDeepStrictEqual(a, b)) return out;
  const isObj = (v) => v && typeof v === "object";
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], `${at}.${k}`, out);
    return out;
  }
  out.push({ at: at || ".", sim: a, real: b });
  return out;
}

const ownerRef = (job) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  name: job.metadata.name,
  uid: job.metadata.uid,
  controller: true,
  blockOwnerDeletion: true,
});
const labels = { "flotilla.io/run": "r1", "app.kubernetes.io/managed-by": "flotilla" };
const job = (name, extra = {}) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name, labels },
  spec: {
    backoffLimit: 0,
    template: {
      metadata: { labels },
      spec: { restartPolicy: "Never", containers: [{ name: "runner", image: "example.com/flow:1" }] },
    },
    ...extra,
  },
});
const secretsPath = `/api/v1/namespaces/${NS}/secrets`;
const jobsPath = `/apis/batch/v1/namespaces/${NS}/jobs`;

/**
 * The probes, in order; each may read earlier answers of the same server (`r.NAME`).
 * `as: "sa"` sends the token of the ServiceAccount `limited` (allowed to get/list pods only).
 */
const PROBES = [
  { name: "ns", method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: NS } } },
  { name: "version-anonymous", path: "/version", token: "" },
  {
    name: "secret-defaults",
    method: "POST",
    path: secretsPath,
    body: { metadata: { name: "s1", labels }, stringData: { a: "x" } },
  },
  { name: "secret-exists", method: "POST", path: secretsPath, body: { metadata: { name: "s1" } } },
  { name: "secret-missing", path: `${secretsPath}/nope` },
  {
    name: "secret-bad-base64",
    method: "POST",
    path: secretsPath,
    body: { metadata: { name: "s2" }, data: { a: "<set by flotilla>" } },
  },
  { name: "secret-bad-name", method: "POST", path: secretsPath, body: { metadata: { name: "Bad_Name" } } },
  {
    name: "secret-bad-label",
    method: "POST",
    path: secretsPath,
    body: { metadata: { name: "s3", labels: { "a/b/c": "x", k: "not valid!" } } },
  },
  {
    name: "secret-strict-unknown",
    method: "POST",
    path: `${secretsPath}?fieldValidation=Strict`,
    body: { metadata: { name: "s4" }, extra: 1, data: { a: "eA==" } },
  },
  {
    name: "secret-warn-unknown",
    method: "POST",
    path: secretsPath,
    body: { metadata: { name: "s5", bogus: true }, extra: 1 },
  },
  {
    name: "secret-strict-dup",
    method: "POST",
    path: `${secretsPath}?fieldValidation=Strict`,
    body: '{"metadata":{"name":"s6","name":"s6"}}',
  },
  {
    name: "secret-dryrun",
    method: "POST",
    path: `${secretsPath}?dryRun=All`,
    body: { metadata: { name: "dry", labels }, stringData: { a: "x" } },
  },
  { name: "secret-dryrun-get", path: `${secretsPath}/dry` },
  {
    name: "secret-dryrun-bad",
    method: "POST",
    path: `${secretsPath}?dryRun=Some`,
    body: { metadata: { name: "dry2" } },
  },
  {
    name: "secret-generate-name",
    method: "POST",
    path: secretsPath,
    body: { metadata: { generateName: "gen-" } },
  },
  { name: "secret-no-name", method: "POST", path: secretsPath, body: { metadata: {} } },
  {
    name: "secret-wrong-ns",
    method: "POST",
    path: secretsPath,
    body: { metadata: { name: "s7", namespace: "other" } },
  },
  {
    name: "secret-wrong-kind",
    method: "POST",
    path: secretsPath,
    body: { kind: "ConfigMap", apiVersion: "v1", metadata: { name: "s8" } },
  },
  {
    name: "secret-type-change",
    method: "PATCH",
    path: `${secretsPath}/s1`,
    type: "application/merge-patch+json",
    body: { type: "kubernetes.io/tls" },
  },
  {
    name: "secret-stale-update",
    method: "PUT",
    path: `${secretsPath}/s1`,
    body: (r) => ({
      ...r["secret-defaults"].body,
      metadata: { ...r["secret-defaults"].body.metadata, resourceVersion: "1" },
    }),
  },
  {
    name: "secret-update-no-rv",
    method: "PUT",
    path: `${secretsPath}/s1`,
    body: { metadata: { name: "s1" }, data: { b: "eQ==" } },
  },
  {
    name: "secret-update-name-mismatch",
    method: "PUT",
    path: `${secretsPath}/s1`,
    body: { metadata: { name: "s9" } },
  },
  { name: "secret-list-limit", path: `${secretsPath}?limit=1` },
  { name: "secret-list-bad-selector", path: `${secretsPath}?labelSelector=a%20in%20(` },
  { name: "secret-list-field-selector", path: `${secretsPath}?fieldSelector=type%3DOpaque` },
  { name: "secret-list-bad-field", path: `${secretsPath}?fieldSelector=spec.x%3Dy` },
  {
    name: "ns-missing-create",
    method: "POST",
    path: "/api/v1/namespaces/nope-ns/secrets",
    body: { metadata: { name: "x" } },
  },
  {
    name: "cm-bad-key",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/configmaps`,
    body: { metadata: { name: "c1" }, data: { "bad key": "v" } },
  },
  {
    name: "cm-create",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/configmaps`,
    body: { metadata: { name: "c2" } },
  },
  { name: "job-create", method: "POST", path: jobsPath, body: job("j1") },
  { name: "job-dryrun", method: "POST", path: `${jobsPath}?dryRun=All`, body: job("j2") },
  {
    name: "job-bad-restart",
    method: "POST",
    path: jobsPath,
    body: {
      ...job("j3"),
      spec: {
        ...job("j3").spec,
        template: { spec: { restartPolicy: "Always", containers: [{ name: "c", image: "x" }] } },
      },
    },
  },
  {
    name: "job-no-containers",
    method: "POST",
    path: jobsPath,
    body: { ...job("j4"), spec: { template: { spec: { restartPolicy: "Never", containers: [] } } } },
  },
  {
    name: "job-template-change",
    method: "PATCH",
    path: `${jobsPath}/j1`,
    type: "application/strategic-merge-patch+json",
    body: { spec: { template: { spec: { containers: [{ name: "runner", image: "example.com/flow:2" }] } } } },
  },
  {
    name: "secret-owned",
    method: "POST",
    path: secretsPath,
    body: (r) => ({
      metadata: { name: "owned", labels, ownerReferences: [ownerRef(r["job-create"].body)] },
      stringData: { p: "x" },
    }),
  },
  {
    name: "secret-owner-placeholder",
    method: "POST",
    path: `${secretsPath}?dryRun=All`,
    body: {
      metadata: {
        name: "ph",
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "j1", uid: "" }],
      },
    },
  },
  {
    name: "secret-owner-two-controllers",
    method: "POST",
    path: `${secretsPath}?dryRun=All`,
    body: (r) => ({
      metadata: {
        name: "two",
        ownerReferences: [
          ownerRef(r["job-create"].body),
          { ...ownerRef(r["job-create"].body), name: "x", uid: "u2" },
        ],
      },
    }),
  },
  {
    name: "sa-create",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/serviceaccounts`,
    body: { metadata: { name: "limited" } },
  },
  {
    name: "role-create",
    method: "POST",
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`,
    body: {
      metadata: { name: "pods-read" },
      rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }],
    },
  },
  {
    name: "rolebinding-create",
    method: "POST",
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`,
    body: {
      metadata: { name: "limited" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pods-read" },
      subjects: [{ kind: "ServiceAccount", name: "limited", namespace: NS }],
    },
  },
  {
    name: "rolebinding-roleref-change",
    method: "PATCH",
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings/limited`,
    type: "application/merge-patch+json",
    body: { roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "other" } },
  },
  {
    name: "sa-token",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/serviceaccounts/limited/token`,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  },
  { name: "sa-list-pods", as: "sa", path: `/api/v1/namespaces/${NS}/pods?labelSelector=none%3Dnone` },
  {
    name: "sa-create-secret",
    as: "sa",
    method: "POST",
    path: secretsPath,
    body: { metadata: { name: "x" } },
  },
  { name: "sa-get-secret", as: "sa", path: `${secretsPath}/s1` },
  { name: "sa-list-secrets-all", as: "sa", path: "/api/v1/secrets" },
  { name: "sa-delete-jobs", as: "sa", method: "DELETE", path: `${jobsPath}/j1` },
  { name: "sa-get-ns", as: "sa", path: `/api/v1/namespaces/${NS}` },
  {
    name: "sa-ssar",
    as: "sa",
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: { spec: { resourceAttributes: { namespace: NS, verb: "create", resource: "secrets" } } },
  },
  {
    name: "sa-ssar-allowed",
    as: "sa",
    method: "POST",
    path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
    body: { spec: { resourceAttributes: { namespace: NS, verb: "list", resource: "pods" } } },
  },
  { name: "bad-token", token: "not-a-token", path: `/api/v1/namespaces/${NS}/pods` },
  {
    name: "pod-missing-sa",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p1" },
      spec: { serviceAccountName: "ghost", containers: [{ name: "c", image: "busybox:1" }] },
    },
  },
  {
    name: "pod-defaults",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p2", labels },
      spec: {
        containers: [
          { name: "c", image: "busybox:1", resources: { limits: { cpu: "500m", memory: "64Mi" } } },
        ],
      },
    },
  },
  {
    name: "pod-bad-image",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: { metadata: { name: "p3" }, spec: { containers: [{ name: "c", image: " bad image" }] } },
  },
  {
    name: "pod-dup-container",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p4" },
      spec: {
        containers: [
          { name: "c", image: "a" },
          { name: "c", image: "b" },
        ],
      },
    },
  },
  {
    name: "pod-sidecar",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p5" },
      spec: {
        initContainers: [{ name: "broker", image: "redis:7", restartPolicy: "Always" }],
        containers: [{ name: "c", image: "a" }],
      },
    },
  },
  {
    name: "pod-bad-requests",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p6" },
      spec: {
        containers: [{ name: "c", image: "a", resources: { requests: { cpu: "2" }, limits: { cpu: "1" } } }],
      },
    },
  },
  {
    name: "pod-list-field",
    path: `/api/v1/namespaces/${NS}/pods?fieldSelector=status.phase%3DRunning,spec.nodeName%3D`,
  },
  { name: "pod-list-bad-field", path: `/api/v1/namespaces/${NS}/pods?fieldSelector=spec.image%3Dx` },
  {
    name: "deploy-create",
    method: "POST",
    path: `/apis/apps/v1/namespaces/${NS}/deployments`,
    body: {
      metadata: { name: "d1", labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "d1" } },
        template: { metadata: { labels: { app: "d1" } }, spec: { containers: [{ name: "c", image: "a" }] } },
      },
    },
  },
  { name: "deploy-scale-get", path: `/apis/apps/v1/namespaces/${NS}/deployments/d1/scale` },
  {
    name: "deploy-scale-patch",
    method: "PATCH",
    path: `/apis/apps/v1/namespaces/${NS}/deployments/d1/scale`,
    type: "application/merge-patch+json",
    body: { spec: { replicas: 3 } },
  },
  {
    name: "deploy-scale-negative",
    method: "PATCH",
    path: `/apis/apps/v1/namespaces/${NS}/deployments/d1/scale`,
    type: "application/merge-patch+json",
    body: { spec: { replicas: -1 } },
  },
  {
    name: "deploy-selector-mismatch",
    method: "POST",
    path: `/apis/apps/v1/namespaces/${NS}/deployments?dryRun=All`,
    body: {
      metadata: { name: "d2" },
      spec: {
        selector: { matchLabels: { app: "x" } },
        template: { metadata: { labels: { app: "y" } }, spec: { containers: [{ name: "c", image: "a" }] } },
      },
    },
  },
  {
    name: "apply-create",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/applied?fieldManager=flotilla`,
    type: "application/apply-patch+yaml",
    body: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "applied", labels },
      data: { a: "1", b: "2" },
    },
  },
  {
    name: "apply-remove-field",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/applied?fieldManager=flotilla`,
    type: "application/apply-patch+yaml",
    body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "applied", labels }, data: { a: "1" } },
  },
  {
    name: "apply-conflict",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/applied?fieldManager=other`,
    type: "application/apply-patch+yaml",
    body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "applied" }, data: { a: "changed" } },
  },
  {
    name: "apply-no-manager",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/applied`,
    type: "application/apply-patch+yaml",
    body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "applied" }, data: { a: "1" } },
  },
  {
    name: "jsonpatch-test-fail",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/c2`,
    type: "application/json-patch+json",
    body: [{ op: "test", path: "/metadata/name", value: "zz" }],
  },
  {
    name: "jsonpatch-bad-op",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/c2`,
    type: "application/json-patch+json",
    body: [{ op: "nope", path: "/data" }],
  },
  {
    name: "patch-bad-type",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/c2`,
    type: "text/plain",
    body: "{}",
  },
  {
    name: "patch-missing",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/configmaps/gone`,
    type: "application/merge-patch+json",
    body: { data: { a: "b" } },
  },
  {
    name: "opts-dryrun-put",
    method: "PUT",
    path: `${secretsPath}/s1?dryRun=Some&dryRun=All`,
    body: { metadata: { name: "s1" } },
  },
  {
    name: "opts-fieldvalidation-bogus",
    method: "POST",
    path: `${secretsPath}?fieldValidation=Bogus`,
    body: { metadata: { name: "fv" } },
  },
  {
    name: "opts-force-merge-patch",
    method: "PATCH",
    path: `${secretsPath}/s1?force=true`,
    type: "application/merge-patch+json",
    body: { metadata: { labels: { a: "b" } } },
  },
  {
    name: "opts-dryrun-patch",
    method: "PATCH",
    path: `${secretsPath}/s1?dryRun=all`,
    type: "application/merge-patch+json",
    body: { metadata: { labels: { a: "b" } } },
  },
  {
    name: "opts-field-manager-long",
    method: "POST",
    path: `${secretsPath}?fieldManager=${"m".repeat(129)}`,
    body: { metadata: { name: "fm" } },
  },
  { name: "opts-delete-dryrun", method: "DELETE", path: `${secretsPath}/s1?dryRun=Nope` },
  {
    name: "opts-delete-orphan-and-policy",
    method: "DELETE",
    path: `${secretsPath}/s1`,
    body: { orphanDependents: true, propagationPolicy: "Background" },
  },
  {
    name: "owner-empty-kind",
    method: "POST",
    path: `${secretsPath}?dryRun=All`,
    body: {
      metadata: { name: "ek", ownerReferences: [{ apiVersion: "a/b/c", kind: "", name: "", uid: "u" }] },
    },
  },
  {
    name: "owner-event-banned",
    method: "POST",
    path: `${secretsPath}?dryRun=All`,
    body: {
      metadata: { name: "ev", ownerReferences: [{ apiVersion: "v1", kind: "Event", name: "e", uid: "u" }] },
    },
  },
  {
    name: "job-template-requests",
    method: "POST",
    path: `${jobsPath}?dryRun=All`,
    body: {
      ...job("j5"),
      spec: {
        ...job("j5").spec,
        template: {
          spec: {
            restartPolicy: "Never",
            containers: [
              {
                name: "c",
                image: " x",
                resources: { requests: { memory: "2Gi", cpu: "-1" }, limits: { memory: "1Gi" } },
              },
            ],
          },
        },
      },
    },
  },
  {
    name: "pod-bad-quantity",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p7" },
      spec: { containers: [{ name: "c", image: "a", resources: { requests: { cpu: "lots" } } }] },
    },
  },
  {
    name: "pod-bad-name-port",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p8" },
      spec: { containers: [{ name: "c", image: "a", ports: [{ containerPort: 70000 }] }] },
    },
  },
  {
    name: "pod-bad-env",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods?dryRun=All`,
    body: {
      metadata: { name: "p9" },
      spec: { containers: [{ name: "c", image: "a", env: [{ name: "1BAD=", value: "x" }] }] },
    },
  },
  {
    name: "watch-from-rv",
    path: (r) =>
      `/api/v1/namespaces/${NS}/configmaps?watch=1&timeoutSeconds=1&resourceVersion=${r["cm-create"].body.metadata.resourceVersion}`,
  },
  {
    name: "watch-initial",
    path: `/api/v1/namespaces/${NS}/configmaps?watch=true&timeoutSeconds=1&labelSelector=flotilla.io%2Frun%3Dr1`,
  },
  {
    name: "watch-bad-rv",
    path: `/api/v1/namespaces/${NS}/configmaps?watch=1&timeoutSeconds=1&resourceVersion=abc`,
  },
  { name: "get-bad-rv", path: `/api/v1/namespaces/${NS}/configmaps?resourceVersion=abc` },
  {
    name: "list-continue-and-rv",
    path: `/api/v1/namespaces/${NS}/configmaps?limit=1&continue=abc&resourceVersion=5`,
  },
  { name: "list-bad-continue", path: `/api/v1/namespaces/${NS}/configmaps?limit=1&continue=abc` },
  { name: "job-delete-default", method: "DELETE", path: `${jobsPath}/j1?dryRun=All` },
  { name: "delete-secret", method: "DELETE", path: `${secretsPath}/s1` },
  { name: "delete-missing", method: "DELETE", path: `${secretsPath}/s1` },
  {
    name: "delete-precondition",
    method: "DELETE",
    path: `/api/v1/namespaces/${NS}/configmaps/c2`,
    body: { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } },
  },
  {
    name: "delete-job-foreground",
    method: "DELETE",
    path: `${jobsPath}/j1`,
    body: { propagationPolicy: "Foreground" },
  },
  {
    name: "delete-deploy-background",
    method: "DELETE",
    path: `/apis/apps/v1/namespaces/${NS}/deployments/d1?propagationPolicy=Background`,
  },
  {
    name: "delete-bad-propagation",
    method: "DELETE",
    path: `/api/v1/namespaces/${NS}/configmaps/applied?propagationPolicy=Sideways`,
  },
  { name: "unknown-resource", path: `/api/v1/namespaces/${NS}/widgets` },
  { name: "unknown-group", path: "/apis/nope.example.com/v1/widgets" },
  { name: "method-not-allowed", method: "PUT", path: `${secretsPath}`, body: {} },
  { name: "ns-delete", method: "DELETE", path: `/api/v1/namespaces/${NS}` },
  { name: "ns-terminating-create", method: "POST", path: secretsPath, body: { metadata: { name: "late" } } },
];

/**
 * Pods need the namespace's `default` ServiceAccount, which kube-controller-manager creates a moment
 * after the namespace: wait up to 20 s for it, then create it (a server without the controller manager).
 */
async function ensureDefaultServiceAccount(target) {
  const path = `/api/v1/namespaces/${NS}/serviceaccounts`;
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if ((await send(target, { path: `${path}/default` })).code === 200) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  await send(target, { method: "POST", path, body: { metadata: { name: "default" } } });
}

async function runProbes(target, filter) {
  const r = {};
  const out = [];
  for (const p of PROBES) {
    const token = p.as === "sa" ? r["sa-token"]?.body?.status?.token : p.token;
    const body = typeof p.body === "function" ? p.body(r) : p.body;
    const path = typeof p.path === "function" ? p.path(r) : p.path;
    const res = await send(target, { ...p, path, body, token });
    r[p.name] = res;
    if (p.name === "ns") await ensureDefaultServiceAccount(target);
    if (!filter || p.name.includes(filter)) out.push({ name: p.name, res });
  }
  return out;
}

async function main() {
  const realPath = process.env.FLOTILLA_REAL_KUBECONFIG;
  if (!realPath)
    throw new Error("kube-sim-compare: set FLOTILLA_REAL_KUBECONFIG (scripts/real-apiserver.mjs sets it)");
  const filter = process.argv[2];
  const real = await runProbes(targetOf(realPath), filter);
  const sim = await KubeSim.start({ images: { "*": { entrypoint: ["/bin/true"] } } });
  let simResults;
  try {
    simResults = await runProbes(targetOf(sim.kubeconfigPath), filter);
  } finally {
    await sim.stop();
  }
  let differing = 0;
  for (let i = 0; i < real.length; i++) {
    const a = normalise({
      code: simResults[i].res.code,
      warning: simResults[i].res.warning,
      body: simResults[i].res.body,
    });
    const b = normalise({ code: real[i].res.code, warning: real[i].res.warning, body: real[i].res.body });
    const d = diff(a, b);
    if (process.env.SHOW_ALL) console.log(`## ${real[i].name} real: ${JSON.stringify(b)}`);
    if (d.length === 0) {
      console.log(`ok   ${real[i].name} (${b.code})`);
      continue;
    }
    differing++;
    console.log(`DIFF ${real[i].name}`);
    for (const { at, sim: s, real: rv } of d)
      console.log(`     ${at}\n       sim:  ${JSON.stringify(s)}\n       real: ${JSON.stringify(rv)}`);
  }
  console.log(`${real.length - differing} same, ${differing} different`);
  process.exitCode = differing ? 1 : 0;
}

main().catch((e) => {
  console.error(e.stack ?? e.message);
  process.exit(2);
});
