// Per-kind defaulting done by the API server on create (and on update where Kubernetes re-defaults),
// plus which parts of an object each endpoint may change (main endpoint vs `status`).
import { randomUUID } from "node:crypto";
import { isObject, type KubeObject } from "./objects.ts";
import { podQosClass } from "./quantity.ts";
import type { ResourceType } from "./resources.ts";

function defaultContainer(c: Record<string, unknown>): void {
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  if (c.imagePullPolicy === undefined) {
    const image = String(c.image ?? "");
    const tagged = /:[^/]+$/.test(image) && !image.endsWith(":latest");
    c.imagePullPolicy = tagged || image.includes("@") ? "IfNotPresent" : "Always";
  }
  c.resources ??= {};
  const res = c.resources as Record<string, Record<string, string> | undefined>;
  // requests default to limits, as the API server does
  if (res.limits) res.requests = { ...res.limits, ...(res.requests ?? {}) };
  for (const p of Array.isArray(c.ports) ? c.ports : []) if (isObject(p)) p.protocol ??= "TCP";
}

export function defaultPodSpec(spec: Record<string, unknown>): void {
  spec.restartPolicy ??= "Always";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= "ClusterFirst";
  spec.schedulerName ??= "default-scheduler";
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= "PreemptLowerPriority";
  spec.priority ??= 0;
  if (spec.serviceAccountName === undefined && typeof spec.serviceAccount === "string")
    spec.serviceAccountName = spec.serviceAccount;
  spec.serviceAccountName ??= "default";
  spec.serviceAccount = spec.serviceAccountName;
  for (const c of [...asArray(spec.initContainers), ...asArray(spec.containers)])
    if (isObject(c)) defaultContainer(c);
  spec.tolerations ??= [
    { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
    {
      key: "node.kubernetes.io/unreachable",
      operator: "Exists",
      effect: "NoExecute",
      tolerationSeconds: 300,
    },
  ];
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function defaultJob(obj: KubeObject): void {
  obj.spec ??= {};
  const spec = obj.spec;
  spec.parallelism ??= 1;
  spec.completions ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= "NonIndexed";
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= "TerminatingOrFailed";
  spec.template ??= {};
  const template = spec.template;
  template.metadata ??= {};
  if (!spec.manualSelector) {
    const uid = obj.metadata.uid!;
    spec.selector ??= { matchLabels: { "batch.kubernetes.io/controller-uid": uid } };
    template.metadata.labels = {
      ...(template.metadata.labels ?? {}),
      "batch.kubernetes.io/controller-uid": uid,
      "batch.kubernetes.io/job-name": obj.metadata.name,
      "controller-uid": uid,
      "job-name": obj.metadata.name,
    };
  }
  if (spec.manualSelector === undefined) delete spec.manualSelector;
  template.spec ??= {};
  defaultPodSpec(template.spec);
  obj.status ??= {};
}

let nextClusterIp = 10;

/** Fill in system metadata and per-kind defaults for a new object. */
export function defaultForCreate(rt: ResourceType, obj: KubeObject, now: string): void {
  const meta = obj.metadata;
  meta.uid = randomUUID();
  meta.creationTimestamp = now;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.resourceVersion;
  delete meta.selfLink;
  if (rt.resource === "jobs") meta.generation = 1;
  switch (rt.resource) {
    case "pods": {
      obj.spec ??= {};
      defaultPodSpec(obj.spec);
      obj.status = { phase: "Pending", qosClass: podQosClass(obj.spec) };
      break;
    }
    case "jobs":
      defaultJob(obj);
      break;
    case "namespaces":
      meta.labels = { ...(meta.labels ?? {}), "kubernetes.io/metadata.name": meta.name! };
      obj.spec = { finalizers: ["kubernetes"] };
      obj.status = { phase: "Active" };
      break;
    case "secrets":
      obj.type ??= "Opaque";
      if (isObject(obj.stringData)) {
        obj.data ??= {};
        for (const [k, v] of Object.entries(obj.stringData))
          obj.data[k] = Buffer.from(String(v)).toString("base64");
        delete obj.stringData;
      }
      break;
    case "services": {
      obj.spec ??= {};
      const spec = obj.spec;
      spec.type ??= "ClusterIP";
      spec.sessionAffinity ??= "None";
      spec.internalTrafficPolicy ??= "Cluster";
      spec.ipFamilies ??= ["IPv4"];
      spec.ipFamilyPolicy ??= "SingleStack";
      if (spec.clusterIP === undefined) {
        const ip = `10.96.${Math.floor(nextClusterIp / 250)}.${(nextClusterIp % 250) + 1}`;
        nextClusterIp++;
        spec.clusterIP = ip;
        spec.clusterIPs = [ip];
      }
      for (const p of asArray(spec.ports)) {
        if (isObject(p)) {
          p.protocol ??= "TCP";
          p.targetPort ??= p.port;
        }
      }
      obj.status = { loadBalancer: {} };
      break;
    }
    case "events":
      obj.count ??= 1;
      obj.type ??= "Normal";
      break;
  }
}

/** On update through the main endpoint: keep system fields and (for kinds with a status subresource) status. */
export function prepareForUpdate(rt: ResourceType, next: KubeObject, prev: KubeObject): void {
  const meta = next.metadata;
  meta.uid = prev.metadata.uid;
  meta.creationTimestamp = prev.metadata.creationTimestamp;
  meta.deletionTimestamp = prev.metadata.deletionTimestamp;
  meta.deletionGracePeriodSeconds = prev.metadata.deletionGracePeriodSeconds;
  if (meta.deletionTimestamp === undefined) delete meta.deletionTimestamp;
  if (meta.deletionGracePeriodSeconds === undefined) delete meta.deletionGracePeriodSeconds;
  if (meta.generateName === undefined && prev.metadata.generateName)
    meta.generateName = prev.metadata.generateName;
  if (rt.subresources.includes("status")) {
    if (prev.status === undefined) delete next.status;
    else next.status = prev.status;
  }
  if (rt.resource === "namespaces") next.spec = prev.spec;
  if (rt.resource === "secrets" && isObject(next.stringData)) {
    next.data ??= {};
    for (const [k, v] of Object.entries(next.stringData))
      next.data[k] = Buffer.from(String(v)).toString("base64");
    delete next.stringData;
  }
  if (rt.resource === "pods") {
    next.spec ??= {};
    defaultPodSpec(next.spec);
  }
  if (rt.resource === "jobs") {
    next.spec ??= {};
    next.spec.template ??= {};
    next.spec.template.spec ??= {};
    defaultPodSpec(next.spec.template.spec);
    if (JSON.stringify(next.spec) !== JSON.stringify(prev.spec))
      meta.generation = (prev.metadata.generation ?? 1) + 1;
    else meta.generation = prev.metadata.generation;
  }
}

/** On update through `/status`: only status changes (and nothing else). */
export function prepareForStatusUpdate(next: KubeObject, prev: KubeObject): KubeObject {
  return { ...structuredClone(prev), status: next.status };
}
