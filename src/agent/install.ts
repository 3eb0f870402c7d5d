// What `flotilla agent install kubernetes [--rbac]` prints (pure): the in-cluster agent's
// Deployment (one replica, Recreate, a stable agent id so a replaced pod re-adopts its runs) and,
// with --rbac, its ServiceAccount, a least-privilege Role (rbac/v1, only the verbs the agent calls,
// no `*`) and RoleBinding, plus the runner pods' ServiceAccount, Role and RoleBinding that
// `flotilla rbac` prints. The agent's API token is never in the output: the Deployment reads it from
// a Secret the user creates (`kubectl create secret generic … --from-literal=token=…`).

import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import type { IRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Label, MANAGED_BY } from "../kubernetes/names.ts";
import { buildRbac } from "../kubernetes/rbac.ts";

/** One rule of the agent's Role: what it calls, and why. */
export interface AgentPermission {
  apiGroup: "" | "batch";
  resource: string;
  verbs: readonly string[];
  why: string;
}

/** Every call the Kubernetes agent makes in its namespace (and nothing else). */
export const AGENT_PERMISSIONS: readonly AgentPermission[] = [
  {
    apiGroup: "batch",
    resource: "jobs",
    verbs: ["create", "get", "list", "patch", "delete"],
    why: "create a run's runner Job (suspended) and resume it (patch) once its Secret exists, read it while its pod is missing, find it again after a restart (list by label), cancel it (its Secret goes with it)",
  },
  {
    apiGroup: "",
    resource: "secrets",
    verbs: ["create"],
    why: "the per-run Secret, owned by its Job from creation (read, patched and deleted by nobody: garbage collection removes it with the Job)",
  },
  {
    apiGroup: "",
    resource: "pods",
    verbs: ["list", "watch"],
    why: "one watch over the runner pods of the namespace (state, termination message, why a pod does not start)",
  },
  {
    apiGroup: "",
    resource: "events",
    verbs: ["list"],
    why: "explain a runner pod that does not start (image pull, unschedulable) in the Crashed reason",
  },
];

/** Options of the printed install. */
export interface AgentInstallOptions {
  namespace: string;
  /** The Flotilla server the agent dials out to. */
  server: string;
  /** An image with flotilla as its entrypoint (any image `flotilla build` makes). */
  image: string;
  /** @default "kubernetes" */
  pool?: string;
  /** @default "flotilla-agent" */
  serviceAccount?: string;
  /** The runner pods' service account. @default "flotilla-runner" */
  runnerServiceAccount?: string;
  /** The Secret (key `token`) holding the agent's API token. @default "flotilla-agent-token" */
  tokenSecret?: string;
  /** Also print ServiceAccounts, Roles and RoleBindings. */
  rbac?: boolean;
}

export const AGENT_NAME = "flotilla-agent";
export const TOKEN_SECRET = "flotilla-agent-token";

const labels = { [Label.managedBy]: MANAGED_BY, [Label.component]: "agent" };

/** The agent's Role: AGENT_PERMISSIONS, one rule each. */
export function agentRole(namespace: string, name = AGENT_NAME): IRole {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace, labels },
    rules: AGENT_PERMISSIONS.map((p) => ({
      apiGroups: [p.apiGroup],
      resources: [p.resource],
      verbs: [...p.verbs],
    })),
  };
}

/** The objects `flotilla agent install kubernetes` prints, in the order kubectl applies them. */
export function buildAgentInstall(
  o: AgentInstallOptions,
): (IServiceAccount | IRole | IRoleBinding | IDeployment)[] {
  const ns = o.namespace;
  const sa = o.serviceAccount ?? AGENT_NAME;
  const runnerSa = o.runnerServiceAccount ?? "flotilla-runner";
  const pool = o.pool ?? "kubernetes";
  const objects: (IServiceAccount | IRole | IRoleBinding | IDeployment)[] = [];
  if (o.rbac) {
    objects.push(
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace: ns, labels } },
      agentRole(ns),
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: AGENT_NAME, namespace: ns, labels },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: AGENT_NAME },
      },
      // what the runner pods the agent launches need (the launcher Role is not bound: the agent
      // holds its own)
      ...buildRbac({ namespace: ns, runnerServiceAccount: runnerSa }).filter(
        (x) => x.metadata?.name !== "flotilla-launcher",
      ),
    );
  }
  const selector = { "app.kubernetes.io/name": AGENT_NAME, "app.kubernetes.io/instance": pool };
  objects.push({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: AGENT_NAME, namespace: ns, labels: { ...labels, ...selector } },
    spec: {
      replicas: 1,
      // never two agents of one id at once: the old pod ends before the new one starts
      strategy: { type: "Recreate" },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...labels, ...selector } },
        spec: {
          serviceAccountName: sa,
          containers: [
            {
              name: "agent",
              image: o.image,
              args: [
                "agent",
                "--launcher",
                "kubernetes",
                "--pool",
                pool,
                "--server",
                o.server,
                "--namespace",
                ns,
                "--id",
                `${AGENT_NAME}-${ns}-${pool}`,
                "--service-account",
                runnerSa,
              ],
              env: [
                {
                  name: "FLOTILLA_API_TOKEN",
                  valueFrom: { secretKeyRef: { name: o.tokenSecret ?? TOKEN_SECRET, key: "token" } },
                },
              ],
              resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "512Mi" } },
              securityContext: { allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  });
  return objects;
}
