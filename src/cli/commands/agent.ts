// `flotilla agent --pool P --server URL`: an agent that claims the pool's runs from a server and
// launches them (the local pool: one `flotilla run` process per run; the kubernetes pool: one
// runner Job per run in its namespace), reconciling their end: a runner that dies marks its run
// Crashed with the reason, a cancelled run's runner is stopped before the run is recorded
// Cancelled, a restarted agent with the same id re-adopts its runs. `flotilla agents list` shows the agents a server
// heard from.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import type { AgentRecord } from "../../store/store.ts";
import { positiveInt } from "../flags.ts";
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
}

function positive(flag: string, v: string | undefined): number | undefined {
  return v === undefined ? undefined : positiveInt(flag, v);
}

export const agentCommand = (program: Command): void => {
  program
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
    .action(async (o: AgentCommandOptions) => {
      const kind = o.launcher ?? (o.pool === "kubernetes" ? "kubernetes" : "local");
      if (kind !== "local" && kind !== "kubernetes") {
        throw new FlotillaError(ErrorCode.Usage, `--launcher ${kind}: use local or kubernetes`, {
          usage: true,
        });
      }
      const capacity = positive("--capacity", o.capacity);
      const poolLimit = positive("--pool-limit", o.poolLimit);
      const client = clientFor(o);
      await client.get("/api/whoami"); // a wrong token or a server that is down stops here, with its message
      const { Agent } = await import("../../agent/agent.ts");
      const token =
        o.token ?? process.env.FLOTILLA_API_TOKEN ?? (await import("../../server/auth.ts")).readAdminToken();
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
        });
        where = ` as runner Jobs in namespace ${namespace}`;
      } else {
        const { LocalLauncher } = await import("../../agent/local-launcher.ts");
        launcher = new LocalLauncher();
      }
      const agent = new Agent({
        client,
        runnerToken: token ?? "",
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
};

export const agentsCommand = (program: Command): void => {
  const agents = program.command("agents").description("agents a Flotilla server heard from");
  agents
    .command("list")
    .description("list agents, most recently seen first")
    .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
    .option("--token <token>", "API token")
    .option("-o, --output <format>", "table or json", "table")
    .action(async (o: ServerCallOptions) => {
      const { items } = await clientFor(o).get<{ items: AgentRecord[] }>("/api/agents");
      process.stdout.write(
        o.output === "json"
          ? `${JSON.stringify(items, null, 2)}\n`
          : table([
              ["ID", "POOL", "NAME", "LAST SEEN"],
              ...items.map((a) => [a.id, a.pool, a.name, new Date(a.lastSeenAt).toISOString()]),
            ]),
      );
    });
};
