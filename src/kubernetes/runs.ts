// Runs on Kubernetes as a program drives them: plan one, launch one and follow it to its end,
// stream its runner's output, list and read runs (by their runner Jobs' labels, names.ts's
// selectors; in one namespace or all, filtered by a label selector), name their state as the
// server does (runState), read their logs (the last N lines; followed until the run ends), cancel
// them. The CLI (`flotilla run`, `flotilla runs`) and the
// server's Kubernetes agent are both callers; nothing here prints, reads flags or handles signals.
// `cancelRun` deletes the Job with propagationPolicy Background, so its pod, the pod's worker pods
// and the per-run Secret (all owned, directly or not, by the Job) go with it.

import { PassThrough, Writable } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import type { RunHandle } from "../core/environment.ts";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import type { Logger } from "../core/logger.ts";
import { resolveRunId } from "../core/run-id.ts";
import { sleepOrAbort as sleep } from "../core/sleep.ts";
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
  namespace: string;
  job: string;
  /** See {@link RunStatus}. */
  status: RunStatus;
  message?: string;
  startedAt?: string;
}

/**
 * A run's state, named as the server and the run summary name them: Pending (the runner has not
 * started), Running, Success, Failed (the flow run failed), Crashed (the runner ended without a
 * final state), Cancelling (the Job is being deleted), Cancelled (what `cancelRun` reports) and,
 * on Kubernetes only, Stuck (the runner pod cannot start: image pull, crash loop, unschedulable;
 * the message says why).
 */
export type RunStatus =
  | "Pending"
  | "Running"
  | "Success"
  | "Failed"
  | "Crashed"
  | "Cancelling"
  | "Cancelled"
  | "Stuck";

/** What `listRuns` filters on besides the namespace. */
export interface ListRunsOptions extends RunsOptions {
  /** Every namespace the identity may list (`-A`), instead of one. */
  allNamespaces?: boolean | undefined;
  /** A label selector over the runner Jobs' labels (`-l team=data,tier!=gpu`). */
  selector?: string | undefined;
}

/** The runner container's status in its pod. */
function runnerStatus(pod: k8s.V1Pod | undefined): k8s.V1ContainerStatus | undefined {
  return pod?.status?.containerStatuses?.find((c) => c.name === FLOTILLA_CONTAINER);
}

/** A run's state from its Job and runner pod (pure). */
export function runState(
  job: k8s.V1Job,
  pod: k8s.V1Pod | undefined,
): { status: RunStatus; message?: string } {
  const term = runnerStatus(pod)?.state?.terminated;
  const summary = decodeTermination(term?.message);
  if (summary) return { status: summary.type === "Success" ? "Success" : "Failed", message: summary.message };
  if (job.metadata?.deletionTimestamp) return { status: "Cancelling", message: "the Job is being deleted" };
  const s = job.status;
  if (s?.succeeded) return { status: "Success" };
  if (s?.failed || term) {
    const why = term
      ? `the runner exited with code ${term.exitCode}${term.reason ? ` (${term.reason})` : ""}${term.signal ? ` on signal ${term.signal}` : ""} without a final state`
      : (s?.conditions?.find((c) => c.type === "Failed" && c.status === "True")?.message ??
        "the runner pod is gone without a final state");
    return { status: "Crashed", message: why };
  }
  // a detached run has no follower to fail it fast: say why its runner pod cannot start
  const stuck = pod ? fatalReason(pod) : undefined;
  if (stuck) {
    const runId = job.metadata?.labels?.[Label.runId] ?? "";
    return {
      status: "Stuck",
      message: `runner pod ${pod?.metadata?.name}: ${stuck.reason}: ${stuck.detail}; it will not start by itself: \`flotilla runs cancel ${runId}\`, fix the cause, run again`,
    };
  }
  return runnerStatus(pod)?.state?.running ? { status: "Running" } : { status: "Pending" };
}

function target(o: RunsOptions): { clients: KubeClients; namespace: string } {
  const clients = o.clients ?? connect(o);
  return { clients, namespace: o.namespace ?? clients.defaultNamespace };
}

