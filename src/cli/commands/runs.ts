// `flotilla runs list|get|logs|cancel`: flow runs on Kubernetes (src/kubernetes/runs.ts finds them
// by their runner Jobs' labels), printed as `-o` asks. `list -A` shows every namespace (NAMESPACE
// first, as kubectl does), `-l` filters by a label selector. `logs` prints the runner's output as
// readable lines (raw JSON lines with -o json), `--tail N` the last N, `-f` follows it until the
// run ends. `cancel` deletes the run's Job and everything it owns.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import {
  cancelRun,
  getRun,
  type ListRunsOptions,
  listRuns,
  type RunInfo,
  type RunsOptions,
  runLogs,
  streamRunLogs,
} from "../../kubernetes/runs.ts";
import { colorEnabled, paintState } from "../color.ts";
import { formatRunnerLine, parseTail } from "../log-lines.ts";
import {
  LIST_FORMATS,
  LOG_FORMATS,
  type OutputFormat,
  outputOption,
  renderColumns,
  renderDocument,
} from "../output.ts";
import { followUntilStopped } from "../signals.ts";
import { parseInterval } from "./deploy.ts";
import { runsServerCommand, wantsServer } from "./runs-server.ts";

interface RunsCliOptions extends ListRunsOptions {
  output: OutputFormat;
}

/** Runs as `-o` asks: a table (wide adds the Job and the message), one id a line, or a document. */
async function print(
  rows: RunInfo[],
  output: OutputFormat,
  one = false,
  allNamespaces = false,
): Promise<string> {
  if (output === "json" || output === "yaml") return renderDocument(one ? rows[0] : rows, output);
  if (output === "name") return rows.map((r) => `${r.runId}\n`).join("");
  const wide = output === "wide";
  const color = colorEnabled(process.stdout);
  const ns = allNamespaces ? 1 : 0;
  const header = [
    ...(ns ? ["NAMESPACE"] : []),
    "RUN",
    "FLOW",
    "STATE",
    "STARTED",
    ...(wide ? ["JOB", "MESSAGE"] : []),
  ];
  const lines = rows.map((r) => [
    ...(ns ? [r.namespace] : []),
    r.runId,
    r.flow,
    r.status,
    r.startedAt ?? "-",
    ...(wide ? [r.job, r.message ?? ""] : []),
  ]);
  return renderColumns([header, ...lines], (row, col, text) =>
    row > 0 && col === 2 + ns ? paintState(text, color) : text,
  );
}

interface LogsCliOptions extends RunsOptions {
  follow?: boolean;
  tail: string;
  podRunningTimeout: string;
  output: "table" | "json";
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
  const runIdArg = "the run id, or its first characters (the 8 every log line shows)";
  common(runs.command("list").description("list runs (newest first)"))
    .option("-A, --all-namespaces", "the runs of every namespace (a NAMESPACE column comes first)")
    .option(
      "-l, --selector <selector>",
      "only runs whose Job matches this label selector, e.g. team=data,tier!=gpu",
    )
    .action(async (o: RunsCliOptions) => {
      if (o.allNamespaces && o.namespace !== undefined) {
        throw new FlotillaError(ErrorCode.Usage, "-A and -n: give one of them", {
          hint: "-A lists every namespace; -n one of them",
          usage: true,
        });
      }
      process.stdout.write(await print(await listRuns(o), o.output, false, o.allNamespaces === true));
    });
  common(
    runs.command("get").argument("<run-id>", runIdArg).description("show one run and its final state"),
  ).action(async (id: string, o: RunsCliOptions) => {
    const r = await getRun(id, o);
    const text = await print([r], o.output, true);
    process.stdout.write(o.output === "table" && r.message ? `${text}${r.message}\n` : text);
  });
  connection(
    runs
      .command("logs")
      .argument("<run-id>", runIdArg)
      .description("print the runner's output: readable lines, or the raw JSON lines with -o json"),
  )
    .option("-f, --follow", "keep printing lines as the runner writes them, until the run ends")
    .option("--tail <n>", "only the last N lines (-1: all)", "-1")
    .option(
      "--pod-running-timeout <duration>",
      "with -f: how long to wait for the runner to start (e.g. 20s, 2m)",
      "60s",
    )
    .addOption(outputOption(LOG_FORMATS))
    .action(async (id: string, o: LogsCliOptions, cmd: Command) => {
      const { tail: tailText, follow, podRunningTimeout: waitText, output, ...where } = o;
      const tail = parseTail(tailText);
      if (!follow && cmd.getOptionValueSource("podRunningTimeout") === "cli") {
        throw new FlotillaError(ErrorCode.Usage, "--pod-running-timeout does nothing without -f", {
          hint: "add -f to wait for the runner and follow its output",
          usage: true,
        });
      }
      const show = (line: string) => `${output === "json" ? line : formatRunnerLine(line)}\n`;
      if (!follow) {
        const lines = (await runLogs(id, { ...where, tail })).split("\n");
        if (lines.at(-1) === "") lines.pop();
        process.stdout.write(lines.map(show).join(""));
        return;
      }
      const waitMs = parseInterval(waitText, "--pod-running-timeout");
      await followUntilStopped((signal) =>
        streamRunLogs(id, (line) => process.stdout.write(show(line)), {
          ...where,
          tail,
          podRunningTimeoutMs: waitMs,
          signal,
        }),
      );
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
