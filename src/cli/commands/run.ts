// `flotilla run <flow-file>`: run a flow with its environment — here by default, on a local worker
// cluster with --workers MIN:MAX, or on Kubernetes when the flow names a KubeClusterEnvironment
// (or with --sim) — showing progress and a final summary; exit 0 on Success, 1 on Failed.

import { readFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import type { Executor, RunEvent } from "../../core/executor.ts";
import type { Flow } from "../../core/flow.ts";
import type { Logger } from "../../core/logger.ts";
import type { FlowRunState } from "../../core/states.ts";
import { createLogger, type LogFormat } from "../../engine/logging.ts";
import { LocalEnvironment } from "../../executors/local-environment.ts";
import { LocalExecutor } from "../../executors/local-executor.ts";
import type { LaunchProgress } from "../../kubernetes/launcher.ts";
import type { RunReporting } from "../../reporting/report-run.ts";
import { scrub } from "../../secrets/redact.ts";
import { serverUrl } from "../../server/server-url.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";
import { colorEnabled } from "../color.ts";
import { collect, parseWorkers, positiveIntFlag, reportUrlOf } from "../flags.ts";
import { checkOutput, DOCUMENT_FORMATS, outputOption, renderDocument } from "../output.ts";
import { Progress } from "../progress.ts";
import { stopSignals } from "../signals.ts";
import { renderTable, summarizeTasks } from "../summary.ts";

export interface RunCommandOptions {
  flowFile: string;
  flow?: string;
  param?: string[];
  paramsFile?: string;
  /** The summary's format; with --dry-run, the objects' format (yaml or json). @default table, yaml with dryRun */
  output?: "table" | "json" | "yaml";
  /** Run here with the local executor, whatever environment the flow names. */
  local?: boolean;
  /** A local worker cluster, "MIN:MAX" (or "N"). */
  workers?: string;
  concurrency?: number;
  logFormat?: LogFormat;
  /** Kubernetes options (used when the flow's environment is a KubeClusterEnvironment). */
  sim?: boolean;
  detach?: boolean;
  dryRun?: boolean;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** The image runner and workers run on Kubernetes (over the flow's storage). */
  image?: string;
  /** Report the run to this Flotilla server (default FLOTILLA_API_URL); without one, nothing is reported. */
  server?: string;
  /** The server's API token (default FLOTILLA_API_TOKEN, else the home's admin token). */
  token?: string;
  /**
   * On Kubernetes: the server's URL as the runner pod reaches it, when it differs from --server's
   * (default FLOTILLA_REPORT_URL, else the --server URL).
   */
  reportUrl?: string;
  /** A run the server already has (an agent launched it): report to it instead of creating one. */
  runId?: string;
  /** Where progress and logs go. @default process.stderr */
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Where the summary goes. @default process.stdout */
  stdout?: NodeJS.WritableStream;
}

export interface RunCommandResult {
  state?: FlowRunState;
  exitCode: number;
}

/** How long a run cancelled on the server may take to stop before the process exits. */
const SERVER_CANCEL_GRACE_MS = 5000;

export async function run(options: RunCommandOptions): Promise<RunCommandResult> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  checkRunFlags(options);
  // --sim: the embedded cluster starts while the flow module loads (neither needs the other)
  const presim = options.sim
    ? (await import("../sim-cluster.ts")).prestartSimCluster(options.flowFile, stderr)
    : undefined;
  const { flow, parameters } = await loadRunFlow(options).catch(async (error: unknown) => {
    await presim?.stop();
    throw error;
  });

  const progress = new Progress({ stream: stderr as NodeJS.WriteStream });
  // Log lines go through the progress display, which keeps its status line below them.
  let reporting: RunReporting | undefined;
  /** The final state has been sent to the server. */
  let reported = false;
  const logger = createLogger({
    format: options.logFormat ?? "pretty",
    stream: progress.logStream,
    tap: (line) => reporting?.logLine(line),
  });
  const kubernetes =
    !options.local &&
    options.workers === undefined &&
    (options.sim ||
      options.dryRun ||
      options.detach ||
      options.image !== undefined ||
      flow.environment?.kind === "kubernetes");
  checkModeFlags(options, flow, kubernetes);
  const output = options.output ?? (options.dryRun ? "yaml" : "table");

  let state: FlowRunState | undefined;
  // the wall time the user waited for a Kubernetes run: launch, scheduling, pulls and the run
  const launchedAt = Date.now();
  let waitedMs: number | undefined;
  try {
    if (kubernetes) {
      const { runOnKubernetes } = await import("./run-on-kubernetes.ts");
      const outcome = await runOnKubernetes(flow, {
        parameters,
        logger,
        onEvent: progress.onEvent,
        stdout,
        stderr,
        onProgress: (p) => progress.logStream.write(`${describeLaunch(p)}\n`),
        onTally: progress.onTally,
        ...(options.sim !== undefined ? { sim: options.sim, presim } : {}),
        ...(options.detach !== undefined ? { detach: options.detach } : {}),
        ...(options.dryRun ? { dryRun: output === "json" ? "json" : "yaml" } : {}),
        ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
        ...(options.context !== undefined ? { context: options.context } : {}),
        ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
        ...(options.image !== undefined ? { image: options.image } : {}),
        ...kubernetesServer(options),
      });
      state = outcome.state;
      if (state === undefined) return { exitCode: outcome.exitCode ?? 0 };
      waitedMs = Date.now() - launchedAt;
    } else {
      reporting = await reportTo(options, flow, parameters, progress);
      state = await runHere(flow, parameters, options, {
        logger,
        progress,
        stderr,
        reporting,
        reported: () => reported,
      });
    }
  } finally {
    await reporting?.finish(state);
    reported = true;
    progress.stop();
  }

  await printSummary(stdout, state, output, waitedMs);
  return { state, exitCode: state.type === "Success" ? 0 : 1 };
}

/** A Kubernetes run's server (--server or FLOTILLA_API_URL) and the URL its runner pod reports to. */
function kubernetesServer(options: RunCommandOptions): {
  server?: { url: string; token?: string; reportUrl?: string };
} {
  const url = serverUrl(options.server);
  if (url === undefined) return {};
  const reportUrl = reportUrlOf(options);
  return {
    server: {
      url,
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(reportUrl !== undefined ? { reportUrl } : {}),
    },
  };
}

/** The run's server reporting, when a server is set (--server or FLOTILLA_API_URL); else undefined. */
async function reportTo(
  options: RunCommandOptions,
  flow: Flow,
  parameters: Record<string, unknown>,
  progress: Progress,
): Promise<RunReporting | undefined> {
  const url = serverUrl(options.server);
  if (url === undefined) return undefined;
  const { startReporting } = await import("../../reporting/report-run.ts");
  return startReporting({
    url,
    flow,
    parameters,
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.runId !== undefined ? { runId: options.runId, existing: true } : {}),
    warn: (m) => progress.logStream.write(`warning: ${m}\n`),
  });
}