/**
 * Where a run was looked for, for the error that says it is not there: the namespace and the
 * kubeconfig context (a run in another context's cluster is a different run).
 */
function lookedIn(clients: KubeClients, namespace: string): string {
  const context = clients.kubeConfig.getCurrentContext();
  return ` in namespace "${namespace}"${context ? ` (context ${context})` : ""}`;
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

/** What `planKubernetesRun` takes besides the flow. */
export interface PlanKubernetesRunOptions extends KubernetesRunOptions {
  /**
   * The Flotilla server the runner pod would report to, as the pod reaches it: the plan shows its
   * URL and the Secret's place for the run's token (minted at launch, never printed).
   */
  reportUrl?: string | undefined;
}

/**
 * The plan of a run of `flow` (every object and warning) without touching a cluster: the
 * namespace is the call's, else the environment's, else the kubeconfig context's when one can be
 * read, else "default".
 */
export function planKubernetesRun(flow: Flow, options: PlanKubernetesRunOptions = {}): RunPlan {
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
    ...(options.reportUrl !== undefined ? { reportTo: options.reportUrl } : {}),
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
  /**
   * The Flotilla server the runner pod reports to: its URL as the pod reaches it and the run's own
   * token (minted by the server for `runId`), which travels only in the per-run Secret.
   */
  report?: { url: string; token: string } | undefined;
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
    ...(options.report !== undefined ? { report: options.report } : {}),
  });
  return {
    runId: handle.runId,
    wait: () => handle.wait(),
    cancel: () => handle.cancel(),
    namespace,
    clients,
  };
}

const RUNNERS = `${Label.component}=runner,${Label.managedBy}=${MANAGED_BY}`;

/** The runner Jobs (of one run, or matching a user's selector too), in a namespace or all (`undefined`). */
async function runJobs(
  clients: KubeClients,
  namespace: string | undefined,
  runId?: string,
  selector?: string,
): Promise<k8s.V1Job[]> {
  const labelSelector = [
    RUNNERS,
    ...(runId ? [`${Label.runId}=${labelValue(runId)}`] : []),
    ...(selector ? [selector] : []),
  ].join(",");
  const list =
    namespace === undefined
      ? await apiCall({ verb: "list", resource: "jobs.batch" }, () =>
          clients.batch.listJobForAllNamespaces({ labelSelector }),
        )
      : await apiCall({ verb: "list", resource: "jobs.batch", namespace }, () =>
          clients.batch.listNamespacedJob({ namespace, labelSelector }),
        );
  return list.items;
}

/** The runner pods of every run (or of one), in a namespace or all (`undefined`). */
async function runnerPods(
  clients: KubeClients,
  namespace: string | undefined,
  runId?: string,
): Promise<k8s.V1Pod[]> {
  const labelSelector = runId ? runSelector(runId, "runner") : RUNNERS;
  const list =
    namespace === undefined
      ? await apiCall({ verb: "list", resource: "pods" }, () =>
          clients.core.listPodForAllNamespaces({ labelSelector }),
        )
      : await apiCall({ verb: "list", resource: "pods", namespace }, () =>
          clients.core.listNamespacedPod({ namespace, labelSelector }),
        );
  return list.items;
}

async function runnerPod(
  clients: KubeClients,
  namespace: string,
  runId: string,
): Promise<k8s.V1Pod | undefined> {
  return (await runnerPods(clients, namespace, runId))[0];
}

