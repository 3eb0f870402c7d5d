// `flotilla agent --pool P --server URL`: an agent that claims the pool's runs from a server and
// launches them here (the local pool: one `flotilla run` process per run), reconciling their
// end: a runner that dies marks its run Crashed with the reason, a cancelled run's runner is
// stopped before the run is recorded Cancelled. `flotilla agents list` shows the agents a server
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
}

function positive(flag: string, v: string | undefined): number | undefined {
  return v === undefined ? undefined : positiveInt(flag, v);
}

export const agentCommand = (program: Command): void => {
  program
    .command("agent")
    .description("claim and launch the runs of a pool from a Flotilla server")
    .option("--pool <pool>", "the pool whose runs this agent launches", "local")
    .option("--id <id>", "a stable id (a restarted agent with the same id re-adopts its runs)")
    .option("--capacity <n>", "most runs at once on this agent", "4")
    .option("--pool-limit <n>", "most live runs of the pool across its agents")
    .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
    .option("--token <token>", "an agent token (default: $FLOTILLA_API_TOKEN, else the home's admin token)")
    .action(async (o: AgentCommandOptions) => {
      if (o.pool !== "local") {
        throw new FlotillaError(
          ErrorCode.Usage,
          `--pool ${o.pool}: this agent launches runs of the local pool only`,
          {
            hint: "run an agent with --pool local; Kubernetes runs are launched with flotilla run on the cluster for now",
            usage: true,
          },
        );
      }
      const client = clientFor(o);
      await client.get("/api/whoami"); // a wrong token or a server that is down stops here, with its message
      const [{ Agent }, { LocalLauncher }] = await Promise.all([
        import("../../agent/agent.ts"),
        import("../../agent/local-launcher.ts"),
      ]);
      const token =
        o.token ?? process.env.FLOTILLA_API_TOKEN ?? (await import("../../server/auth.ts")).readAdminToken();
      const capacity = positive("--capacity", o.capacity);
      const poolLimit = positive("--pool-limit", o.poolLimit);
      const agent = new Agent({
        client,
        runnerToken: token ?? "",
        pool: o.pool,
        launcher: new LocalLauncher(),
        ...(o.id ? { id: o.id } : {}),
        ...(capacity !== undefined ? { capacity } : {}),
        ...(poolLimit !== undefined ? { poolLimit } : {}),
        onError: (e) => process.stderr.write(`warning: ${(e as Error).message}\n`),
      });
      agent.start();
      process.stderr.write(`agent ${agent.id} claiming runs of pool ${o.pool} from ${client.url}\n`);
      const signals = stopSignals();
      await signals.stopped;
      signals.off();
      await agent.stop();
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
