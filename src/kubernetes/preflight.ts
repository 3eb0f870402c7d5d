// Preflight checks of a cluster for Flotilla, beyond RBAC verbs: the API server answers and is
// recent enough (native sidecar containers, which run the broker, need Kubernetes 1.29+), the
// namespace exists, the runner's ServiceAccount exists and its Role is bound to it, the workers'
// ServiceAccount exists. Each check
// gives a reason and a fix; a check this identity may not make is "unknown", never a false "ok".
// `flotilla doctor` prints them; the launcher names the same reasons when a run hits one.

import * as k8s from "@kubernetes/client-node";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { KubeClients } from "./client.ts";
import { isNotFound, translateApiError } from "./errors.ts";
import { pullSecretName } from "./names.ts";
import { pullSecretProblem, type SecretReader } from "./pull-secret.ts";

/** The oldest Kubernetes Flotilla runs on: native sidecars (init containers with restartPolicy Always). */
export const MINIMUM_KUBERNETES = { major: 1, minor: 29 } as const;

/** One preflight check's outcome. */
export interface PreflightCheck {
  /** What was checked, e.g. `namespace "team" exists`. */
  check: string;
  status: "ok" | "missing" | "unknown";
  /** Why it is missing or could not be checked. */
  reason?: string;
  /** How to fix it. */
  fix?: string;
}

/** The code of an API error, if it is one. */
function codeOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown };
  return typeof e?.code === "number" ? e.code : typeof e?.statusCode === "number" ? e.statusCode : undefined;
}

/** The server's version, and whether it is at least the minimum. */
export async function checkServerVersion(clients: Pick<KubeClients, "kubeConfig">): Promise<PreflightCheck> {
  const check = `the API server answers and runs Kubernetes ${MINIMUM_KUBERNETES.major}.${MINIMUM_KUBERNETES.minor}+`;
  let info: k8s.VersionInfo;
  try {
    info = await clients.kubeConfig.makeApiClient(k8s.VersionApi).getCode();
  } catch (error) {
    const e = translateApiError(error, { verb: "get", resource: "/version" });
    return {
      check,
      status: "missing",
      reason: e.message,
      fix: e.hint ?? "check the kubeconfig's server address (kubectl cluster-info)",
    };
  }
  const major = Number.parseInt(info.major, 10);
  const minor = Number.parseInt(info.minor, 10);
  const version = info.gitVersion || `${info.major}.${info.minor}`;
  if (
    !Number.isFinite(major) ||
    !Number.isFinite(minor) ||
    major < MINIMUM_KUBERNETES.major ||
    (major === MINIMUM_KUBERNETES.major && minor < MINIMUM_KUBERNETES.minor)
  ) {
    return {
      check,
      status: "missing",
      reason: `the server runs Kubernetes ${version}; Flotilla runs the broker as a native sidecar container, which needs ${MINIMUM_KUBERNETES.major}.${MINIMUM_KUBERNETES.minor} or later`,
      fix: `upgrade the cluster to Kubernetes ${MINIMUM_KUBERNETES.major}.${MINIMUM_KUBERNETES.minor}+`,
    };
  }
  return { check, status: "ok", reason: `Kubernetes ${version}` };
}

/** The fix `flotilla doctor` and a failed run both give for missing RBAC objects. */
export const applyRbacFix = (namespace: string) =>
  `apply the printed RBAC: \`flotilla rbac -n ${namespace} | kubectl apply -f -\``;

/** A missing namespace, as doctor reports it and a run that hits it fails. */
export function namespaceMissing(namespace: string): PreflightCheck {
  return {
    check: `namespace "${namespace}" exists`,
    status: "missing",
    reason: `namespace "${namespace}" does not exist`,
    fix: `create it (\`kubectl create namespace ${namespace}\`) or choose another with -n`,
  };
}

/** A missing runner ServiceAccount, as doctor reports it and a run that hits it fails. */
export function runnerAccountMissing(namespace: string, serviceAccount: string): PreflightCheck {
  return {
    check: `the runner's ServiceAccount "${serviceAccount}" exists in namespace "${namespace}"`,
    status: "missing",
    reason: `ServiceAccount "${serviceAccount}" does not exist: Kubernetes refuses to create the runner pod`,
    fix: applyRbacFix(namespace),
  };
}

/** A failed check as the error a run fails with: the same reason and fix doctor prints. */
export function preflightError(c: PreflightCheck): FlotillaError {
  return new FlotillaError(ErrorCode.Kubernetes, c.reason ?? c.check, {
    ...(c.fix ? { hint: `${c.fix} (\`flotilla doctor\` checks this)` } : {}),
  });
}

/**
 * Whether `namespace` exists: a GET of the namespace, else (no `get namespaces`, a cluster-scoped
 * permission few launchers hold) a dry-run create of a Secret there, which nothing stores.
 */
