// `flotilla rbac [-n NS] [--service-account NAME]`: print the ServiceAccount, Roles and
// RoleBindings Flotilla needs, as YAML for `kubectl apply -f -`. Built from the same permission
// table `flotilla doctor` checks.

import type { Command } from "commander";
import { stringify } from "yaml";
import { buildRbac } from "../../kubernetes/rbac.ts";
import { outputOption } from "../output.ts";

export interface RbacCommandOptions {
  /** @default "default" */
  namespace?: string;
  /** The runner pods' service account. @default "flotilla-runner" */
  serviceAccount?: string;
  /** Also bind the launcher Role to this service account. */
  launcherServiceAccount?: string;
  /** @default "yaml" */
  output?: "yaml" | "json";
}

/** The RBAC objects as a multi-document YAML (or JSON list) string. */
export async function rbac(options: RbacCommandOptions = {}): Promise<string> {
  const objects = buildRbac({
    namespace: options.namespace ?? "default",
    ...(options.serviceAccount ? { runnerServiceAccount: options.serviceAccount } : {}),
    ...(options.launcherServiceAccount ? { launcherServiceAccount: options.launcherServiceAccount } : {}),
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
    .option("-n, --namespace <ns>", "namespace of the runs", "default")
    .option("--service-account <name>", "service account of the runner pods", "flotilla-runner")
    .option("--launcher-service-account <name>", "also bind the launcher Role to this service account")
    .addOption(outputOption(["yaml", "json"]))
    .action(async (opts: RbacCommandOptions) => {
      process.stdout.write(await rbac(opts));
    });
};
