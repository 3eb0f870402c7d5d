// `flotilla deployments list|get|delete` and `flotilla schedules list|pause|resume`: the server's
// deployments and their schedules, over its API.

import type { Command } from "commander";
import type { DeploymentRecord, ScheduleRecord } from "../../store/store.ts";
import { outputOption, renderDocument, renderOutput, SERVER_FORMATS } from "../output.ts";
import { clientFor, type ServerCallOptions, table } from "./runs-server.ts";

type Deployment = DeploymentRecord & { schedules: (ScheduleRecord & { nextRuns?: number[] })[] };
const enc = encodeURIComponent;
const iso = (ms: number | undefined) =>
  ms === undefined ? "-" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

function when(s: ScheduleRecord): string {
  return `${s.cron ?? `every ${s.intervalMs! / 1000}s`}${s.cron ? ` ${s.timezone}` : ""}${s.paused ? " (paused)" : ""}`;
}

const common = (c: Command) =>
  c
    .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
    .option("--token <token>", "API token (default: $FLOTILLA_API_TOKEN, else the home's admin token)")
    .addOption(outputOption(SERVER_FORMATS));

export const deploymentsCommand = (program: Command): void => {
  const deployments = program
    .command("deployments")
    .description("deployments registered with a Flotilla server");
  common(deployments.command("list").description("list deployments")).action(async (o: ServerCallOptions) => {
    const { items } = await clientFor(o).get<{ items: Deployment[] }>("/api/deployments");
    process.stdout.write(
      await renderOutput(o.output, items, () =>
        table([
          ["NAME", "FLOW", "POOL", "CONCURRENCY", "SCHEDULE", "UPDATED"],
          ...items.map((d) => [
            d.name,
            d.flowName,
            d.pool,
            d.concurrencyLimit === undefined ? "-" : String(d.concurrencyLimit),
            d.schedules.map(when).join("; ") || "-",
            iso(d.updatedAt),
          ]),
        ]),
      ),
    );
  });
  common(
    deployments.command("get").argument("<name>").description("one deployment, its schedule and parameters"),
  ).action(async (name: string, o: ServerCallOptions) => {
    const d = await clientFor(o).get<
      Deployment & { parameterSchema?: unknown; image?: string; fingerprint?: string }
    >(`/api/deployments/${enc(name)}`);
    if (o.output === "json" || o.output === "yaml") {
      process.stdout.write(await renderDocument(d, o.output));
      return;
    }
    const lines = [
      `Deployment ${d.name}  (id ${d.id})`,
      `  flow:        ${d.flowName}${d.fingerprint ? `  fingerprint ${d.fingerprint}` : ""}`,
      `  pool:        ${d.pool}${d.concurrencyLimit !== undefined ? `  concurrency ${d.concurrencyLimit}` : ""}`,
      ...(d.image ? [`  image:       ${d.image}`] : []),
      `  parameters:  ${JSON.stringify(d.parameters)}`,
      ...d.schedules.map(
        (s) => `  schedule:    ${when(s)}  catch-up ${s.catchUp}  id ${s.id}  last tick ${iso(s.lastTickAt)}`,
      ),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  });
  common(
    deployments
      .command("delete")
      .argument("<name>")
      .description("delete a deployment and its schedules (its runs stay)"),
  ).action(async (name: string, o: ServerCallOptions) => {
    await clientFor(o).delete(`/api/deployments/${enc(name)}`);
    process.stdout.write(`deployment ${name} deleted\n`);
  });
};

/** The schedule of a deployment (by deployment name), or the schedule with this id. */
async function findSchedule(o: ServerCallOptions, nameOrId: string): Promise<ScheduleRecord> {
  const client = clientFor(o);
  const { items } = await client.get<{ items: ScheduleRecord[] }>("/api/schedules");
  const byId = items.find((s) => s.id === nameOrId || s.id.startsWith(nameOrId));
  if (byId) return byId;
  const d = await client.get<Deployment>(`/api/deployments/${enc(nameOrId)}`);
  const s = d.schedules[0];
  if (!s) {
    const { FlotillaError, ErrorCode } = await import("../../core/errors.ts");
    throw new FlotillaError(ErrorCode.Usage, `deployment ${nameOrId} has no schedule`, {
      hint: "give it one with flotilla deploy … --schedule CRON or --interval DURATION",
      usage: true,
    });
  }
  return s;
}

export const schedulesCommand = (program: Command): void => {
  const schedules = program.command("schedules").description("schedules of deployments: list, pause, resume");
  common(schedules.command("list").description("list schedules and their next runs")).action(
    async (o: ServerCallOptions) => {
      const { items } = await clientFor(o).get<{ items: (ScheduleRecord & { nextRuns?: number[] })[] }>(
        "/api/schedules",
      );
      process.stdout.write(
        await renderOutput(o.output, items, () =>
          table([
            ["ID", "DEPLOYMENT", "WHEN", "CATCH-UP", "NEXT"],
            ...items.map((s) => [
              s.id.slice(0, 8),
              s.deploymentId.slice(0, 8),
              when(s),
              s.catchUp,
              iso(s.nextRuns?.[0]),
            ]),
          ]),
        ),
      );
    },
  );
  for (const verb of ["pause", "resume"] as const) {
    common(
      schedules.command(verb).argument("<deployment-or-schedule-id>").description(`${verb} a schedule`),
    ).action(async (nameOrId: string, o: ServerCallOptions) => {
      const s = await findSchedule(o, nameOrId);
      const out = await clientFor(o).post<ScheduleRecord>(`/api/schedules/${enc(s.id)}/${verb}`);
      process.stdout.write(
        await renderOutput(
          o.output,
          out,
          () => `schedule ${out.id.slice(0, 8)} ${out.paused ? "paused" : "resumed"}\n`,
        ),
      );
    });
  }
};
