// `flotilla doctor [-n NS]`: check what a run needs, each with its reason and fix: the API server
// answers and runs Kubernetes 1.29+ (native sidecars), the namespace exists, the current
// kubeconfig identity holds every permission of the launcher (SelfSubjectAccessReview; with
// --as-runner, of the runner pod), the runner's ServiceAccount exists with its Role bound, and the
// workers' ServiceAccount exists; with privateRegistry (`--docker-secret`, or a flow file whose
// environment sets it), the image pull Secret exists or setup can make it. Given a flow file, its
// environment's namespace and accounts are checked. A run that hits one of these fails with the
// same reason (preflight.ts holds the texts).
// Exit 1 when anything is missing; `-o json|yaml` prints every check, missing ones included.
// Uses the same permission table `flotilla rbac` prints.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { type ConnectOptions, connect, type KubeClients } from "../../kubernetes/client.ts";
import { isKubeClusterEnvironment } from "../../kubernetes/environment.ts";
import { apiCall } from "../../kubernetes/errors.ts";
import { pullSecretName } from "../../kubernetes/names.ts";
import { DEFAULT_SERVICE_ACCOUNT, DEFAULT_WORKER_SERVICE_ACCOUNT } from "../../kubernetes/options.ts";
import {
  checkNamespace,
  checkPullSecret,
  checkRunnerAccount,
  checkServerVersion,
  checkWorkerAccount,
  type PreflightCheck,
} from "../../kubernetes/preflight.ts";
import type { SecretReader } from "../../kubernetes/pull-secret.ts";
import { type AccessCheck, type Actor, accessChecks, describeCheck } from "../../kubernetes/rbac.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";
import { DOCUMENT_FORMATS, type OutputFormat, outputOption, renderDocument } from "../output.ts";

export interface DoctorOptions extends ConnectOptions {
  namespace?: string;
  /** Check the runner pod's permissions instead of the launcher's. */
  asRunner?: boolean;
  /** The runner pods' ServiceAccount. @default "flotilla-runner" */
  serviceAccount?: string;
  /** The worker pods' ServiceAccount. @default "flotilla-worker" */
  workerServiceAccount?: string;
  /**
   * The Flotilla secret of a private registry's credentials (privateRegistry): the image pull
   * Secret made from it must exist, or be makeable by setup. @default none (no pull Secret check)
   */
  dockerSecret?: string;
  /** Reads Flotilla secrets (tests). */
  readSecret?: SecretReader;
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
    Promise.all(
      accessChecks(
        actor,
        options.dockerSecret ? { pullSecret: pullSecretName(options.dockerSecret) } : {},
      ).map((c) => review(clients, namespace, c)),
    ),
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
  if (!options.asRunner && options.dockerSecret !== undefined)
    account.push(await checkPullSecret(clients, namespace, options.dockerSecret, options.readSecret));
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

/**
 * The options a flow's environment gives doctor: its namespace, service accounts and, with
 * privateRegistry, its pull Secret; flags given on the command line win.
 */
async function withFlow(flowFile: string, opts: DoctorOptions & { flow?: string }): Promise<DoctorOptions> {
  const flow = selectFlow(await loadFlowModule(flowFile), opts.flow);
  if (!isKubeClusterEnvironment(flow.environment)) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `${flowFile}: flow "${flow.name}" names no KubeClusterEnvironment: nothing of it runs on Kubernetes`,
      { hint: "run `flotilla doctor` without a flow file to check a namespace", usage: true },
    );
  }
  const o = flow.environment.options;
  const given = (name: string) => process.argv.some((a) => a === name || a.startsWith(`${name}=`));
  return {
    ...opts,
    namespace: opts.namespace ?? o.namespace,
    serviceAccount: given("--service-account") ? opts.serviceAccount : o.serviceAccountName,
    workerServiceAccount: given("--worker-service-account")
      ? opts.workerServiceAccount
      : o.workerServiceAccountName,
    ...(o.privateRegistry && opts.dockerSecret === undefined ? { dockerSecret: o.dockerSecret } : {}),
  } as DoctorOptions;
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
    .argument(
      "[flow-file]",
      "check for this flow's environment: its namespace, service accounts, pull Secret",
    )
    .option("--flow <name>", "the flow, when the module exports several")
    .option("--as-runner", "check the runner pod's permissions (run inside its service account)")
    .option("--service-account <name>", "service account of the runner pods", DEFAULT_SERVICE_ACCOUNT)
    .option(
      "--worker-service-account <name>",
      "service account of the worker pods",
      DEFAULT_WORKER_SERVICE_ACCOUNT,
    )
    .option(
      "--docker-secret <name>",
      "check the image pull Secret made from this Flotilla secret (privateRegistry)",
    )
    .addOption(outputOption(DOCUMENT_FORMATS))
    .action(
      async (
        flowFile: string | undefined,
        given: DoctorOptions & { output: OutputFormat; flow?: string },
      ) => {
        const opts = flowFile === undefined ? given : { ...given, ...(await withFlow(flowFile, given)) };
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
      },
    );
};