/**
 * Run the flow in this process (its executor local or a local worker cluster) to its final
 * state; SIGINT/SIGTERM and a cancel made on the server cancel it.
 */
async function runHere(
  flow: Flow,
  parameters: Record<string, unknown>,
  options: RunCommandOptions,
  o: {
    logger: Logger;
    progress: Progress;
    stderr: NodeJS.WritableStream;
    reporting: RunReporting | undefined;
    /** The final state has been sent to the server. */
    reported: () => boolean;
  },
): Promise<FlowRunState> {
  const { logger, progress, stderr } = o;
  const report = o.reporting;
  const onEvent = report
    ? (e: RunEvent) => {
        progress.onEvent(e);
        report.onEvent(e);
      }
    : progress.onEvent;
  const executor = await chooseExecutor(flow, options, logger);
  const env = new LocalEnvironment();
  await env.setup(flow);
  const handle = await env.execute(flow, {
    parameters,
    executor,
    logger,
    onEvent,
    ...(report ? { runId: report.runId } : {}),
  });
  // SIGTERM does what Ctrl-C does; a second one stops at once (stopSignals)
  const signals = stopSignals({
    stopping: "cancelling the run",
    stderr,
    onStop: () => void handle.cancel(),
  });
  // a cancel made on the server (API, CLI, dashboard) stops the run here, as Ctrl-C does;
  // a task that does not stop within the grace period is stopped as a second Ctrl-C would
  report?.onCancel(() => {
    stderr.write("the run was cancelled on the server; cancelling the run\n");
    void handle.cancel();
    // (a task that ignores the cancel keeps the process alive after the run has ended)
    setTimeout(() => {
      stderr.write(
        `the run did not stop within ${SERVER_CANCEL_GRACE_MS / 1000} s of the cancel: stopping now\n`,
      );
      void (o.reported() ? Promise.resolve() : report.finish(undefined, 3000)).finally(() =>
        process.exit(130),
      );
    }, SERVER_CANCEL_GRACE_MS).unref();
  });
  try {
    return await handle.wait();
  } finally {
    signals.off();
  }
}

