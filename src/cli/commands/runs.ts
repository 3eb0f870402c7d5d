// `flotilla runs list|get|logs|cancel`: flow runs on Kubernetes (src/kubernetes/runs.ts finds them
// by their runner Jobs' labels), printed as `-o` asks. `cancel` deletes the run's Job and
// everything it owns.

import type { Command } from "commander";
import {
  cancelRun,
  getRun,
  listRuns,
  type RunInfo,
  type RunsOptions,
  runLogs,
} from "../../kubernetes/runs.ts";
import { colorEnabled, paintState } from "../color.ts";
import { LIST_FORMATS, type OutputFormat, outputOption, renderColumns, renderDocument } from "../output.ts";
import { runsServerCommand, wantsServer } from "./runs-server.ts";

interface RunsCliOptions extends RunsOptions {
  output: OutputFormat;
}

/** Runs as `-o` asks: a table (wide adds the Job and the message), one id a line, or a document. */
async function print(rows: RunInfo[], output: OutputFormat, one = false): Promise<string> {
  if (output === "json" || output === "yaml") return renderDocument(one ? rows[0] : rows, output);
  if (output === "name") return rows.map((r) => `${r.runId}\n`).join("");
  const wide = output === "wide";
  const color = colorEnabled(process.stdout);
  const header = ["RUN", "FLOW", "STATUS", "STARTED", ...(wide ? ["JOB", "MESSAGE"] : [])];
  const lines = rows.map((r) => [
    r.runId,
    r.flow,
    r.status,
    r.startedAt ?? "-",
    ...(wide ? [r.job, r.message ?? ""] : []),
  ]);
  return renderColumns([header, ...lines], (row, col, text) =>
    row > 0 && col === 2 ? paintState(text, color) : text,
  );
}

export const runsCommand = (program: Command): void => {
  // with --server (or FLOTILLA_API_URL) the runs are the server's history, not the cluster's Jobs
  if (wantsServer(process.argv)) {
    runsServerCommand(program);
    return;
  }
  const runs = program.command("runs").description("flow runs on Kubernetes: list, get, logs, cancel");
  const connection = (c: Command) =>
    c
      .option("-n, --namespace <ns>", "namespace (default: the context's)")
      .option("--kubeconfig <file>", "kubeconfig file")
      .option("--context <name>", "kubeconfig context");
  const common = (c: Command) => connection(c).addOption(outputOption(LIST_FORMATS));
  common(runs.command("list").description("list runs (newest first)")).action(async (o: RunsCliOptions) => {
    process.stdout.write(await print(await listRuns(o), o.output));
  });
  const runIdArg = "the run id, or its first characters (the 8 every log line shows)";
  common(
    runs.command("get").argument("<run-id>", runIdArg).description("show one run and its final state"),
  ).action(async (id: string, o: RunsCliOptions) => {
    const r = await getRun(id, o);
    const text = await print([r], o.output, true);
    process.stdout.write(o.output === "table" && r.message ? `${text}${r.message}\n` : text);
  });
  connection(
    runs.command("logs").argument("<run-id>", runIdArg).description("print the runner's output"),
  ).action(async (id: string, o: RunsOptions) => {
    process.stdout.write(await runLogs(id, o));
  });
  common(
    runs
      .command("cancel")
      .argument("<run-id>", runIdArg)
      .description("delete the run's Job and everything it owns"),
  ).action(async (id: string, o: RunsCliOptions) => {
    process.stdout.write(await print(await cancelRun(id, o), o.output));
  });
};
