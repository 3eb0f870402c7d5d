// The permissions Flotilla needs, as one table: `flotilla rbac` prints Roles built from it and
// `flotilla doctor` checks the same rows with SelfSubjectAccessReview. Invariant: only verbs and
// resources Flotilla calls, no `*`, namespaced Roles only (no ClusterRole).

import type { IRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Label, MANAGED_BY } from "./names.ts";
import { DEFAULT_SERVICE_ACCOUNT } from "./options.ts";

/** Who needs a permission: the launcher (`flotilla run`, `flotilla runs`) or the runner pod. */
export type Actor = "launcher" | "runner";

/** One permission row: an API group, a resource (with subresource), verbs, and why. */
export interface Permission {
  actor: Actor;
  apiGroup: "" | "batch" | "authorization.k8s.io";
  resource: string;
  verbs: readonly string[];
  why: string;
}

/** Every permission Flotilla uses, in its namespace. */
export const PERMISSIONS: readonly Permission[] = [
  {
    actor: "launcher",
    apiGroup: "batch",
    resource: "jobs",
    verbs: ["create", "get", "list", "delete"],
    why: "create, follow and cancel runner Jobs; `flotilla runs`",
  },
  {
    actor: "launcher",
    apiGroup: "",
    resource: "secrets",
    verbs: ["create", "get", "patch", "delete"],
    why: "per-run broker Secret (patch: its owner reference to the Job); image pull Secret (setup)",
  },
  {
    actor: "launcher",
    apiGroup: "",
    resource: "pods",
    verbs: ["get", "list", "watch"],
    why: "follow the runner pod; read its termination message",
  },
  {
    actor: "launcher",
    apiGroup: "",
    resource: "pods/log",
    verbs: ["get"],
    why: "stream the runner's output",
  },
  {
    actor: "launcher",
    apiGroup: "",
    resource: "events",
    verbs: ["list"],
    why: "explain a pod that does not start",
  },
  {
    actor: "runner",
    apiGroup: "",
    resource: "pods",
    verbs: ["create", "get", "list", "watch", "delete", "deletecollection"],
    why: "worker pods (deletecollection: every worker of the run at the end), and the runner pod's own uid for owner references",
  },
  {
    actor: "runner",
    apiGroup: "",
    resource: "events",
    verbs: ["list"],
    why: "explain a worker that does not start",
  },
];

/** The rows of one actor. */
function permissionsOf(actor: Actor): Permission[] {
  return PERMISSIONS.filter((p) => p.actor === actor);
}

/** Options of the printed RBAC. */
export interface RbacOptions {
  namespace: string;
  /** The runner pods' service account. @default "flotilla-runner" */
  runnerServiceAccount?: string;
  /** Bind the launcher Role to this service account (e.g. a CI job's); omitted: Role only. */
  launcherServiceAccount?: string;
}

function role(name: string, namespace: string, actor: Actor): IRole {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace, labels: { [Label.managedBy]: MANAGED_BY } },
    rules: permissionsOf(actor).map((p) => ({
      apiGroups: [p.apiGroup],
      resources: [p.resource],
      verbs: [...p.verbs],
    })),
  };
}

function binding(name: string, namespace: string, roleName: string, serviceAccount: string): IRoleBinding {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace, labels: { [Label.managedBy]: MANAGED_BY } },
    subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: roleName },
  };
}

/** The objects `flotilla rbac` prints: runner ServiceAccount, both Roles, their RoleBindings. */
export function buildRbac(options: RbacOptions): (IServiceAccount | IRole | IRoleBinding)[] {
  const ns = options.namespace;
  const runnerSa = options.runnerServiceAccount ?? DEFAULT_SERVICE_ACCOUNT;
  const objects: (IServiceAccount | IRole | IRoleBinding)[] = [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: runnerSa, namespace: ns, labels: { [Label.managedBy]: MANAGED_BY } },
    },
    role("flotilla-runner", ns, "runner"),
    binding("flotilla-runner", ns, "flotilla-runner", runnerSa),
    role("flotilla-launcher", ns, "launcher"),
  ];
  if (options.launcherServiceAccount) {
    objects.push(binding("flotilla-launcher", ns, "flotilla-launcher", options.launcherServiceAccount));
  }
  return objects;
}

/** One verb on one resource, as SelfSubjectAccessReview asks it. */
export interface AccessCheck {
  actor: Actor;
  apiGroup: string;
  resource: string;
  subresource?: string;
  verb: string;
}

/** Every single check of an actor's rows (one per verb). */
export function accessChecks(actor: Actor): AccessCheck[] {
  return permissionsOf(actor).flatMap((p) => {
    const [resource, subresource] = p.resource.split("/", 2) as [string, string | undefined];
    return p.verbs.map((verb) => ({
      actor,
      apiGroup: p.apiGroup,
      resource,
      ...(subresource ? { subresource } : {}),
      verb,
    }));
  });
}

/** `create pods`, `get pods/log`, `list jobs.batch`: how a check reads in messages. */
export function describeCheck(c: AccessCheck): string {
  const res = c.subresource ? `${c.resource}/${c.subresource}` : c.resource;
  return `${c.verb} ${c.apiGroup ? `${res}.${c.apiGroup}` : res}`;
}
