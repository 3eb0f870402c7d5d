// What the API server fills in: the scheme defaults (Kubernetes' SetDefaults_* functions, applied while
// decoding every write), the strategies' PrepareForCreate (system metadata, Job selector, initial
// status), and which parts of an object each endpoint may change (main endpoint vs `status`).
import { randomUUID } from "node:crypto";
import { clone, isObject, type KubeObject } from "./objects.ts";
import { podQosClass } from "./quantity.ts";
import type { ResourceType } from "./resources.ts";

// --- scheme defaults (SetDefaults_* of core/v1, apps/v1, batch/v1, rbac/v1): applied on every decode

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function objects(v: unknown): Record<string, unknown>[] {
  return asArray(v).filter(isObject);
}

/** Go's parsers.ParseImageName: the tag, `latest` when there is neither tag nor digest. */
function imageTag(image: string): string {
  const [name, digest] = image.split("@") as [string, string | undefined];
  const last = name.slice(name.lastIndexOf("/") + 1);
  const colon = last.lastIndexOf(":");
  if (colon >= 0) return last.slice(colon + 1);
  return digest === undefined ? "latest" : "";
}

function defaultProbe(p: unknown): void {
  if (!isObject(p)) return;
  p.timeoutSeconds ||= 1;
  p.periodSeconds ||= 10;
  p.successThreshold ||= 1;
  p.failureThreshold ||= 3;
  if (isObject(p.httpGet)) {
    p.httpGet.path ||= "/";
    p.httpGet.scheme ||= "HTTP";
  }
}

function defaultFieldRef(ref: unknown): void {
  if (isObject(ref)) ref.apiVersion ||= "v1";
}

/** SetDefaults_Container plus the defaults of what a container holds (ports, probes, env fieldRefs). */
function defaultContainer(c: Record<string, unknown>): void {
  if (!c.imagePullPolicy)
    c.imagePullPolicy = imageTag(String(c.image ?? "")) === "latest" ? "Always" : "IfNotPresent";
  c.terminationMessagePath ||= "/dev/termination-log";
  c.terminationMessagePolicy ||= "File";
  c.resources ??= {};
  for (const p of objects(c.ports)) p.protocol ||= "TCP";
  for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) defaultProbe(probe);
  for (const e of objects(c.env)) if (isObject(e.valueFrom)) defaultFieldRef(e.valueFrom.fieldRef);
}

/** SetDefaults_Volume and the volume sources' defaultMode (0644) and projections. */
function defaultVolume(v: Record<string, unknown>): void {
  const sources = Object.keys(v).filter((k) => k !== "name");
  if (sources.length === 0) v.emptyDir = {};
  for (const key of ["secret", "configMap", "downwardAPI", "projected"]) {
    const src = v[key];
    if (isObject(src)) src.defaultMode ??= 420;
  }
  if (isObject(v.hostPath)) v.hostPath.type ??= "";
  for (const item of objects(isObject(v.downwardAPI) ? v.downwardAPI.items : []))
    defaultFieldRef(item.fieldRef);
  for (const source of objects(isObject(v.projected) ? v.projected.sources : [])) {
    if (isObject(source.serviceAccountToken)) source.serviceAccountToken.expirationSeconds ??= 3600;
    for (const item of objects(isObject(source.downwardAPI) ? source.downwardAPI.items : []))
      defaultFieldRef(item.fieldRef);
  }
}

/** SetDefaults_PodSpec and everything below it: what a Pod and a Job's pod template both get. */
export function defaultPodSpec(spec: Record<string, unknown>): void {
  spec.dnsPolicy ||= "ClusterFirst";
  spec.restartPolicy ||= "Always";
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ||= "default-scheduler";
  for (const c of [
    ...objects(spec.initContainers),
    ...objects(spec.containers),
    ...objects(spec.ephemeralContainers),
  ])
    defaultContainer(c);
  for (const v of objects(spec.volumes)) defaultVolume(v);
}

/** SetDefaults_Pod: requests default to limits (containers and init containers), enableServiceLinks. */
function defaultPod(obj: KubeObject): void {
  obj.spec ??= {};
  const spec = obj.spec;
  if (!isObject(spec)) return;
  defaultPodSpec(spec);
  for (const c of [...objects(spec.containers), ...objects(spec.initContainers)]) {
    const res = c.resources;
    if (isObject(res) && isObject(res.limits))
      res.requests = { ...res.limits, ...(isObject(res.requests) ? res.requests : {}) };
  }
  spec.enableServiceLinks ??= true;
}

