// `flotilla agent --pool P --server URL`: an agent that claims the pool's runs from a server and
// launches them (the local pool: one `flotilla run` process per run; the kubernetes pool: one
// runner Job per run in its namespace), reconciling their end: a runner that dies marks its run
// Crashed with the reason, a cancelled run's runner is stopped before the run is recorded
// Cancelled, a restarted agent with the same id re-adopts its runs. `flotilla agents list` shows the agents a server
// heard from.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import type { AgentRecord } from "../../store/store.ts";
import { positiveInt, reportUrlOf } from "../flags.ts";
import { outputOption, renderOutput, SERVER_FORMATS } from "../output.ts";
import { stopSignals } from "../signals.ts";
import { clientFor, type ServerCallOptions, table } from "./runs-server.ts";

export interface AgentCommandOptions extends ServerCallOptions {
  pool: string;
  id?: string;
  capacity?: string;
  poolLimit?: string;
  launcher?: string;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  serviceAccount?: string;
  /** kubernetes: the server's URL as runner pods reach it (default FLOTILLA_REPORT_URL, else --server). */
  reportUrl?: string;
}

export interface AgentInstallCommandOptions {
  rbac?: boolean;
  namespace: string;
  server?: string;
  image?: string;
  pool: string;
  /** The agent's service account. */
  agentServiceAccount: string;
  /** The runner pods' service account. */
  serviceAccount: string;
  tokenSecret: string;
  output?: "yaml" | "json";
}

/** What `flotilla agent install <kind>` prints: YAML documents, or a JSON List. */
export async function agentInstall(kind: string, o: AgentInstallCommandOptions): Promise<string> {
  if (kind !== "kubernetes") {
    throw new FlotillaError(ErrorCode.Usage, `agent install ${kind}: the agent installs on kubernetes only`, {
      hint: "flotilla agent install kubernetes --rbac -n NS --server URL --image REF",
      usage: true,
    });
  }
  const server = o.server ?? (process.env.FLOTILLA_API_URL || undefined);
  if (!server) {
    throw new FlotillaError(ErrorCode.Usage, "agent install kubernetes: no server to dial out to", {
      hint: "pass --server URL (the Flotilla server as pods reach it, e.g. http://flotilla.flotilla.svc:4200)",
      usage: true,
    });
  }
  try {
    new URL(server);
  } catch {
    throw new FlotillaError(ErrorCode.Usage, `--server ${server}: not a URL`, {
      hint: "e.g. http://flotilla.flotilla.svc:4200",
      usage: true,
    });
  }
  if (!o.image) {
    throw new FlotillaError(ErrorCode.Usage, "agent install kubernetes: no image for the agent", {
      hint: "pass --image REF: any image flotilla build makes (its entrypoint is flotilla), e.g. your flow's image",
      usage: true,
    });
  }
  const { buildAgentInstall } = await import("../../agent/install.ts");
  const objects = buildAgentInstall({
    namespace: o.namespace,
    server,
    image: o.image,
    pool: o.pool,
    serviceAccount: o.agentServiceAccount,
    runnerServiceAccount: o.serviceAccount,
    tokenSecret: o.tokenSecret,
    rbac: o.rbac === true,
  });
  if (o.output === "json")
    return `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`;
  const { stringify } = await import("yaml");
  return objects.map((x) => stringify(x)).join("---\n");
}

function positive(flag: string, v: string | undefined): number | undefined {
  return v === undefined ? undefined : positiveInt(flag, v);
}