/** The final summary on stdout: a JSON or YAML document, or the table (and a Kubernetes run's waited time). */
async function printSummary(
  stdout: NodeJS.WritableStream,
  state: FlowRunState,
  output: "table" | "json" | "yaml",
  waitedMs: number | undefined,
): Promise<void> {
  if (output === "json" || output === "yaml") {
    const doc = {
      flow: state.flow,
      runId: state.runId,
      state: state.type,
      message: state.message,
      durationMs: (state.finishedAt ?? Date.now()) - state.startedAt,
      tasks: summarizeTasks(state, { redact: scrub }),
      ...(waitedMs !== undefined ? { wallTimeMs: waitedMs } : {}),
    };
    stdout.write(scrub(await renderDocument(doc, output)));
  } else {
    // task messages and results are user text: a secret a task read must not reach the summary
    stdout.write(scrub(renderTable(state, { color: colorEnabled(stdout as { isTTY?: boolean }) })));
    if (waitedMs !== undefined)
      stdout.write(
        `Waited ${formatDuration(waitedMs)} in all (launch, scheduling, image pulls and the run)\n`,
      );
  }
}

/** One launch step as a line: Job created, runner pod scheduled, pulling, broker ready, started. */
function describeLaunch(p: LaunchProgress): string {
  switch (p.step) {
    case "created":
      return `Job ${p.job} created in namespace ${p.namespace}`;
    case "scheduled":
      return `runner pod ${p.pod} scheduled${p.node ? ` on node ${p.node}` : ""}`;
    case "pulling":
      return `runner pod ${p.pod}: pulling image ${p.image}`;
    case "broker-ready":
      return `runner pod ${p.pod}: broker ready`;
    case "runner-started":
      return `runner pod ${p.pod}: runner started, waiting for workers`;
    case "workers":
      return `workers: ${p.running}/${p.target}`;
  }
}

function formatDuration(ms: number): string {
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}

/** The flow to run and its parameters, checked before anything starts. */
async function loadRunFlow(
  options: RunCommandOptions,
): Promise<{ flow: Flow; parameters: Record<string, unknown> }> {
  const flow = selectFlow(await loadFlowModule(options.flowFile), options.flow);
  flow.validate();
  const parameters = await readParameters(options, flow);
  flow.resolveParameters(parameters); // fail on unknown or missing parameters before anything starts
  return { flow, parameters };
}

/** Flags that only mean something when the run goes to Kubernetes, and those that only mean something here. */
const KUBERNETES_FLAGS = {
  sim: "--sim",
  detach: "--detach",
  dryRun: "--dry-run",
  kubeconfig: "--kubeconfig",
  context: "--context",
  namespace: "-n/--namespace",
  image: "--image",
  reportUrl: "--report-url",
} as const satisfies Partial<Record<keyof RunCommandOptions, string>>;
const LOCAL_FLAGS = {
  local: "--local",
  workers: "--workers",
  concurrency: "--concurrency",
} as const satisfies Partial<Record<keyof RunCommandOptions, string>>;

