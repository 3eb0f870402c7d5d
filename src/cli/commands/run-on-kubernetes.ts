// `flotilla run` on Kubernetes, the CLI side: `--dry-run` prints every object the run would create
// and changes nothing; `--detach` prints the run id and returns; `--sim` runs the whole path on an
// embedded kube-sim (flow image → this checkout); otherwise the run is followed to its end with the
// runner's output (task logs included) relayed through the caller's logger. SIGINT and SIGTERM
// cancel the run (the summary is still printed), a second one exits at once. The launching,
// following and cancelling themselves are src/kubernetes/runs.ts's.

import { stringify } from "yaml";
import type { RunEvent } from "../../core/executor.ts";
import type { Flow } from "../../core/flow.ts";
import type { Logger } from "../../core/logger.ts";
import type { FlowRunState } from "../../core/states.ts";
import { relayLogLine } from "../../engine/logging.ts";
import { readTally, type TallySnapshot } from "../../engine/run-tally.ts";
import type { KubeClients } from "../../kubernetes/client.ts";
import { flowModuleInImage, type LaunchProgress } from "../../kubernetes/launcher.ts";
import { jobName } from "../../kubernetes/names.ts";
import { chooseImage, printablePlan } from "../../kubernetes/plan.ts";
import {
  environmentOf,
  followRunLogs,
  type KubernetesRunHandle,
  launchKubernetesRun,
  planKubernetesRun,
} from "../../kubernetes/runs.ts";
import type { ServerRunLink } from "../kubernetes-server-run.ts";
import { stopSignals } from "../signals.ts";
import {
  type PendingSim,
  SIM_IMAGE,
  SIM_NAMESPACE,
  type SimCluster,
  startSimCluster,
} from "../sim-cluster.ts";

/** What `flotilla run` passes for a Kubernetes run. */
export interface RunOnKubernetesOptions {
  parameters: Record<string, unknown>;
  logger: Logger;
  onEvent: (e: RunEvent) => void;
  /** Each step from launch to the first task (the status line shows them). */
  onProgress?: (p: LaunchProgress) => void;
  /** The runner's task counts, as it logs them. */
  onTally?: (s: TallySnapshot) => void;
  /** Where --dry-run output and --detach's run id go. */
  stdout: NodeJS.WritableStream;
  /** Where the signal lines go. @default process.stderr */
  stderr?: NodeJS.WritableStream;
  sim?: boolean;
  /** The --sim cluster started while the flow loaded (prestartSimCluster); stopped here. */
  presim?: PendingSim | undefined;
  detach?: boolean;
  dryRun?: "yaml" | "json";
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** The image runner and workers run, over the flow's storage and the environment's `image`. */
  image?: string;
  /** Injected clients (tests). */
  clients?: KubeClients;
  /**
   * Report the run to this Flotilla server (--server): the run is recorded there and its runner pod
   * reports with the run's own token, reaching the server at `reportUrl` (default `url`).
   */
  server?: { url: string; token?: string | undefined; reportUrl?: string | undefined } | undefined;
}

