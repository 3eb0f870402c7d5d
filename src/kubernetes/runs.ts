// Runs on Kubernetes as a program drives them: plan one, launch one and follow it to its end,
// stream its runner's output, list and read runs (by their runner Jobs' labels, names.ts's
// selectors), read their logs, cancel them. The CLI (`flotilla run`, `flotilla runs`) and the
// server's Kubernetes agent are both callers; nothing here prints, reads flags or handles signals.
// `cancelRun` deletes the Job with propagationPolicy Background, so its pod, the pod's worker pods
// and the per-run Secret (all owned, directly or not, by the Job) go with it.

import { PassThrough } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import type { RunHandle } from "../core/environment.ts";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import type { Logger } from "../core/logger.ts";
import { resolveRunId } from "../core/run-id.ts";
import { newRunId } from "../engine/run.ts";
import { type ConnectOptions, connect, type KubeClients } from "./client.ts";
import { isKubeClusterEnvironment, KubeClusterEnvironment } from "./environment.ts";
import { apiCall } from "./errors.ts";
import { deleteRunJob, flowModuleInImage, type LaunchProgress } from "./launcher.ts";
import { FLOTILLA_CONTAINER, Label, labelValue, MANAGED_BY, runSelector } from "./names.ts";
import { planRun, type RunPlan } from "./plan.ts";
import { fatalReason } from "./pod-status.ts";
import { decodeTermination } from "./termination.ts";

/** Where runs are: a connection (or ready clients) and a namespace (default: the context's). */
export interface RunsOptions extends ConnectOptions {
  namespace?: string | undefined;
  clients?: KubeClients | undefined;
}

/** One run as its runner Job and pod show it. */
export interface RunInfo {
  runId: string;
  flow: string;
  job: string;
  /**
   * Pending, Running, Succeeded, Failed (from the Job); the final state's type once known; `Stuck`
   * when the runner pod cannot start (image pull, crash loop, unschedulable): `message` says why.
   */
  status: string;
  message?: string;
  startedAt?: string;
}

function target(o: RunsOptions): { clients: KubeClients; namespace: string } {
  const clients = o.clients ?? connect(o);
  return { clients, namespace: o.namespace ?? clients.defaultNamespace };
}

/** The KubeClusterEnvironment a flow runs with: its own, else one with the defaults. */
export function environmentOf(flow: Flow): KubeClusterEnvironment {
  return isKubeClusterEnvironment(flow.environment)
    ? flow.environment
    : new KubeClusterEnvironment({}, process.cwd());
}

/** What `planKubernetesRun` and `launchKubernetesRun` take besides the flow. */
export interface KubernetesRunOptions extends RunsOptions {
  parameters?: Record<string, unknown> | undefined;
  /** The image runner and workers run, over the flow's storage and the environment's `image`. */
  image?: string | undefined;
  runId?: string | undefined;
}

/**
 * The plan of a run of `flow` (every object and warning) without touching a cluster: the
 * namespace is the call's, else the environment's, else the kubeconfig context's when one can be
 * read, else "default".
 */
export function planKubernetesRun(flow: Flow, options: KubernetesRunOptions = {}): RunPlan {
  const env = environmentOf(flow);
  const { modulePath } = flowModuleInImage(flow);
  let namespace = options.namespace ?? env.options.namespace;
  if (namespace === undefined) {
    try {
      namespace = (options.clients ?? env.clients(options)).defaultNamespace;
    } catch {
      namespace = "default";
    }
  }
  return planRun(env, flow, {
    runId: options.runId ?? newRunId(),
    namespace,
    flowModule: modulePath,
    image: options.image,
    parameters: options.parameters,
  });
}

/** What `launchKubernetesRun` takes: where, and the run's logger, signal and progress. */
export interface LaunchKubernetesRunOptions extends KubernetesRunOptions {
  logger?: Logger | undefined;
  signal?: AbortSignal | undefined;
  /** Each step from launch to the first task (Job created, pod scheduled, image pulling, …). */
  onProgress?: ((p: LaunchProgress) => void) | undefined;
  /** The longest pause between two looks at the runner pod without a change, in ms. @default 2000 */
  resyncIntervalMs?: number | undefined;
}

