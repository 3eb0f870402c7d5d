// `flotilla doctor [-n NS]`: check, with SelfSubjectAccessReview, that the current kubeconfig
// identity holds every permission of the launcher (and, with --as-runner, of the runner pod),
// naming each missing one and the fix. Uses the same table `flotilla rbac` prints.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { type ConnectOptions, connect, type KubeClients } from "../../kubernetes/client.ts";
import { apiCall } from "../../kubernetes/errors.ts";
import { type AccessCheck, type Actor, accessChecks, describeCheck } from "../../kubernetes/rbac.ts";

export interface DoctorOptions extends ConnectOptions {
  namespace?: string;
  /** Check the runner pod's permissions instead of the launcher's. */
  asRunner?: boolean;
  /** Injected clients (tests). */
  clients?: KubeClients;
}

/** One checked permission. */
export interface DoctorCheck {
  permission: string;
  allowed: boolean;
  reason?: string;
}

export interface DoctorResult {
  namespace: string;
  actor: Actor;
  checks: DoctorCheck[];
  missing: string[];
}

/** Check every permission; throws FLOTILLA_KUBERNETES naming the missing ones. */
export async function doctor(options: DoctorOptions = {}): Promise<DoctorResult> {
  const clients = options.clients ?? connect(options);
  const namespace = options.namespace ?? clients.defaultNamespace;
  const actor: Actor = options.asRunner ? "runner" : "launcher";
  const checks = await Promise.all(accessChecks(actor).map((c) => review(clients, namespace, c)));
  const missing = checks.filter((c) => !c.allowed).map((c) => c.permission);
  const result = { namespace, actor, checks, missing };
  if (missing.length > 0) {
    throw new FlotillaError(
      ErrorCode.Kubernetes,
      `the ${actor} identity lacks ${missing.length} permission(s) in namespace "${namespace}": ${missing.join(", ")}`,
      {
        hint: `apply them: \`flotilla rbac -n ${namespace} | kubectl apply -f -\` (and bind the ${actor} Role to this identity)`,
      },
    );
  }
  return result;
}

async function review(clients: KubeClients, namespace: string, c: AccessCheck): Promise<DoctorCheck> {
  const permission = describeCheck(c);
  const res = await apiCall(
    { verb: "create", resource: "selfsubjectaccessreviews.authorization.k8s.io" },
    () =>
      clients.authorization.createSelfSubjectAccessReview({
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SelfSubjectAccessReview",
          spec: {
            resourceAttributes: {
              namespace,
              verb: c.verb,
              group: c.apiGroup,
              resource: c.resource,
              ...(c.subresource ? { subresource: c.subresource } : {}),
            },
          },
        },
      }),
  );
  const allowed = res.status?.allowed === true;
  return { permission, allowed, ...(res.status?.reason ? { reason: res.status.reason } : {}) };
}

export const doctorCommand = (program: Command): void => {
  program
    .command("doctor")
    .description(
      "check that this kubeconfig identity may do everything Flotilla does (SelfSubjectAccessReview)",
    )
    .option("-n, --namespace <ns>", "namespace of the runs (default: the context's)")
    .option("--kubeconfig <file>", "kubeconfig file")
    .option("--context <name>", "kubeconfig context")
    .option("--as-runner", "check the runner pod's permissions (run inside its service account)")
    .action(async (opts: DoctorOptions) => {
      const r = await doctor(opts);
      for (const c of r.checks) process.stdout.write(`ok  ${c.permission}\n`);
      process.stdout.write(
        `all ${r.checks.length} permissions of the ${r.actor} present in namespace "${r.namespace}"\n`,
      );
    });
};