/** The runs in the namespace (or every namespace), newest first, each with its {@link runState}. */
export async function listRuns(o: ListRunsOptions = {}): Promise<RunInfo[]> {
  const { clients, namespace } = target(o);
  const where = o.allNamespaces ? undefined : namespace;
  const [jobs, pods] = await Promise.all([
    runJobs(clients, where, undefined, o.selector?.trim() || undefined),
    runnerPods(clients, where),
  ]);
  const podOf = new Map<string, k8s.V1Pod>();
  for (const p of pods) {
    const key = `${p.metadata?.namespace}/${p.metadata?.labels?.[Label.runId]}`;
    // a replaced runner pod: the newest one says how the run stands
    const seen = podOf.get(key);
    if (!seen || (p.metadata?.creationTimestamp ?? 0) > (seen.metadata?.creationTimestamp ?? 0))
      podOf.set(key, p);
  }
  return jobs
    .map((j): RunInfo => {
      const runId = j.metadata?.labels?.[Label.runId] ?? "?";
      const ns = j.metadata?.namespace ?? namespace;
      return {
        runId,
        flow: j.metadata?.labels?.[Label.flow] ?? "?",
        namespace: ns,
        job: j.metadata?.name ?? "?",
        ...runState(j, podOf.get(`${ns}/${runId}`)),
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
    lookedIn(clients, namespace),
  );
}

/**
 * One run, with the final state's message from the runner's termination message. `given` is the
 * run id or a unique prefix of it (an ambiguous one is a usage error listing the candidates).
 */
export async function getRun(given: string, o: RunsOptions = {}): Promise<RunInfo> {
  const { clients, namespace } = target(o);
  const runs = await listRuns({ ...o, clients, namespace, allNamespaces: false });
  const runId = resolveRunId(
    given,
    runs.map((r) => r.runId),
    lookedIn(clients, namespace),
  );
  const info = runs.find((r) => r.runId === labelValue(runId));
  if (!info) {
    throw new FlotillaError(ErrorCode.Usage, `no run ${runId}${lookedIn(clients, namespace)}`, {
      hint: "give the full run id from `flotilla runs list` (finished runs are kept until their ttlSecondsAfterFinished)",
      usage: true,
    });
  }
  return info;
}

/** What `runLogs` takes besides where the run is. */
export interface RunLogsOptions extends RunsOptions {
  /** Only the last N lines (`--tail N`); all when undefined. */
  tail?: number | undefined;
}

/** The runner pod of a run whose container has started (or ended); else why not (a Stuck pod is an error). */
async function startedRunner(
  clients: KubeClients,
  namespace: string,
  runId: string,
): Promise<k8s.V1Pod | string> {
  const pod = await runnerPod(clients, namespace, runId);
  if (!pod?.metadata?.name) return `run ${runId} has no runner pod in namespace "${namespace}" yet`;
  const state = runnerStatus(pod)?.state;
  if (state?.running || state?.terminated) return pod;
  const stuck = fatalReason(pod);
  if (stuck) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `run ${runId}: runner pod ${pod.metadata.name} cannot start: ${stuck.reason}: ${stuck.detail}`,
      {
        hint: `cancel it (\`flotilla runs cancel ${runId.slice(0, 8)}\`), fix the cause, run again`,
        usage: true,
      },
    );
  }
  return `run ${runId}: runner pod ${pod.metadata.name} has not started yet (${state?.waiting?.reason ?? pod.status?.phase ?? "Pending"})`;
}

/** The runner container's output so far, raw (`given`: the run id or a unique prefix). */
export async function runLogs(given: string, o: RunLogsOptions = {}): Promise<string> {
  const { clients, namespace } = target(o);
  const runId = await resolveIn(clients, namespace, given);
  const pod = await startedRunner(clients, namespace, runId);
  if (typeof pod === "string") {
    throw new FlotillaError(ErrorCode.Usage, pod, {
      hint: "wait for it with `flotilla runs logs -f` (it waits up to --pod-running-timeout)",
      usage: true,
    });
  }
  const name = pod.metadata!.name!;
  return apiCall({ verb: "get", resource: "pods/log", namespace, name }, () =>
    clients.core.readNamespacedPodLog({
      name,
      namespace,
      container: FLOTILLA_CONTAINER,
      ...(o.tail !== undefined ? { tailLines: o.tail } : {}),
    }),
  );
}

/** What `streamRunLogs` takes besides where the run is. */
export interface StreamRunLogsOptions extends RunLogsOptions {
  /** How long to wait for the runner container to start. @default 60000 */
  podRunningTimeoutMs?: number | undefined;
  /** How often the runner pod is looked at while waiting and following. @default 1000 */
  pollMs?: number | undefined;
  /** Stops following (Ctrl-C, or a caller's deadline). */
  signal?: AbortSignal | undefined;
}