/** SetDefaults_Job (before the strategy adds selector and controller labels). */
function defaultJobSpec(obj: KubeObject): void {
  obj.spec ??= {};
  const spec = obj.spec;
  if (!isObject(spec)) return;
  if (spec.completions === undefined && spec.parallelism === undefined) {
    spec.completions = 1;
    spec.parallelism = 1;
  }
  spec.parallelism ??= 1;
  spec.backoffLimit ??= spec.backoffLimitPerIndex !== undefined ? 2147483647 : 6;
  const template = spec.template;
  const templateLabels =
    isObject(template) && isObject(template.metadata) ? template.metadata.labels : undefined;
  if (isObject(templateLabels) && Object.keys(obj.metadata.labels ?? {}).length === 0)
    obj.metadata.labels = { ...(templateLabels as Record<string, string>) };
  spec.completionMode ??= "NonIndexed";
  spec.suspend ??= false;
  for (const rule of objects(isObject(spec.podFailurePolicy) ? spec.podFailurePolicy.rules : []))
    for (const pattern of objects(rule.onPodConditions)) pattern.status ||= "True";
  spec.podReplacementPolicy ??= spec.podFailurePolicy !== undefined ? "Failed" : "TerminatingOrFailed";
  spec.manualSelector ??= false;
  defaultTemplate(spec);
}

/**
 * the pod template of a Job or a workload: SetDefaults_PodSpec below it, and the template's
 * ObjectMeta written out as Go serialises it (a zero `creationTimestamp` is `null`, never omitted)
 */
function defaultTemplate(spec: Record<string, unknown>): void {
  spec.template ??= {};
  if (!isObject(spec.template)) return;
  spec.template.metadata ??= {};
  if (isObject(spec.template.metadata) && !("creationTimestamp" in spec.template.metadata))
    spec.template.metadata.creationTimestamp = null;
  spec.template.spec ??= {};
  if (isObject(spec.template.spec)) defaultPodSpec(spec.template.spec);
}

/** SetDefaults_Deployment (apps/v1): replicas, RollingUpdate 25%/25%, revisionHistoryLimit, progress deadline. */
function defaultDeploymentSpec(obj: KubeObject): void {
  obj.spec ??= {};
  const spec = obj.spec;
  if (!isObject(spec)) return;
  spec.replicas ??= 1;
  spec.strategy ??= {};
  const strategy = spec.strategy;
  if (isObject(strategy)) {
    strategy.type ||= "RollingUpdate";
    if (strategy.type === "RollingUpdate") {
      strategy.rollingUpdate ??= {};
      if (isObject(strategy.rollingUpdate)) {
        strategy.rollingUpdate.maxUnavailable ??= "25%";
        strategy.rollingUpdate.maxSurge ??= "25%";
      }
    }
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultTemplate(spec);
}

/** SetDefaults_ReplicaSet (apps/v1): replicas. */
function defaultReplicaSetSpec(obj: KubeObject): void {
  obj.spec ??= {};
  const spec = obj.spec;
  if (!isObject(spec)) return;
  spec.replicas ??= 1;
  defaultTemplate(spec);
}

/**
 * The scheme defaults the API server applies while decoding any write (create, update, patch) of `rt`,
 * before validation: Kubernetes' SetDefaults_* for the kinds kube-sim serves.
 */
export function setDefaults(rt: ResourceType, obj: KubeObject): void {
  switch (rt.resource) {
    case "pods":
      defaultPod(obj);
      break;
    case "jobs":
      defaultJobSpec(obj);
      break;
    case "deployments":
      defaultDeploymentSpec(obj);
      break;
    case "replicasets":
      defaultReplicaSetSpec(obj);
      break;
    case "persistentvolumeclaims":
      if (isObject(obj.spec)) obj.spec.volumeMode ||= "Filesystem";
      break;
    case "secrets":
      obj.type ||= "Opaque";
      break;
    case "namespaces":
      if (obj.metadata.name)
        obj.metadata.labels = {
          ...(obj.metadata.labels ?? {}),
          "kubernetes.io/metadata.name": obj.metadata.name,
        };
      if (isObject(obj.status)) obj.status.phase ||= "Active";
      break;
    case "nodes":
      if (isObject(obj.status) && obj.status.allocatable === undefined && obj.status.capacity !== undefined)
        obj.status.allocatable = clone(obj.status.capacity);
      break;
    case "rolebindings":
      if (isObject(obj.roleRef)) obj.roleRef.apiGroup ||= "rbac.authorization.k8s.io";
      for (const s of objects(obj.subjects))
        if (!s.apiGroup && (s.kind === "User" || s.kind === "Group"))
          s.apiGroup = "rbac.authorization.k8s.io";
      break;
    case "services": {
      obj.spec ??= {};
      const spec = obj.spec;
      if (!isObject(spec)) break;
      spec.sessionAffinity ||= "None";
      spec.type ||= "ClusterIP";
      for (const p of objects(spec.ports)) {
        p.protocol ||= "TCP";
        if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === "") p.targetPort = p.port;
      }
      if (["ClusterIP", "NodePort", "LoadBalancer"].includes(String(spec.type)))
        spec.internalTrafficPolicy ??= "Cluster";
      if (spec.type === "NodePort" || spec.type === "LoadBalancer") spec.externalTrafficPolicy ||= "Cluster";
      if (spec.type === "LoadBalancer") spec.allocateLoadBalancerNodePorts ??= true;
      break;
    }
  }
  if (isObject(obj.stringData) && rt.resource === "secrets") {
    // stringData is write-only: merged into data as the internal conversion does
    obj.data ??= {};
    for (const [k, v] of Object.entries(obj.stringData))
      obj.data[k] = Buffer.from(String(v)).toString("base64");
    delete obj.stringData;
  }
}