/** A launched run: its handle, and where it runs. */
export interface KubernetesRunHandle extends RunHandle {
  readonly namespace: string;
  readonly clients: KubeClients;
}

/**
 * Launch a run of `flow` on Kubernetes (its environment's setup, then the plan's objects) and
 * return a handle: `wait()` follows the runner pod to the final state, `cancel()` deletes the Job
 * and everything it owns.
 */
export async function launchKubernetesRun(
  flow: Flow,
  options: LaunchKubernetesRunOptions = {},
): Promise<KubernetesRunHandle> {
  const env = environmentOf(flow);
  flowModuleInImage(flow); // a flow outside any project fails before anything connects
  const clients = env.clients(options);
  const namespace = env.namespaceFor(clients, options);
  const handle = await env.execute(flow, {
    clients,
    namespace,
    ...(options.image !== undefined ? { image: options.image } : {}),
    ...(options.parameters !== undefined ? { parameters: options.parameters } : {}),
    ...(options.runId !== undefined ? { runId: options.runId } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
    ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
    ...(options.resyncIntervalMs !== undefined ? { resyncIntervalMs: options.resyncIntervalMs } : {}),
  });
  return {
    runId: handle.runId,
    wait: () => handle.wait(),
    cancel: () => handle.cancel(),
    namespace,
    clients,
  };
}

async function runJobs(clients: KubeClients, namespace: string, runId?: string) {
  const selector = `${Label.component}=runner,${Label.managedBy}=${MANAGED_BY}${runId ? `,${Label.runId}=${labelValue(runId)}` : ""}`;
  const list = await apiCall({ verb: "list", resource: "jobs.batch", namespace }, () =>
    clients.batch.listNamespacedJob({ namespace, labelSelector: selector }),
  );
  return list.items;
}

async function runnerPod(clients: KubeClients, namespace: string, runId: string) {
  const pods = await apiCall({ verb: "list", resource: "pods", namespace }, () =>
    clients.core.listNamespacedPod({ namespace, labelSelector: runSelector(runId, "runner") }),
  );
  return pods.items[0];
}

/** The runs in the namespace, newest first. */
export async function listRuns(o: RunsOptions = {}): Promise<RunInfo[]> {
  const { clients, namespace } = target(o);
  const jobs = await runJobs(clients, namespace);
  return jobs
    .map((j) => {
      const s = j.status;
      const status = s?.succeeded ? "Succeeded" : s?.failed ? "Failed" : s?.active ? "Running" : "Pending";
      return {
        runId: j.metadata?.labels?.[Label.runId] ?? "?",
        flow: j.metadata?.labels?.[Label.flow] ?? "?",
        job: j.metadata?.name ?? "?",
        status,
        ...(j.metadata?.creationTimestamp
          ? { startedAt: new Date(j.metadata.creationTimestamp).toISOString() }
          : {}),
      };
    })
    .sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? ""));
}

/** The full id of the run `given` names in the namespace: the id, or a unique prefix (the 8 characters logs show). */
async function resolveIn(clients: KubeClients, namespace: string, given: string): Promise<string> {
  const jobs = await runJobs(clients, namespace);
  return resolveRunId(
    given,
    jobs.map((j) => j.metadata?.labels?.[Label.runId] ?? ""),
    ` in namespace "${namespace}"`,
  );
}

/**
 * One run, with the final state's message from the runner's termination message. `given` is the
 * run id or a unique prefix of it (an ambiguous one is a usage error listing the candidates).
 */