/** Plan, launch or follow a run of `flow` on Kubernetes; the state when followed to its end. */
export async function runOnKubernetes(
  flow: Flow,
  options: RunOnKubernetesOptions,
): Promise<{ state?: FlowRunState; exitCode?: number }> {
  const env = environmentOf(flow);
  // where the image holds the flow: checked first, so a flow outside any project fails at once
  const { projectDir } = flowModuleInImage(flow);
  // --sim maps the run's image to this checkout: the chosen one, else a stand-in name
  const simImage = options.sim ? (tryImage(env, flow, options.image) ?? SIM_IMAGE) : undefined;
  const image = simImage ?? options.image;
  if (options.dryRun) {
    const plan = planKubernetesRun(flow, {
      parameters: options.parameters,
      ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
      ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
      ...(options.context !== undefined ? { context: options.context } : {}),
      ...(image !== undefined ? { image } : {}),
      ...(options.server ? { reportUrl: options.server.reportUrl ?? options.server.url } : {}),
    });
    for (const w of plan.warnings) options.logger.warn(w);
    for (const n of plan.notes) options.logger.info(n);
    const objects = printablePlan(plan);
    options.stdout.write(
      options.dryRun === "json"
        ? `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`
        : objects.map((o) => stringify(o)).join("---\n"),
    );
    return { exitCode: 0 };
  }

  // SIGTERM does what Ctrl-C does, from the first moment: the sim's start included
  let handle: KubernetesRunHandle | undefined;
  let link: ServerRunLink | undefined;
  // a cancel from here is Cancelling on the server first, so the runner's end is recorded Cancelled
  const cancel = async (h: KubernetesRunHandle) => {
    await link?.cancelling();
    await h.cancel().catch(() => {});
  };
  const signals = options.detach
    ? undefined
    : stopSignals({
        stopping: "cancelling the run",
        ...(options.stderr !== undefined ? { stderr: options.stderr } : {}),
        onStop: () => void (handle ? cancel(handle) : undefined),
      });
  // from here this function listens for the signals a pre-started sim held while the flow loaded
  options.presim?.release();
  let sim: SimCluster | undefined;
  try {
    if (options.presim?.stopped()) return { state: cancelledBeforeLaunch(flow) };
    if (simImage !== undefined) {
      sim = await (options.presim?.cluster ?? startSimCluster(projectDir));
      sim.mapImage(simImage);
    }
    if (signals?.signal.aborted) return { state: cancelledBeforeLaunch(flow) };
    link = options.server ? await linkToServer(flow, options, options.server) : undefined;
    handle = await launchKubernetesRun(flow, {
      ...(link ? { runId: link.runId, ...(link.report ? { report: link.report } : {}) } : {}),
      parameters: options.parameters,
      logger: options.logger,
      ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
      ...(sim ? { clients: sim.clients, namespace: SIM_NAMESPACE } : {}),
      ...(!sim && options.clients ? { clients: options.clients } : {}),
      ...(!sim && options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
      ...(!sim && options.context !== undefined ? { context: options.context } : {}),
      ...(!sim && options.namespace !== undefined ? { namespace: options.namespace } : {}),
      ...(image !== undefined ? { image } : {}),
    }).catch(async (error: unknown) => {
      await link?.crashed(`the run could not be launched: ${(error as Error).message}`);
      throw error;
    });
    await link?.launched(handle.namespace, jobName(flow.name, handle.runId));
    if (options.detach) {
      options.stdout.write(`${handle.runId}\n`);
      return { exitCode: 0 };
    }
    // a signal while the objects were being created: cancel now (the handler saw no handle)
    if (signals?.signal.aborted) await cancel(handle);
    const logger = options.logger;
    const follow = followRunLogs(
      handle.runId,
      { clients: handle.clients, namespace: handle.namespace },
      (line) => relayRunnerLine(line, logger, options),
    );
    try {
      const state = await handle.wait();
      await link?.finish(state);
      return { state };
    } finally {
      follow.stop();
    }
  } finally {
    signals?.off();
    await (options.presim?.stop() ?? sim?.stop());
  }
}

/** The run recorded on the server, its token minted (one warning and undefined when it cannot be). */
async function linkToServer(
  flow: Flow,
  options: RunOnKubernetesOptions,
  server: NonNullable<RunOnKubernetesOptions["server"]>,
): Promise<ServerRunLink | undefined> {
  const { linkServerRun } = await import("../kubernetes-server-run.ts");
  return linkServerRun({
    url: server.url,
    reportUrl: server.reportUrl,
    token: server.token,
    flow,
    parameters: options.parameters,
    warn: (m) => options.logger.warn(m),
  });
}

/**
 * One line of the runner's output: its task counts feed the status line (they are not log lines),
 * its worker counts the workers shown; every other line is re-logged here.
 */
function relayRunnerLine(
  line: string,
  logger: Logger,
  options: Pick<RunOnKubernetesOptions, "onEvent" | "onTally">,
): void {
  if (line.includes('"progress"')) {
    try {
      const tally = readTally((JSON.parse(line) as { progress?: unknown }).progress);
      if (tally) {
        options.onTally?.(tally);
        return;
      }
    } catch {
      // not JSON: relayed below
    }
  }
  const relayed = relayLogLine(line, logger);
  if (relayed === undefined) {
    logger.info(line);
    return;
  }
  const { workers, pending } = relayed.fields;
  if (typeof workers === "number")
    options.onEvent({
      type: "workers",
      count: workers,
      pending: typeof pending === "number" ? pending : 0,
      reason: relayed.message,
    } as RunEvent);
}

/** The image the flow names (call, storage, options, worker spec), or undefined when none. */
function tryImage(env: Parameters<typeof chooseImage>[0], flow: Flow, override?: string): string | undefined {
  try {
    return chooseImage(env, flow, override).image;
  } catch {
    return undefined;
  }
}

function cancelledBeforeLaunch(flow: Flow): FlowRunState {
  const now = Date.now();
  return {
    type: "Failed",
    message: "run cancelled before it was launched",
    flow: flow.name,
    runId: "-",
    taskRuns: {},
    startedAt: now,
    finishedAt: now,
  };
}
