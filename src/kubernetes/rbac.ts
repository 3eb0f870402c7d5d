// The permissions Flotilla needs, as one table: `flotilla rbac` prints Roles built from it and
// `flotilla doctor` checks the same rows with SelfSubjectAccessReview. Invariants: only verbs and
// resources Flotilla calls, no `*`, namespaced Roles only (no ClusterRole); the launcher may
// create Secrets but read none but the image pull Secret (by name) and patch or delete none (a
// run's Secret is owned by its Job and goes with it); worker pods run under their own account
// with no Role and no token. `create pods` lets the runner start a pod under any ServiceAccount of
// its namespace: `buildAdmissionPolicy` prints the ValidatingAdmissionPolicy that confines it.

import type { IRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Label, MANAGED_BY, pullSecretName } from "./names.ts";
import { DEFAULT_DOCKER_SECRET, DEFAULT_SERVICE_ACCOUNT, DEFAULT_WORKER_SERVICE_ACCOUNT } from "./options.ts";

/** Who needs a permission: the launcher (`flotilla run`, `flotilla runs`) or the runner pod. */
export type Actor = "launcher" | "runner";

/** One permission row: an API group, a resource (with subresource), verbs, and why. */
export interface Permission {
  actor: Actor;
  apiGroup: "" | "batch" | "authorization.k8s.io";
  resource: string;
  verbs: readonly string[];
  /** Only the objects of these names; "pull-secret" is the image pull Secret's name. */
  resourceNames?: readonly "pull-secret"[];
  why: string;
}

/** Every permission Flotilla uses, in its namespace. */
export const PERMISSIONS: readonly Permission[] = [
  {
    actor: "launcher",
    apiGroup: "batch",
    resource: "jobs",
    verbs: ["create", "get", "list", "patch", "delete"],
    why: "create (suspended), resume (patch), follow and cancel runner Jobs; `flotilla runs`",
  },
  {
    actor: "launcher",
    apiGroup: "",
    resource: "secrets",
    verbs: ["create"],
    why: "the per-run Secret, created owned by its Job (garbage collection deletes it with the Job); the image pull Secret when missing (setup)",
  },
  {
    actor: "launcher",
    apiGroup: "",
    resource: "secrets",
    verbs: ["get"],
    resourceNames: ["pull-secret"],
    why: "setup: whether the image pull Secret exists (privateRegistry); no other Secret is readable",
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
  /** The worker pods' service account (no Role, no token). @default "flotilla-worker" */
  workerServiceAccount?: string;
  /** The image pull Secret's name (the launcher may read only it). @default from DOCKER_REGISTRY_CREDENTIALS */
  pullSecret?: string;
  /** Bind the launcher Role to this service account (e.g. a CI job's); omitted: Role only. */
  launcherServiceAccount?: string;
}

/** The default image pull Secret's name (from the default Flotilla secret). */
export const DEFAULT_PULL_SECRET = pullSecretName(DEFAULT_DOCKER_SECRET);

function namesOf(p: Permission, pullSecret: string): string[] | undefined {
  return p.resourceNames?.map((n) => (n === "pull-secret" ? pullSecret : n));
}

function role(name: string, namespace: string, actor: Actor, pullSecret: string): IRole {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace, labels: { [Label.managedBy]: MANAGED_BY } },
    rules: permissionsOf(actor).map((p) => {
      const names = namesOf(p, pullSecret);
      return {
        apiGroups: [p.apiGroup],
        resources: [p.resource],
        ...(names ? { resourceNames: names } : {}),
        verbs: [...p.verbs],
      };
    }),
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

/**
 * The objects `flotilla rbac` prints: the runner's and the workers' ServiceAccounts (the workers'
 * mounts no token and has no Role), both Roles, their RoleBindings.
 */
export function buildRbac(options: RbacOptions): (IServiceAccount | IRole | IRoleBinding)[] {
  const ns = options.namespace;
  const runnerSa = options.runnerServiceAccount ?? DEFAULT_SERVICE_ACCOUNT;
  const workerSa = options.workerServiceAccount ?? DEFAULT_WORKER_SERVICE_ACCOUNT;
  const pullSecret = options.pullSecret ?? DEFAULT_PULL_SECRET;
  const labels = { [Label.managedBy]: MANAGED_BY };
  const objects: (IServiceAccount | IRole | IRoleBinding)[] = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: runnerSa, namespace: ns, labels } },
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: workerSa, namespace: ns, labels },
      automountServiceAccountToken: false,
    },
    role("flotilla-runner", ns, "runner", pullSecret),
    binding("flotilla-runner", ns, "flotilla-runner", runnerSa),
    role("flotilla-launcher", ns, "launcher", pullSecret),
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
  /** One object's name, for a row limited by resourceNames. */
  name?: string;
  verb: string;
}

/** Every single check of an actor's rows (one per verb, and per name of a row limited to names). */
export function accessChecks(actor: Actor, options: { pullSecret?: string } = {}): AccessCheck[] {
  const pullSecret = options.pullSecret ?? DEFAULT_PULL_SECRET;
  return permissionsOf(actor).flatMap((p) => {
    const [resource, subresource] = p.resource.split("/", 2) as [string, string | undefined];
    const names: (string | undefined)[] = namesOf(p, pullSecret) ?? [undefined];
    return p.verbs.flatMap((verb) =>
      names.map((name) => ({
        actor,
        apiGroup: p.apiGroup,
        resource,
        ...(subresource ? { subresource } : {}),
        ...(name !== undefined ? { name } : {}),
        verb,
      })),
    );
  });
}

/** `create pods`, `get pods/log`, `list jobs.batch`, `get secrets/NAME`: how a check reads in messages. */
export function describeCheck(c: AccessCheck): string {
  const res = c.subresource ? `${c.resource}/${c.subresource}` : c.resource;
  return `${c.verb} ${c.apiGroup ? `${res}.${c.apiGroup}` : res}${c.name !== undefined ? ` "${c.name}"` : ""}`;
}