// --- strategy (PrepareForCreate / PrepareForUpdate) ------------------------------------------------

/** The Job strategy's generated selector and controller labels (when manualSelector is not true). */
function prepareJob(obj: KubeObject): void {
  const spec = obj.spec;
  const template = spec.template;
  template.metadata ??= {};
  if (spec.manualSelector !== true) {
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
  obj.status = {};
}

let nextClusterIp = 10;

/** kinds whose metadata.generation counts spec changes */
const GENERATION_KEPT = new Set(["jobs", "deployments", "replicasets"]);

/** Fill in system metadata and per-kind defaults for a new object. */
export function defaultForCreate(rt: ResourceType, obj: KubeObject, now: string): void {
  const meta = obj.metadata;
  meta.uid = randomUUID();
  meta.creationTimestamp = now;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.resourceVersion;
  delete meta.selfLink;
  if (GENERATION_KEPT.has(rt.resource)) meta.generation = 1;
  switch (rt.resource) {
    case "deployments":
    case "replicasets":
      obj.status = {};
      break;
    case "persistentvolumeclaims":
      obj.status = { phase: "Pending" };
      break;
    case "pods":
      obj.status = { phase: "Pending", qosClass: podQosClass(obj.spec ?? {}) };
      break;
    case "jobs":
      prepareJob(obj);
      break;
    case "namespaces":
      obj.spec = { finalizers: ["kubernetes"] };
      obj.status = { phase: "Active" };
      break;
    case "services": {
      const spec = obj.spec;
      spec.ipFamilies ??= ["IPv4"];
      spec.ipFamilyPolicy ??= "SingleStack";
      if (spec.clusterIP === undefined) {
        const ip = `10.96.${Math.floor(nextClusterIp / 250)}.${(nextClusterIp % 250) + 1}`;
        nextClusterIp++;
        spec.clusterIP = ip;
        spec.clusterIPs = [ip];
      }
      obj.status = { loadBalancer: {} };
      break;
    }
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
  if (GENERATION_KEPT.has(rt.resource)) {
    if (JSON.stringify(next.spec) !== JSON.stringify(prev.spec))
      meta.generation = (prev.metadata.generation ?? 1) + 1;
    else meta.generation = prev.metadata.generation;
  }
}

/** On update through `/status`: only status changes (and nothing else). */
export function prepareForStatusUpdate(next: KubeObject, prev: KubeObject): KubeObject {
  return { ...structuredClone(prev), status: next.status };
}