export async function getRun(given: string, o: RunsOptions = {}): Promise<RunInfo> {
  const { clients, namespace } = target(o);
  const runs = await listRuns({ ...o, clients, namespace });
  const runId = resolveRunId(
    given,
    runs.map((r) => r.runId),
    ` in namespace "${namespace}"`,
  );
  const info = runs.find((r) => r.runId === labelValue(runId));
  if (!info) {
    throw new FlotillaError(ErrorCode.Usage, `no run ${runId} in namespace "${namespace}"`, {
      hint: "give the full run id from `flotilla runs list` (finished runs are kept until their ttlSecondsAfterFinished)",
      usage: true,
    });
  }
  const pod = await runnerPod(clients, namespace, runId);
  const term = pod?.status?.containerStatuses?.find((c) => c.name === FLOTILLA_CONTAINER)?.state?.terminated;
  const summary = decodeTermination(term?.message);
  if (summary) return { ...info, status: summary.type, message: summary.message };
  // a detached run has no follower to fail it fast: say why its runner pod cannot start
  const stuck = pod && !term ? fatalReason(pod) : undefined;
  return stuck
    ? {
        ...info,
        status: "Stuck",
        message: `runner pod ${pod?.metadata?.name}: ${stuck.reason}: ${stuck.detail}; it will not start by itself: \`flotilla runs cancel ${info.runId}\`, fix the cause, run again`,
      }
    : info;
}

/** The runner container's output so far (`given`: the run id or a unique prefix). */
export async function runLogs(given: string, o: RunsOptions = {}): Promise<string> {
  const { clients, namespace } = target(o);
  const runId = await resolveIn(clients, namespace, given);
  const pod = await runnerPod(clients, namespace, runId);
  if (!pod?.metadata?.name) {
    throw new FlotillaError(ErrorCode.Usage, `run ${runId} has no runner pod in namespace "${namespace}"`, {
      usage: true,
    });
  }
  const name = pod.metadata.name;
  return apiCall({ verb: "get", resource: "pods/log", namespace, name }, () =>
    clients.core.readNamespacedPodLog({ name, namespace, container: FLOTILLA_CONTAINER }),
  );
}

/** Delete the run's Job and everything it owns (`given`: the run id or a unique prefix). */
export async function cancelRun(given: string, o: RunsOptions = {}): Promise<RunInfo[]> {
  const { clients, namespace } = target(o);
  const runId = await resolveIn(clients, namespace, given);
  const jobs = await runJobs(clients, namespace, runId);
  if (jobs.length === 0) {
    throw new FlotillaError(ErrorCode.Usage, `no run ${runId} in namespace "${namespace}"`, {
      hint: "give the full run id from `flotilla runs list` (and -n for another namespace)",
      usage: true,
    });
  }
  const out: RunInfo[] = [];
  for (const j of jobs) {
    const job = j.metadata!.name!;
    await deleteRunJob(clients, namespace, job);
    out.push({ runId, flow: j.metadata?.labels?.[Label.flow] ?? "?", job, status: "Cancelled" });
  }
  return out;
}

/**
 * How often `followRunLogs` looks for the runner pod, in ms. A pod can sit in Pending for minutes
 * (image pull, scheduling); the launcher's pod watch already follows it for failures, so this look
 * only needs to be soon enough for the first log lines.
 */
const LOG_POLL_INTERVAL_MS = 1000;

/**
 * Stream the runner container's output, one line at a time, once its pod runs; `stop()` ends it.
 * The lines are the runner's pino JSON (`relayLogLine` re-logs them).
 */
export function followRunLogs(
  runId: string,
  o: RunsOptions,
  onLine: (line: string) => void,
): { stop(): void } {
  const { clients, namespace } = target(o);
  let stopped = false;
  let abort: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const selector = runSelector(runId, "runner");
  void (async () => {
    while (!stopped) {
      const pods = await clients.core
        .listNamespacedPod({ namespace, labelSelector: selector })
        .catch(() => undefined);
      const pod = pods?.items[0];
      const main = pod?.status?.containerStatuses?.find((s) => s.name === FLOTILLA_CONTAINER);
      if (!stopped && pod?.metadata?.name && (main?.state?.running || main?.state?.terminated)) {
        const out = new PassThrough();
        let buffer = "";
        out.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8");
          const lines = buffer.split("\n");
          buffer = lines.pop() ?? "";
          for (const line of lines) if (line.trim() !== "") onLine(line);
        });
        abort = await new k8s.Log(clients.kubeConfig)
          .log(namespace, pod.metadata.name, FLOTILLA_CONTAINER, out, { follow: true })
          .catch(() => undefined);
        if (stopped) abort?.abort();
        return;
      }
      await new Promise((r) => {
        timer = setTimeout(r, LOG_POLL_INTERVAL_MS);
      });
    }
  })();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      abort?.abort();
    },
  };
}
