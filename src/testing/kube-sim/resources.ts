// The table of API resources kube-sim serves: one entry per (group, version, resource), with the facts
// discovery, routing, validation and deletion need. Adding a kind starts here.
import { createRequire } from "node:module";

/** A kubernetes-models class; `validate()` throws an ajv-style error list. */
type ModelClass = new (data: never) => { validate(): void };

const requireModel = createRequire(import.meta.url);

/**
 * A kind's kubernetes-models class (its compiled validator from the official schema), required
 * from the kind's own module the first time an object of the kind is validated: a sim that never
 * sees a Deployment or a Service does not load their validators (the index of a group, e.g.
 * `kubernetes-models/v1`, would load every model of it: about 0.4 CPU-s at each start).
 */
function lazyModel(module: string, name: string): ModelClass {
  let model: ModelClass | undefined;
  return function construct(data: never) {
    model ??= (requireModel(`kubernetes-models/${module}`) as Record<string, ModelClass>)[name]!;
    return new model(data);
  } as unknown as ModelClass;
}

export type NameRule = "subdomain" | "label" | "path";

export interface ResourceType {
  group: string;
  version: string;
  /** plural, lower case: `pods` */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  /** subresources served, e.g. `status`, `log` */
  subresources: string[];
  nameRule: NameRule;
  /** DELETE answers with the object (pods, services, serviceaccounts) instead of a success Status */
  deleteReturnsObject: boolean;
  /** the object is not stored (reviews) */
  virtual?: boolean;
  /** client-node model name used for the unknown-field walk, e.g. `V1Pod` */
  clientModel: string;
  model?: ModelClass;
  categories?: string[];
}

const CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function served(
  group: string,
  resource: string,
  kind: string,
  extra: Partial<ResourceType> & Pick<ResourceType, "clientModel">,
): ResourceType {
  return {
    group,
    version: "v1",
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced: true,
    shortNames: [],
    verbs: CRUD,
    subresources: [],
    nameRule: "subdomain",
    deleteReturnsObject: false,
    ...extra,
  };
}

/** a kind of the core group (v1) */
const core = (resource: string, kind: string, extra: Parameters<typeof served>[3]): ResourceType =>
  served("", resource, kind, extra);

export const RESOURCES: readonly ResourceType[] = [
  core("namespaces", "Namespace", {
    namespaced: false,
    shortNames: ["ns"],
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
    subresources: ["status", "finalize"],
    nameRule: "label",
    deleteReturnsObject: true,
    clientModel: "V1Namespace",
    model: lazyModel("v1/Namespace", "Namespace"),
  }),
  core("nodes", "Node", {
    namespaced: false,
    shortNames: ["no"],
    subresources: ["status"],
    clientModel: "V1Node",
    model: lazyModel("v1/Node", "Node"),
  }),
  core("pods", "Pod", {
    shortNames: ["po"],
    subresources: ["status", "log"],
    deleteReturnsObject: true,
    clientModel: "V1Pod",
    model: lazyModel("v1/Pod", "Pod"),
    categories: ["all"],
  }),
  core("secrets", "Secret", { clientModel: "V1Secret", model: lazyModel("v1/Secret", "Secret") }),
  core("configmaps", "ConfigMap", {
    shortNames: ["cm"],
    clientModel: "V1ConfigMap",
    model: lazyModel("v1/ConfigMap", "ConfigMap"),
  }),
  core("serviceaccounts", "ServiceAccount", {
    shortNames: ["sa"],
    subresources: ["token"],
    deleteReturnsObject: true,
    clientModel: "V1ServiceAccount",
    model: lazyModel("v1/ServiceAccount", "ServiceAccount"),
  }),
  core("services", "Service", {
    shortNames: ["svc"],
    subresources: ["status"],
    nameRule: "label",
    deleteReturnsObject: true,
    clientModel: "V1Service",
    model: lazyModel("v1/Service", "Service"),
    categories: ["all"],
  }),
  core("events", "Event", {
    shortNames: ["ev"],
    nameRule: "path",
    clientModel: "CoreV1Event",
    model: lazyModel("v1/Event", "Event"),
  }),
  core("persistentvolumeclaims", "PersistentVolumeClaim", {
    shortNames: ["pvc"],
    subresources: ["status"],
    clientModel: "V1PersistentVolumeClaim",
    model: lazyModel("v1/PersistentVolumeClaim", "PersistentVolumeClaim"),
  }),
  served("apps", "deployments", "Deployment", {
    shortNames: ["deploy"],
    subresources: ["status", "scale"],
    clientModel: "V1Deployment",
    model: lazyModel("apps/v1/Deployment", "Deployment"),
    categories: ["all"],
  }),
  served("apps", "replicasets", "ReplicaSet", {
    shortNames: ["rs"],
    subresources: ["status", "scale"],
    clientModel: "V1ReplicaSet",
    model: lazyModel("apps/v1/ReplicaSet", "ReplicaSet"),
    categories: ["all"],
  }),
  served("batch", "jobs", "Job", {
    subresources: ["status"],
    clientModel: "V1Job",
    model: lazyModel("batch/v1/Job", "Job"),
    categories: ["all"],
  }),
  served("rbac.authorization.k8s.io", "roles", "Role", {
    nameRule: "path",
    clientModel: "V1Role",
    model: lazyModel("rbac.authorization.k8s.io/v1/Role", "Role"),
  }),
  served("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", {
    nameRule: "path",
    clientModel: "V1RoleBinding",
    model: lazyModel("rbac.authorization.k8s.io/v1/RoleBinding", "RoleBinding"),
  }),
  served("admissionregistration.k8s.io", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", {
    namespaced: false,
    subresources: ["status"],
    clientModel: "V1ValidatingAdmissionPolicy",
    model: lazyModel(
      "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicy",
    ),
  }),
  served(
    "admissionregistration.k8s.io",
    "validatingadmissionpolicybindings",
    "ValidatingAdmissionPolicyBinding",
    {
      namespaced: false,
      clientModel: "V1ValidatingAdmissionPolicyBinding",
      model: lazyModel(
        "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
      ),
    },
  ),
  served("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", {
    namespaced: false,
    verbs: ["create"],
    nameRule: "path",
    virtual: true,
    clientModel: "V1SelfSubjectAccessReview",
  }),
];

/** `pods`, `jobs.batch`: the key objects are stored under. */
export function resourceId(rt: Pick<ResourceType, "resource" | "group">): string {
  return rt.group ? `${rt.resource}.${rt.group}` : rt.resource;
}

export function apiVersionOf(rt: Pick<ResourceType, "group" | "version">): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function resourceById(id: string): ResourceType {
  const rt = RESOURCES.find((r) => resourceId(r) === id);
  if (!rt) throw new Error(`kube-sim: unknown resource ${id}`);
  return rt;
}

export function resourceForKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

/** the group versions served, in discovery order */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) seen.set(apiVersionOf(r), { group: r.group, version: r.version });
  return [...seen.values()];
}