const given = (options: RunCommandOptions, key: keyof RunCommandOptions) =>
  options[key] !== undefined && options[key] !== false;

function conflict(a: string, b: string, why: string): FlotillaError {
  return new FlotillaError(ErrorCode.Usage, `${a} cannot be used with ${b}: ${why}`, { usage: true });
}

/**
 * Flags that contradict each other, or that would do nothing, are errors before anything loads:
 * a flag silently ignored is a run the user did not ask for.
 */
export function checkRunFlags(options: RunCommandOptions): void {
  const kube = Object.entries(KUBERNETES_FLAGS).filter(([k]) => given(options, k as keyof RunCommandOptions));
  const local = Object.entries(LOCAL_FLAGS).filter(([k]) => given(options, k as keyof RunCommandOptions));
  if (kube.length > 0 && local.length > 0) {
    throw conflict(
      local[0]![1],
      kube[0]![1],
      `${local[0]![1]} runs the flow here, ${kube[0]![1]} is for a run on Kubernetes; choose one`,
    );
  }
  if (options.dryRun && options.detach)
    throw conflict("--dry-run", "--detach", "a dry run creates nothing to detach from");
  if (options.dryRun && options.sim)
    throw conflict("--dry-run", "--sim", "a dry run needs no cluster; drop --sim");
  for (const k of ["kubeconfig", "context"] as const) {
    if (options.sim && given(options, k))
      throw conflict("--sim", KUBERNETES_FLAGS[k], "--sim runs on its own embedded cluster");
  }
  if (options.reportUrl !== undefined && serverUrl(options.server) === undefined)
    throw new FlotillaError(
      ErrorCode.Usage,
      "--report-url needs --server (or FLOTILLA_API_URL): it is where the runner pod reaches that server",
      { usage: true },
    );
  if (options.reportUrl !== undefined) reportUrlOf(options);
  const output = options.output;
  if (output !== undefined) checkOutput(output, DOCUMENT_FORMATS, "flotilla run");
  if (options.dryRun && output === "table")
    throw new FlotillaError(ErrorCode.Usage, "--dry-run prints Kubernetes objects: use -o yaml or -o json", {
      usage: true,
    });
  if (options.detach && output !== undefined && output !== "table")
    throw conflict(
      `-o ${output}`,
      "--detach",
      "--detach prints only the run id (`flotilla runs get ID -o json` shows the run)",
    );
}

/** Flags that do nothing in the mode the flow runs in (known once the flow is loaded). */
function checkModeFlags(options: RunCommandOptions, flow: Flow, kubernetes: boolean): void {
  if (kubernetes && options.concurrency !== undefined) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `--concurrency does nothing here: flow "${flow.name}" runs on Kubernetes (it names a KubeClusterEnvironment)`,
      {
        hint: "add --local or --workers MIN:MAX to run it here, or set workerConcurrency in its environment",
        usage: true,
      },
    );
  }
  if (!kubernetes) {
    for (const k of ["kubeconfig", "context", "namespace", "reportUrl"] as const) {
      if (options[k] === undefined) continue;
      throw new FlotillaError(
        ErrorCode.Usage,
        `${KUBERNETES_FLAGS[k]} does nothing here: flow "${flow.name}" runs in this process (it names no KubeClusterEnvironment)`,
        {
          hint: "give the flow a KubeClusterEnvironment, or pass --image REF to run it on Kubernetes",
          usage: true,
        },
      );
    }
  }
}

async function chooseExecutor(flow: Flow, options: RunCommandOptions, logger: Logger): Promise<Executor> {
  if (options.workers !== undefined) {
    const { minWorkers, maxWorkers } = parseWorkers(options.workers);
    const [{ ClusterExecutor }, { LocalCluster }] = await Promise.all([
      import("../../executors/cluster-executor.ts"),
      import("../../cluster/local-cluster.ts"),
    ]);
    return new ClusterExecutor({
      cluster: new LocalCluster({
        minWorkers,
        maxWorkers,
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      }),
    });
  }
  if (options.local || flow.options.executor === undefined) {
    return new LocalExecutor(options.concurrency !== undefined ? { concurrency: options.concurrency } : {});
  }
  logger.debug({ executor: flow.options.executor.kind }, "using the flow's executor");
  return flow.options.executor;
}

