// `flotilla doctor [-n NS]`: check what a run needs, each with its reason and fix: the API server
// answers and runs Kubernetes 1.29+ (native sidecars), the namespace exists, the current
// kubeconfig identity holds every permission of the launcher (SelfSubjectAccessReview; with
// --as-runner, of the runner pod), the runner's ServiceAccount exists with its Role bound, and the
// workers' ServiceAccount exists.
// Exit 1 when anything is missing; `-o json|yaml` prints every check, missing ones included.
// Uses the same permission table `flotilla rbac` prints.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { type ConnectOptions, connect, type KubeClients } from "../../kubernetes/client.ts";
import { apiCall } from "../../kubernetes/errors.ts";
import { DEFAULT_SERVICE_ACCOUNT, DEFAULT_WORKER_SERVICE_ACCOUNT } from "../../kubernetes/options.ts";
import {
  checkNamespace,
  checkRunnerAccount,
  checkServerVersion,
  checkWorkerAccount,
  type PreflightCheck,
} from "../../kubernetes/preflight.ts";
import { type AccessCheck, type Actor, accessChecks, describeCheck } from "../../kubernetes/rbac.ts";
import { DOCUMENT_FORMATS, type OutputFormat, outputOption, renderDocument } from "../output.ts";

export interface DoctorOptions extends ConnectOptions {
  namespace?: string;
  /** Check the runner pod's permissions instead of the launcher's. */
  asRunner?: boolean;
  /** The runner pods' ServiceAccount. @default "flotilla-runner" */
  serviceAccount?: string;
  /** The worker pods' ServiceAccount. @default "flotilla-worker" */
  workerServiceAccount?: string;
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
  /** Server, namespace and runner account checks, in order. */
  preflight: PreflightCheck[];
  checks: DoctorCheck[];
  /** Every missing permission and every missing preflight item. */
  missing: string[];
}

/**
 * Check everything a run needs and report each item, missing or not (what `doctor -o json`
 * prints). When the API server does not answer (or is too old), the rest is not checked.
 */
export async function doctorReport(options: DoctorOptions = {}): Promise<DoctorResult> {
  const clients = options.clients ?? connect(options);
  const namespace = options.namespace ?? clients.defaultNamespace;
  const actor: Actor = options.asRunner ? "runner" : "launcher";
  const server = await checkServerVersion(clients);
  if (server.status !== "ok") {
    return { namespace, actor, preflight: [server], checks: [], missing: [server.check] };
  }
  const [ns, checks, account] = await Promise.all([
    checkNamespace(clients, namespace),
    Promise.all(accessChecks(actor).map((c) => review(clients, namespace, c))),
    options.asRunner
      ? Promise.resolve([])
      : Promise.all([
          checkRunnerAccount(clients, namespace, options.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT),
          checkWorkerAccount(
            clients,
            namespace,
            options.workerServiceAccount ?? DEFAULT_WORKER_SERVICE_ACCOUNT,
          ),
        ]).then(([runner, worker]) => [...runner, worker]),
  ]);
  const preflight = [server, ns, ...account];
  const missingPermissions = checks.filter((c) => !c.allowed).map((c) => c.permission);
  const missingItems = preflight.filter((c) => c.status === "missing");
  const missing = [...missingItems.map((c) => c.check), ...missingPermissions];
  return { namespace, actor, preflight, checks, missing };
}

/** Check everything a run needs; throws FLOTILLA_KUBERNETES naming each missing item and its fix. */
export async function doctor(options: DoctorOptions = {}): Promise<DoctorResult> {
  const result = await doctorReport(options);
  const { actor, namespace, missing, preflight, checks } = result;
  const server = preflight[0]!;
  if (server.status !== "ok") {
    throw new FlotillaError(ErrorCode.Kubernetes, `doctor: ${server.reason}`, {
      ...(server.fix ? { hint: server.fix } : {}),
    });
  }
  const missingPermissions = checks.filter((c) => !c.allowed).map((c) => c.permission);
  const missingItems = preflight.filter((c) => c.status === "missing");
  if (missing.length > 0) {
    const lines = [
      ...missingItems.map((c) => `  ${c.reason ?? c.check}${c.fix ? ` (fix: ${c.fix})` : ""}`),
      ...(missingPermissions.length > 0
        ? [
            `  the ${actor} identity lacks ${missingPermissions.length} permission(s) in namespace "${namespace}": ${missingPermissions.join(", ")}`,
          ]
        : []),
    ];
    throw new FlotillaError(
      ErrorCode.Kubernetes,
      `doctor: ${missing.length} problem(s) in namespace "${namespace}"\n${lines.join("\n")}`,
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
              ...(c.name !== undefined ? { name: c.name } : {}),
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
    .option("--service-account <name>", "service account of the runner pods", DEFAULT_SERVICE_ACCOUNT)
    .option(
      "--worker-service-account <name>",
      "service account of the worker pods",
      DEFAULT_WORKER_SERVICE_ACCOUNT,
    )
    .addOption(outputOption(DOCUMENT_FORMATS))
    .action(async (opts: DoctorOptions & { output: OutputFormat }) => {
      if (opts.output === "json" || opts.output === "yaml") {
        // the whole report, missing items included; the exit code still says whether any are
        const report = await doctorReport(opts);
        process.stdout.write(await renderDocument(report, opts.output));
        if (report.missing.length > 0) process.exitCode = 1;
        return;
      }
      const r = await doctor(opts);
      for (const c of r.preflight) {
        const mark = c.status === "ok" ? "ok " : "?? ";
        process.stdout.write(
          `${mark} ${c.check}${c.reason && c.status === "ok" ? ` (${c.reason})` : ""}${c.status === "unknown" ? `: not checked: ${c.reason}${c.fix ? `; ${c.fix}` : ""}` : ""}\n`,
        );
      }
      for (const c of r.checks) process.stdout.write(`ok  ${c.permission}\n`);
      process.stdout.write(
        `all ${r.checks.length} permissions of the ${r.actor} present in namespace "${r.namespace}"\n`,
      );
    });
};