/**
 * Give `write` each line of a run's runner output as it comes (the last `tail` first), until the
 * run ends: the log stream ends, or the runner container has terminated (its last lines get a
 * moment to arrive), or `signal` aborts. Waits up to `podRunningTimeoutMs` for the container to
 * start; a runner that cannot start (image pull, crash loop, unschedulable) is an error at once.
 * (`followRunLogs` is the launcher's relay, which runs until stopped.)
 */
export async function streamRunLogs(
  given: string,
  write: (line: string) => void,
  o: StreamRunLogsOptions = {},
): Promise<void> {
  const { clients, namespace } = target(o);
  const runId = await resolveIn(clients, namespace, given);
  const poll = o.pollMs ?? 1000;
  const waitMs = o.podRunningTimeoutMs ?? 60_000;
  const deadline = Date.now() + waitMs;
  let pod = await startedRunner(clients, namespace, runId);
  while (typeof pod === "string") {
    if (o.signal?.aborted) return;
    if (Date.now() >= deadline) {
      throw new FlotillaError(ErrorCode.Kubernetes, `${pod} after ${Math.round(waitMs / 1000)} s`, {
        hint: `see why with \`flotilla runs get ${runId.slice(0, 8)}\`, or wait longer with --pod-running-timeout`,
      });
    }
    await sleep(poll, o.signal);
    pod = await startedRunner(clients, namespace, runId);
  }
  const name = pod.metadata!.name!;
  let rest = "";
  let finished = false;
  let ended!: () => void;
  const streamEnded = new Promise<void>((resolve) => {
    ended = () => {
      finished = true;
      resolve();
    };
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, next) {
      const lines = (rest + chunk.toString("utf8")).split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) write(l);
      next();
    },
    final(next) {
      if (rest !== "") write(rest);
      rest = "";
      next();
    },
  });
  sink.on("finish", ended);
  sink.on("error", ended);
  const stream = await apiCall({ verb: "get", resource: "pods/log", namespace, name }, () =>
    new k8s.Log(clients.kubeConfig).log(namespace, name, FLOTILLA_CONTAINER, sink, {
      follow: true,
      ...(o.tail !== undefined ? { tailLines: o.tail } : {}),
    }),
  );
  const stop = () => stream.abort();
  o.signal?.addEventListener("abort", stop, { once: true });
  try {
    // the stream ends when the container does; a connection that breaks without ending is caught
    // by looking at the pod: once the runner has terminated, its last lines get a moment, then stop
    while (!finished && !o.signal?.aborted) {
      await Promise.race([streamEnded, sleep(poll, o.signal)]);
      if (finished || o.signal?.aborted) break;
      const now = await runnerPod(clients, namespace, runId).catch(() => undefined);
      if (!now || now.metadata?.name !== name || runnerStatus(now)?.state?.terminated) {
        await Promise.race([streamEnded, sleep(3 * poll, o.signal)]);
        break;
      }
    }
  } finally {
    o.signal?.removeEventListener("abort", stop);
    stop();
    if (!finished) sink.end();
  }
}

/** Delete the run's Job and everything it owns (`given`: the run id or a unique prefix). */
export async function cancelRun(given: string, o: RunsOptions = {}): Promise<RunInfo[]> {
  const { clients, namespace } = target(o);
  const runId = await resolveIn(clients, namespace, given);
  const jobs = await runJobs(clients, namespace, runId);
  if (jobs.length === 0) {
    throw new FlotillaError(ErrorCode.Usage, `no run ${runId}${lookedIn(clients, namespace)}`, {
      hint: "give the full run id from `flotilla runs list` (and -n for another namespace)",
      usage: true,
    });
  }
  const out: RunInfo[] = [];
  for (const j of jobs) {
    const job = j.metadata!.name!;
    await deleteRunJob(clients, namespace, job);
    out.push({ runId, flow: j.metadata?.labels?.[Label.flow] ?? "?", namespace, job, status: "Cancelled" });
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