/**
 * Parameters from --params-file, then --param key=value. A --param value is read as its parameter's
 * declared type (text for a string parameter, JSON otherwise); for an undeclared one, JSON when it
 * is JSON, else text. The flow then checks every value against its type.
 */
export async function readParameters(
  options: Pick<RunCommandOptions, "param" | "paramsFile">,
  flow?: Pick<Flow, "parameters">,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (options.paramsFile !== undefined) {
    let text: string;
    try {
      text = await readFile(options.paramsFile, "utf8");
    } catch {
      throw new FlotillaError(ErrorCode.Usage, `--params-file ${options.paramsFile}: file not found`, {
        usage: true,
      });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new FlotillaError(
        ErrorCode.ParameterInvalid,
        `--params-file ${options.paramsFile}: not valid JSON (${(e as Error).message})`,
        { usage: true },
      );
    }
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      throw new FlotillaError(
        ErrorCode.ParameterInvalid,
        `--params-file ${options.paramsFile}: must hold a JSON object of parameter names to values`,
        { usage: true },
      );
    }
    Object.assign(out, doc);
  }
  for (const p of options.param ?? []) {
    const eq = p.indexOf("=");
    if (eq <= 0) {
      throw new FlotillaError(
        ErrorCode.ParameterInvalid,
        `--param ${p}: expected key=value (e.g. --param n=10)`,
        {
          usage: true,
        },
      );
    }
    const name = p.slice(0, eq);
    const text = p.slice(eq + 1);
    const declared = flow?.parameters.find((x) => x.name === name);
    out[name] = declared ? declared.fromText(text) : parseValue(text);
  }
  return out;
}

function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export const runCommand = (program: Command): void => {
  program
    .command("run")
    .description("run a flow with its environment (here by default), show progress, print a summary")
    .argument("<flow-file>", "a .ts or .js module exporting a Flow")
    .option("--flow <name>", "the flow to run, when the module exports several")
    .option("--param <key=value>", "a parameter (repeatable); the value is JSON, or a string", collect)
    .option("--params-file <file>", "a JSON object of parameters")
    .addOption(outputOption(DOCUMENT_FORMATS).default(undefined, "table; yaml with --dry-run"))
    .option("--local", "run here, in this process, whatever environment the flow names")
    .option("--workers <min:max>", "run on a local worker cluster of MIN to MAX worker processes")
    .option(
      "--concurrency <n>",
      "task runs at once (per worker with --workers)",
      positiveIntFlag("--concurrency"),
    )
    .option("--log-format <format>", "pretty or json", "pretty")
    .option("--server <url>", "report the run to this Flotilla server (default: $FLOTILLA_API_URL)")
    .option(
      "--token <token>",
      "the server's API token (default: $FLOTILLA_API_TOKEN, else the home's admin token)",
    )
    .option(
      "--report-url <url>",
      "kubernetes: the server's URL as the runner pod reaches it (default: $FLOTILLA_REPORT_URL, else --server)",
    )
    .addOption(new Option("--run-id <id>", "report to this existing run (agents use it)").hideHelp())
    .option("--sim", "run the Kubernetes path on an embedded kube-sim")
    .option("--detach", "launch on Kubernetes, print the run id and return")
    .option("--dry-run", "print every Kubernetes object that would be created; change nothing")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("--context <name>", "kubeconfig context")
    .option("-n, --namespace <ns>", "Kubernetes namespace")
    .option(
      "--image <ref>",
      "image for the runner and workers on Kubernetes (default: the flow's storage image)",
    )
    .action(async (flowFile: string, opts: Omit<RunCommandOptions, "flowFile">) => {
      const result = await run({ flowFile, ...opts });
      process.exitCode = result.exitCode;
    });
};
