// `flotilla deploy flow.ts --name N`: register a flow with a server as a deployment an agent can
// start, by hand (`flotilla runs create N`) or on a schedule. What is sent is the flow's name,
// version fingerprint, image, module path, DAG and parameter schema — and nothing else: custom
// scheduler and worker spec files stay in the flow's image, never on the server.

import path from "node:path";
import type { Command } from "commander";
import { describeFlow } from "../../core/describe.ts";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";
import { moduleInProject } from "../../storage/project.ts";
import type { DeploymentRecord, ScheduleRecord } from "../../store/store.ts";
import { outputOption, renderDocument, SERVER_FORMATS } from "../output.ts";
import { clientFor, parseParams, type ServerCallOptions } from "./runs-server.ts";

export interface DeployOptions extends ServerCallOptions {
  name: string;
  flow?: string;
  param?: string[];
  pool?: string;
  schedule?: string;
  interval?: string;
  timezone?: string;
  catchUp?: string;
  concurrency?: string;
  image?: string;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10m", "90s", "1h30m", "2d" → ms. */
export function parseInterval(text: string, flag = "--interval"): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  const joined = parts.map((p) => p[0]).join("");
  const ms = parts.reduce((a, p) => a + Number(p[1]) * UNITS[p[2]!]!, 0);
  if (parts.length === 0 || joined !== text.trim() || ms < 1000) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `${flag} ${text}: expected a duration of at least 1s such as 30s, 10m, 1h30m or 1d`,
      {
        usage: true,
      },
    );
  }
  return Math.round(ms);
}

/** What deploy sends for a flow: describe's data only. */
export function deploymentBody(flow: Flow, file: string, o: DeployOptions) {
  const d = describeFlow(flow);
  const image = o.image ?? flow.storage?.imageRef?.();
  if (o.schedule !== undefined && o.interval !== undefined) {
    throw new FlotillaError(ErrorCode.Usage, "--schedule and --interval: give one of them", { usage: true });
  }
  if (
    (o.timezone !== undefined || o.catchUp !== undefined) &&
    o.schedule === undefined &&
    o.interval === undefined
  ) {
    throw new FlotillaError(ErrorCode.Usage, "--timezone and --catch-up go with --schedule or --interval", {
      usage: true,
    });
  }
  if (o.catchUp !== undefined && !["skip", "once", "all"].includes(o.catchUp)) {
    throw new FlotillaError(ErrorCode.Usage, `--catch-up ${o.catchUp}: use skip, once or all`, {
      usage: true,
    });
  }
  let concurrencyLimit: number | undefined;
  if (o.concurrency !== undefined) {
    concurrencyLimit = Number(o.concurrency);
    if (!Number.isInteger(concurrencyLimit) || concurrencyLimit < 1) {
      throw new FlotillaError(
        ErrorCode.Usage,
        `--concurrency ${o.concurrency}: expected a whole number >= 1`,
        { usage: true },
      );
    }
  }
  const pool = o.pool ?? (flow.environment?.kind === "kubernetes" ? "kubernetes" : "local");
  return {
    name: o.name,
    flow: {
      name: d.name,
      fingerprint: d.fingerprint,
      ...(image ? { image } : {}),
      // where the runner loads the flow: for a Kubernetes flow or pool its path in the image
      // (relative to the project DockerStorage packs), else this file
      module:
        pool === "kubernetes" || flow.environment?.kind === "kubernetes"
          ? moduleInProject(file).modulePath
          : path.resolve(file),
      dag: { tasks: d.tasks, edges: d.edges, parameterInputs: d.parameterInputs },
      parameterSchema: d.parameters,
    },
    parameters: parseParams(o.param),
    pool,
    ...(concurrencyLimit !== undefined ? { concurrencyLimit } : {}),
    ...(o.schedule !== undefined || o.interval !== undefined
      ? {
          schedule: {
            ...(o.schedule !== undefined ? { cron: o.schedule } : { intervalMs: parseInterval(o.interval!) }),
            timezone: o.timezone ?? "UTC",
            catchUp: o.catchUp ?? "skip",
          },
        }
      : {}),
  };
}

export async function deploy(
  file: string,
  o: DeployOptions,
): Promise<DeploymentRecord & { schedules: ScheduleRecord[] }> {
  const client = clientFor(o);
  const flow = selectFlow(await loadFlowModule(file), o.flow);
  flow.validate();
  const body = deploymentBody(flow, file, o);
  return client.post<DeploymentRecord & { schedules: ScheduleRecord[] }>("/api/deployments", body);
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export const deployCommand = (program: Command): void => {
  program
    .command("deploy")
    .description("register a flow with a Flotilla server as a deployment (optionally on a schedule)")
    .argument("<flow-file>", "a .ts or .js module exporting a Flow")
    .requiredOption("--name <name>", "the deployment's name")
    .option("--flow <name>", "the flow to deploy, when the module exports several")
    .option("--param <key=value>", "a default parameter of its runs (repeatable)", collect)
    .option(
      "--pool <pool>",
      "the agents' pool that runs it: local or kubernetes (default: from the flow's environment)",
    )
    .option("--schedule <cron>", 'a cron expression, e.g. "*/15 * * * *"')
    .option("--timezone <tz>", "the cron expression's time zone (IANA name)", undefined)
    .option("--interval <duration>", "run every DURATION instead, e.g. 10m")
    .option("--catch-up <policy>", "after downtime: skip, once or all missed runs")
    .option("--concurrency <n>", "at most N runs of this deployment at once")
    .option("--image <ref>", "the image its Kubernetes runs use (default: the flow's storage image)")
    .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
    .option("--token <token>", "API token (default: $FLOTILLA_API_TOKEN, else the home's admin token)")
    .addOption(outputOption(SERVER_FORMATS))
    .action(async (file: string, o: DeployOptions) => {
      const d = await deploy(file, o);
      if (o.output === "json" || o.output === "yaml") {
        process.stdout.write(await renderDocument(d, o.output));
        return;
      }
      const s = d.schedules[0];
      process.stdout.write(
        `deployment ${d.name} (flow ${d.flowName}, pool ${d.pool}) registered${
          s ? `; schedule ${s.cron ?? `every ${s.intervalMs} ms`} (${s.timezone}, catch-up ${s.catchUp})` : ""
        }\n`,
      );
    });
};
