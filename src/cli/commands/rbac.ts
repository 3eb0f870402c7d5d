// `flotilla rbac [-n NS] [--service-account NAME]`: print the ServiceAccounts, Roles and
// RoleBindings Flotilla needs, as YAML for `kubectl apply -f -`. Built from the same permission
// table `flotilla doctor` checks. `--admission-policy` prints instead the ValidatingAdmissionPolicy
// and binding that confine the pods the runner creates (cluster-scoped: a cluster admin applies it).

import type { Command } from "commander";
import { stringify } from "yaml";
import { buildAdmissionPolicy } from "../../kubernetes/admission-policy.ts";
import { type ConnectOptions, connect } from "../../kubernetes/client.ts";
import { buildRbac } from "../../kubernetes/rbac.ts";
import { outputOption } from "../output.ts";

export interface RbacCommandOptions extends ConnectOptions {
  /** @default the kubeconfig context's namespace (where runs go), else "default" */
  namespace?: string;
  /** The runner pods' service account. @default "flotilla-runner" */
  serviceAccount?: string;
  /** Also bind the launcher Role to this service account. */
  launcherServiceAccount?: string;
  /** The worker pods' service account. @default "flotilla-worker" */
  workerServiceAccount?: string;
  /** The image pull Secret's name, the one Secret the launcher may read. @default docker-registry-credentials */
  pullSecret?: string;
  /** Print the ValidatingAdmissionPolicy and its binding instead of the RBAC. */
  admissionPolicy?: boolean;
  /** @default "yaml" */
  output?: "yaml" | "json";
}

/**
 * The namespace runs go to when no -n is given: the kubeconfig context's, as `flotilla run` uses
 * it; with no kubeconfig at all, "default" (said on stderr by the command).
 */
export function contextNamespace(options: ConnectOptions): string | undefined {
  try {
    return connect(options).defaultNamespace;
  } catch {
    return undefined;
  }
}

/** The RBAC objects as a multi-document YAML (or JSON list) string. */
export async function rbac(options: RbacCommandOptions = {}): Promise<string> {
  const namespace = options.namespace ?? contextNamespace(options) ?? "default";
  const accounts = {
    ...(options.serviceAccount ? { runnerServiceAccount: options.serviceAccount } : {}),
    ...(options.workerServiceAccount ? { workerServiceAccount: options.workerServiceAccount } : {}),
  };
  const objects: object[] = options.admissionPolicy
    ? buildAdmissionPolicy({ namespace, ...accounts })
    : buildRbac({
        namespace,
        ...accounts,
        ...(options.launcherServiceAccount ? { launcherServiceAccount: options.launcherServiceAccount } : {}),
        ...(options.pullSecret ? { pullSecret: options.pullSecret } : {}),
      });
  if (options.output === "json")
    return `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`;
  return objects.map((o) => stringify(o)).join("---\n");
}

export const rbacCommand = (program: Command): void => {
  program
    .command("rbac")
    .description(
      "print the ServiceAccount, Roles and RoleBindings Flotilla needs (pipe to kubectl apply -f -)",
    )
    .option("-n, --namespace <ns>", "namespace of the runs (default: the kubeconfig context's, as for runs)")
    .option("--kubeconfig <file>", "kubeconfig file (for the context's namespace)")
    .option("--context <name>", "kubeconfig context")
    .option("--service-account <name>", "service account of the runner pods", "flotilla-runner")
    .option("--worker-service-account <name>", "service account of the worker pods", "flotilla-worker")
    .option("--launcher-service-account <name>", "also bind the launcher Role to this service account")
    .option(
      "--pull-secret <name>",
      "the image pull Secret, the one Secret the launcher may read",
      "docker-registry-credentials",
    )
    .option(
      "--admission-policy",
      "print the ValidatingAdmissionPolicy + binding confining the runner's pods to the worker account (cluster admin applies it)",
    )
    .addOption(outputOption(["yaml", "json"]))
    .action(async (opts: RbacCommandOptions) => {
      if (opts.namespace === undefined && contextNamespace(opts) === undefined) {
        process.stderr.write(
          'no kubeconfig (or its context is unknown): printing for namespace "default"; pass -n NS (or try runs without a cluster with --sim)\n',
        );
      }
      process.stdout.write(await rbac(opts));
    });
};