export const agentCommand = (program: Command): void => {
  const agent = program
    .command("agent")

    .description("claim and launch the runs of a pool from a Flotilla server")
    .option("--pool <pool>", "the pool whose runs this agent launches", "local")
    .option(
      "--launcher <kind>",
      "how runs start: local (a flotilla run process each) or kubernetes (a runner Job each) (default: kubernetes for the pool kubernetes, else local)",
    )
    .option("--id <id>", "a stable id (a restarted agent with the same id re-adopts its runs)")
    .option("--capacity <n>", "most runs at once on this agent", "4")
    .option("--pool-limit <n>", "most live runs of the pool across its agents")
    .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
    .option("--token <token>", "an agent token (default: $FLOTILLA_API_TOKEN, else the home's admin token)")
    .option("-n, --namespace <ns>", "kubernetes: the namespace of the runner Jobs (default: the context's)")
    .option(
      "--kubeconfig <file>",
      "kubernetes: the kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)",
    )
    .option("--context <name>", "kubernetes: the kubeconfig context")
    .option("--service-account <name>", "kubernetes: the runner pods' service account", "flotilla-runner")
    .option(
      "--report-url <url>",
      "kubernetes: the server's URL as runner pods reach it (default: $FLOTILLA_REPORT_URL, else --server)",
    )
    .action(async (o: AgentCommandOptions) => {
      const kind = o.launcher ?? (o.pool === "kubernetes" ? "kubernetes" : "local");
      if (kind !== "local" && kind !== "kubernetes") {
        throw new FlotillaError(ErrorCode.Usage, `--launcher ${kind}: use local or kubernetes`, {
          usage: true,
        });
      }
      const reportUrl = reportUrlOf(o);
      if (o.reportUrl !== undefined && kind !== "kubernetes")
        throw new FlotillaError(
          ErrorCode.Usage,
          "--report-url is for --launcher kubernetes: a local launcher's runs reach the server at --server",
          { usage: true },
        );
      const capacity = positive("--capacity", o.capacity);
      const poolLimit = positive("--pool-limit", o.poolLimit);
      const client = clientFor(o);
      await client.get("/api/whoami"); // a wrong token or a server that is down stops here, with its message
      const { Agent } = await import("../../agent/agent.ts");
      let launcher: import("../../agent/agent.ts").AgentLauncher & { close?(): void };
      let where = "";
      if (kind === "kubernetes") {
        const [{ connect }, { KubernetesLauncher }] = await Promise.all([
          import("../../kubernetes/client.ts"),
          import("../../agent/kubernetes-launcher.ts"),
        ]);
        const clients = connect({
          ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
          ...(o.context ? { context: o.context } : {}),
        });
        const namespace = o.namespace ?? clients.defaultNamespace;
        launcher = new KubernetesLauncher({
          clients,
          namespace,
          environment: { serviceAccountName: o.serviceAccount ?? "flotilla-runner" },
          ...(reportUrl !== undefined ? { reportUrl } : {}),
        });
        where = ` as runner Jobs in namespace ${namespace}${reportUrl !== undefined ? `, runner pods reporting to ${reportUrl}` : ""}`;
      } else {
        const { LocalLauncher } = await import("../../agent/local-launcher.ts");
        launcher = new LocalLauncher();
      }
      const agent = new Agent({
        client,
        pool: o.pool,
        launcher,
        ...(o.id ? { id: o.id } : {}),
        ...(capacity !== undefined ? { capacity } : {}),
        ...(poolLimit !== undefined ? { poolLimit } : {}),
        onError: (e) => process.stderr.write(`warning: ${(e as Error).message}\n`),
      });
      agent.start();
      process.stderr.write(`agent ${agent.id} claiming runs of pool ${o.pool} from ${client.url}${where}\n`);
      const signals = stopSignals();
      await signals.stopped;
      signals.off();
      await agent.stop();
      launcher.close?.();
    });
  agent
    .command("install")
    .description(
      "print the in-cluster agent's Deployment (and with --rbac its ServiceAccount, Role, RoleBinding) for kubectl apply -f -",
    )
    .argument("<kind>", "where the agent runs: kubernetes")
    .option("--rbac", "also print the ServiceAccounts, least-privilege Roles and RoleBindings")
    .option("-n, --namespace <ns>", "the namespace of the agent and its runs", "default")
    .option("--server <url>", "the Flotilla server the agent dials out to (default: $FLOTILLA_API_URL)")
    .option("--image <ref>", "an image with flotilla as its entrypoint (any image flotilla build makes)")
    .option("--pool <pool>", "the pool whose runs it launches", "kubernetes")
    .option("--agent-service-account <name>", "the agent's service account", "flotilla-agent")
    .option("--service-account <name>", "the runner pods' service account", "flotilla-runner")
    .option(
      "--token-secret <name>",
      "the Secret (key token) with the agent's API token",
      "flotilla-agent-token",
    )
    .addOption(outputOption(["yaml", "json"]))
    .action(async (kind: string, own: AgentInstallCommandOptions) => {
      // commander gives options named like the agent's own (--server, --pool, -n,
      // --service-account) to `agent`, wherever they are on the line: take those given there
      const given = Object.fromEntries(
        Object.entries(agent.opts()).filter(([k]) => agent.getOptionValueSource(k) === "cli"),
      );
      const o = { ...own, ...given } as AgentInstallCommandOptions;
      process.stdout.write(await agentInstall(kind, o));
      process.stderr.write(
        `the agent reads its API token from Secret ${o.tokenSecret} (key token), which this output does not hold: create it with\n` +
          `  kubectl -n ${o.namespace} create secret generic ${o.tokenSecret} --from-literal=token="$(flotilla tokens create --name ${o.agentServiceAccount}-${o.namespace} --scope agent)"\n`,
      );
    });
};

export const agentsCommand = (program: Command): void => {
  const agents = program.command("agents").description("agents a Flotilla server heard from");
  agents
    .command("list")
    .description("list agents, most recently seen first")
    .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
    .option("--token <token>", "API token")
    .addOption(outputOption(SERVER_FORMATS))
    .action(async (o: ServerCallOptions) => {
      const { items } = await clientFor(o).get<{ items: AgentRecord[] }>("/api/agents");
      process.stdout.write(
        await renderOutput(o.output, items, () =>
          table([
            ["ID", "POOL", "NAME", "LAST SEEN"],
            ...items.map((a) => [a.id, a.pool, a.name, new Date(a.lastSeenAt).toISOString()]),
          ]),
        ),
      );
    });
};