export async function checkNamespace(
  clients: Pick<KubeClients, "core">,
  namespace: string,
): Promise<PreflightCheck> {
  const check = `namespace "${namespace}" exists`;
  const missing = namespaceMissing(namespace);
  try {
    await clients.core.readNamespace({ name: namespace });
    return { check, status: "ok" };
  } catch (error) {
    if (isNotFound(error)) return missing;
    if (codeOf(error) !== 403) return unknown(check, error, { verb: "get", resource: "namespaces" });
  }
  try {
    await clients.core.createNamespacedSecret({
      namespace,
      dryRun: "All",
      body: { apiVersion: "v1", kind: "Secret", metadata: { name: "flotilla-doctor-probe" } },
    });
    return { check, status: "ok" };
  } catch (error) {
    if (isNotFound(error)) return missing;
    if (codeOf(error) === 409) return { check, status: "ok" };
    return unknown(check, error, { verb: "create", resource: "secrets", namespace });
  }
}

/** Whether the runner's ServiceAccount exists and a RoleBinding binds `role` to it. */
export async function checkRunnerAccount(
  clients: Pick<KubeClients, "core" | "kubeConfig">,
  namespace: string,
  serviceAccount: string,
  role = "flotilla-runner",
): Promise<PreflightCheck[]> {
  const fix = applyRbacFix(namespace);
  const account = `the runner's ServiceAccount "${serviceAccount}" exists in namespace "${namespace}"`;
  const bound = `Role "${role}" is bound to ServiceAccount "${serviceAccount}"`;
  const out: PreflightCheck[] = [];
  try {
    await clients.core.readNamespacedServiceAccount({ name: serviceAccount, namespace });
    out.push({ check: account, status: "ok" });
  } catch (error) {
    if (isNotFound(error)) out.push(runnerAccountMissing(namespace, serviceAccount));
    else out.push(unknown(account, error, { verb: "get", resource: "serviceaccounts", namespace }));
  }
  try {
    const rbac = clients.kubeConfig.makeApiClient(k8s.RbacAuthorizationV1Api);
    const list = await rbac.listNamespacedRoleBinding({ namespace });
    const ok = list.items.some(
      (b) =>
        b.roleRef.kind === "Role" &&
        b.roleRef.name === role &&
        (b.subjects ?? []).some(
          (s) =>
            s.kind === "ServiceAccount" &&
            s.name === serviceAccount &&
            (s.namespace ?? namespace) === namespace,
        ),
    );
    out.push(
      ok
        ? { check: bound, status: "ok" }
        : {
            check: bound,
            status: "missing",
            reason: `no RoleBinding in namespace "${namespace}" binds Role "${role}" to ServiceAccount "${serviceAccount}": the runner cannot create its worker pods`,
            fix,
          },
    );
  } catch (error) {
    out.push(
      unknown(bound, error, { verb: "list", resource: "rolebindings.rbac.authorization.k8s.io", namespace }),
    );
  }
  return out;
}

/** Whether the workers' ServiceAccount exists (the runner creates worker pods under it). */
export async function checkWorkerAccount(
  clients: Pick<KubeClients, "core">,
  namespace: string,
  serviceAccount: string,
): Promise<PreflightCheck> {
  const check = `the workers' ServiceAccount "${serviceAccount}" exists in namespace "${namespace}"`;
  try {
    await clients.core.readNamespacedServiceAccount({ name: serviceAccount, namespace });
    return { check, status: "ok" };
  } catch (error) {
    if (!isNotFound(error))
      return unknown(check, error, { verb: "get", resource: "serviceaccounts", namespace });
    return {
      check,
      status: "missing",
      reason: `ServiceAccount "${serviceAccount}" does not exist: Kubernetes refuses to create the worker pods`,
      fix: applyRbacFix(namespace),
    };
  }
}

/**
 * Whether the image pull Secret a run needs (privateRegistry) is there, or can be made by setup
 * from the Flotilla secret `dockerSecret` (read and checked here as setup reads it). A missing one
 * that cannot be made gets the very message a run's setup fails with.
 */
export async function checkPullSecret(
  clients: Pick<KubeClients, "core">,
  namespace: string,
  dockerSecret: string,
  readSecret?: SecretReader,
): Promise<PreflightCheck> {
  const name = pullSecretName(dockerSecret);
  const check = `the image pull Secret "${name}" exists in namespace "${namespace}" (privateRegistry)`;
  try {
    await clients.core.readNamespacedSecret({ name, namespace });
    return { check, status: "ok" };
  } catch (error) {
    if (!isNotFound(error)) return unknown(check, error, { verb: "get", resource: "secrets", namespace });
  }
  const problem = await pullSecretProblem(namespace, dockerSecret, readSecret);
  if (problem === undefined) {
    return {
      check,
      status: "ok",
      reason: `not there yet: the next run's setup creates it from Flotilla secret "${dockerSecret}"`,
    };
  }
  return {
    check,
    status: "missing",
    reason: problem.message,
    ...(problem.hint ? { fix: problem.hint } : {}),
  };
}

function unknown(
  check: string,
  error: unknown,
  call: { verb: string; resource: string; namespace?: string },
): PreflightCheck {
  if (codeOf(error) === 403) {
    return {
      check,
      status: "unknown",
      reason: `this identity may not ${call.verb} ${call.resource}`,
      fix: "run `flotilla doctor` as a namespace admin, or `flotilla doctor --as-runner` under the runner's account",
    };
  }
  const e = translateApiError(error, call);
  return { check, status: "unknown", reason: e.message, ...(e.hint ? { fix: e.hint } : {}) };
}
