// The launcher side of a run on Kubernetes: create the runner Job suspended, then the per-run
// Secret owned by it (the Job's uid is known then), then resume the Job; follow the runner pod to
// its end and read the final state from its termination message. Invariants: the launcher never
// reads, patches or deletes a Secret (its Role has only `create secrets`): the Secret is owned by
// the Job from its creation, so deleting the Job (propagationPolicy Background) removes
// everything, also when a create fails midway (the Job is deleted again); no pod exists before
// the Secret it reads; a runner pod that cannot start (image pull, unschedulable, config error)
// fails the run at once with the pod's reason and last events instead of hanging (Prefect #2645).

import { randomBytes } from "node:crypto";
import path from "node:path";
import type { V1ContainerStateTerminated, V1Pod } from "@kubernetes/client-node";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { RunHandle } from "../core/environment.ts";
import { ErrorCode, FlotillaError, serializeError } from "../core/errors.ts";
import type { RunOptions } from "../core/flow.ts";
import type { Logger } from "../core/logger.ts";
import type { FlowRunState, TaskRunRecord, TaskState } from "../core/states.ts";
import { newRunId } from "../engine/run.ts";
import { registerSecret } from "../secrets/redact.ts";
import { moduleInProject } from "../storage/project.ts";
import { type KubeClients, rawBody } from "./client.ts";
import { apiCall, isNotFound, translateApiError } from "./errors.ts";
import { BROKER_CONTAINER, FLOTILLA_CONTAINER, runSelector } from "./names.ts";
import { createObject, deleteObject } from "./objects.ts";
import { type PlannableEnvironment, type PlannableFlow, planRun, type RunPlan } from "./plan.ts";
import { podStartFailure, type StartFailure } from "./pod-status.ts";
import { PodWatch } from "./pod-watch.ts";
import { checkServerVersion, namespaceMissing, preflightError, runnerAccountMissing } from "./preflight.ts";
import { decodeTermination, type TerminationSummary } from "./termination.ts";

/**
 * One step of a run from launch to its first task, as the launcher sees it on the cluster: the
 * Job created, the runner pod scheduled, its image pulling, the broker sidecar ready, the runner
 * started, then the worker pods (running of those created).
 */
export type LaunchProgress =
  | { step: "created"; job: string; namespace: string }
  | { step: "scheduled"; pod: string; node?: string | undefined }
  | { step: "pulling"; pod: string; image: string }
  | { step: "broker-ready"; pod: string }
  | { step: "runner-started"; pod: string }
  | { step: "workers"; running: number; target: number };

/** Options of one launch (RunOptions plus where, and injected effects). */
export interface LaunchOptions extends RunOptions {
  namespace: string;
  /** Each step from launch to the first task (see LaunchProgress). */
  onProgress?: ((p: LaunchProgress) => void) | undefined;
  /** Overrides the flow's image. */
  image?: string | undefined;
  /**
   * The flow module's path inside the image, when the caller knows it without the file (an agent
   * launching a deployment); otherwise it is found from the flow's file and its project.
   */
  flowModule?: string | undefined;
  /**
   * The runner pod is followed by a watch; this is the longest pause between two looks at it
   * without any change (to notice a deleted Job), in ms. @default 2000
   */
  resyncIntervalMs?: number;
  /** Injected password generator (tests). */
  newPassword?: () => string;
  /**
   * The Flotilla server the runner pod reports its task runs and logs to: its URL (as the pod
   * reaches it) and the run's own token, which travels only in the per-run Secret.
   */
  report?: { url: string; token: string } | undefined;
  /**
   * Runs after the plan's warnings are logged and before any object of the run is created (the
   * environment's setup: the image pull Secret).
   */
  beforeCreate?: (plan: RunPlan) => Promise<void>;
}

/** A flow as the launcher sees it: a name, maybe storage, and the file it was loaded from. */
export interface LaunchableFlow extends PlannableFlow {
  readonly modulePath?: string | undefined;
}

/**
 * The flow module's path as the image holds it: relative to the project DockerStorage packs (the
 * folder with package.json), whatever folder the CLI runs in. A flow not loaded from a file, or
 * a file in no project, is an error saying so.
 */
export function flowModuleInImage(flow: LaunchableFlow): { projectDir: string; modulePath: string } {
  if (!flow.modulePath) {
    throw new FlotillaError(ErrorCode.ModuleNotFound, `flow "${flow.name}": its module file is unknown`, {
      hint: "the runner loads the flow from its file in the image: start the run with `flotilla run <flow-file>`",
      usage: true,
    });
  }
  return moduleInProject(flow.modulePath, path.relative(process.cwd(), flow.modulePath) || flow.modulePath);
}

/** Create the run's objects (from its plan) and return a handle that follows it. */
export async function launchRun(
  env: PlannableEnvironment,
  flow: LaunchableFlow,
  clients: KubeClients,
  options: LaunchOptions,
): Promise<RunHandle> {
  const runId = options.runId ?? newRunId();
  const namespace = options.namespace;
  const logger = options.logger;
  const password = options.newPassword?.() ?? randomBytes(24).toString("hex");
  registerSecret(password);
  if (options.report) registerSecret(options.report.token);
  const plan = planRun(env, flow, {
    runId,
    namespace,
    flowModule: options.flowModule ?? flowModuleInImage(flow).modulePath,
    image: options.image,
    parameters: options.parameters,
    password,
    ...(options.report ? { reportTo: options.report.url, apiToken: options.report.token } : {}),
  });
  // every warning reaches the user before anything is created
  for (const w of plan.warnings) logger?.warn(w);
  for (const n of plan.notes) logger?.info(n);
  // what doctor checks first fails a run first, with doctor's reason: the server and its version
  const server = await checkServerVersion(clients);
  if (server.status === "missing") throw preflightError(server);
  await options.beforeCreate?.(plan);
  const name = plan.jobName;
  const jobRef = { kind: "Job", name, namespace } as const;

  // suspended: no runner pod before the Secret it reads exists
  const suspended = structuredClone(plan.job);
  suspended.spec = { ...suspended.spec!, suspend: true };
  const created =
    (await createObject<IJob>(clients, suspended).catch((error: unknown) => {
      // a 404 on create: the namespace does not exist (doctor's reason)
      if (isNotFound((error as { cause?: unknown }).cause)) throw preflightError(namespaceMissing(namespace));
      throw error;
    })) ??
    ((await apiCall({ verb: "get", resource: "jobs.batch", namespace, name }, () =>
      clients.batch.readNamespacedJob({ name, namespace }),
    )) as unknown as IJob);
  try {
    const owner = {
      apiVersion: "batch/v1",
      kind: "Job",
      name,
      uid: created.metadata!.uid!,
      blockOwnerDeletion: false,
    };
    const secret = structuredClone(plan.brokerSecret);
    secret.metadata = { ...secret.metadata, ownerReferences: [owner] };
    await createObject(clients, secret);
    const resume = { spec: { suspend: false } };
    await apiCall({ verb: "patch", resource: "jobs.batch", namespace, name }, () =>
      clients.batch.patchNamespacedJob(
        { name, namespace, body: resume },
        rawBody(resume, "application/merge-patch+json"),
      ),
    );
  } catch (error) {
    // the Secret, when it was made, goes with its Job
    await deleteObject(clients, jobRef).catch(() => {});
    throw error;
  }
  options.onProgress?.({ step: "created", job: name, namespace });
  logger?.info({ job: name, namespace }, `run ${runId} launched as Job ${name}`);
  const controller = new AbortController();
  if (options.signal) options.signal.addEventListener("abort", () => controller.abort(), { once: true });
  const cancel = async () => {
    controller.abort();
    await deleteObject(clients, jobRef);
  };
  let waiting: Promise<FlowRunState> | undefined;
  return {
    runId,
    wait: () => {
      waiting ??= followRun(
        clients,
        { namespace, jobName: name, runId, flow: flow.name, logger, onProgress: options.onProgress },
        options,
        controller.signal,
      ).then(async (r) => {
        if (r.failure) await cancel();
        return r.state;
      });
      return waiting;
    },
    cancel,
  };
}

/**
 * Delete a run's Job; its pods and its Secret go with it (Background propagation, owner
 * references). A 404 is fine, other failures are translated (verb, resource, namespace, the fix).
 */
export async function deleteRunJob(clients: KubeClients, namespace: string, job: string): Promise<void> {
  await deleteObject(clients, { kind: "Job", name: job, namespace });
}

interface Followed {
  onProgress?: ((p: LaunchProgress) => void) | undefined;
  namespace: string;
  jobName: string;
  runId: string;
  flow: string;
  logger: Logger | undefined;
}

/** Follow the runner pod (a watch) until it ends; the state comes from its termination message. */
async function followRun(
  clients: KubeClients,
  f: Followed,
  options: LaunchOptions,
  signal: AbortSignal,
): Promise<RunOutcome> {
  const resyncMs = options.resyncIntervalMs ?? 2000;
  const selector = runSelector(f.runId, "runner");
  const watch = new PodWatch({
    clients,
    namespace: f.namespace,
    labelSelector: selector,
    onError: (e) => f.logger?.debug({ err: String(e) }, "watching the runner pod failed; re-listing"),
  });
  const stop = () => watch.stop();
  signal.addEventListener("abort", stop, { once: true });
  try {
    await watch.ready;
    return await followWatched(clients, f, watch, resyncMs, signal);
  } finally {
    signal.removeEventListener("abort", stop);
    watch.stop();
  }
}

/** How following a run ended: its final state, and the start failure when the runner never ran. */
type RunOutcome = { state: FlowRunState; failure?: StartFailure };

/** What the follower knows of the run's runner pod from one watch event to the next. */
interface RunnerTrack {
  /** The run's one runner pod (its Job never starts a second: podReplacementPolicy Failed, backoffLimit 0). */
  pod: string | undefined;
  /** Whether someone deleted it. */
  deleted: boolean;
  /** The launch steps already reported. */
  shown: Set<LaunchProgress["step"]>;
  /** The run Failed with `message`. */
  failed(message: string, failure?: StartFailure): RunOutcome;
}

/** Follow the watched runner pod event by event until the run has an outcome or is aborted. */
async function followWatched(
  clients: KubeClients,
  f: Followed,
  watch: PodWatch,
  resyncMs: number,
  signal: AbortSignal,
): Promise<RunOutcome> {
  const track = newTrack(f);
  let seen = -1;
  while (!signal.aborted) {
    await watch.changed(seen, resyncMs);
    if (signal.aborted) break;
    seen = watch.version;
    const pod = runnerPodOf(watch.pods(), track.pod);
    const outcome = pod
      ? await runnerPodOutcome(clients, f, pod, track)
      : await podlessOutcome(clients, f, track);
    if (outcome) return outcome;
  }
  return track.failed("run cancelled");
}

function newTrack(f: Followed): RunnerTrack {
  const startedAt = Date.now();
  return {
    pod: undefined,
    deleted: false,
    shown: new Set(),
    failed: (message, failure) => ({
      state: {
        type: "Failed",
        message,
        flow: f.flow,
        runId: f.runId,
        taskRuns: {},
        startedAt,
        finishedAt: Date.now(),
      },
      ...(failure ? { failure } : {}),
    }),
  };
}

const deletedMessage = (name: string, detail?: string) =>
  `runner pod ${name} was deleted before the run ended (kubectl delete pod, eviction or node drain); the Job starts no second runner${detail ? `: ${detail}` : ""}`;

/** The pod followed so far, else the oldest of the run's runner pods. */
function runnerPodOf(pods: readonly V1Pod[], followed: string | undefined): V1Pod | undefined {
  return (
    pods.find((p) => p.metadata?.name === followed) ??
    [...pods].sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? "").localeCompare(String(b.metadata?.creationTimestamp ?? "")),
    )[0]
  );
}

/**
 * The runner pod as it is now: its new launch steps reported; the run's outcome when its
 * container ended or the pod cannot start; undefined while it runs.
 */
async function runnerPodOutcome(
  clients: KubeClients,
  f: Followed,
  pod: V1Pod,
  track: RunnerTrack,
): Promise<RunOutcome | undefined> {
  track.pod ??= pod.metadata?.name;
  for (const step of stepsOf(pod)) {
    if (track.shown.has(step.step)) continue;
    track.shown.add(step.step);
    f.onProgress?.(step);
  }
  if (pod.metadata?.deletionTimestamp) track.deleted = true;
  const statuses = pod.status?.containerStatuses ?? [];
  const main =
    statuses.find((s) => s.name === FLOTILLA_CONTAINER) ??
    statuses.find((s) => s.state?.terminated) ??
    statuses[0];
  const terminated = main?.state?.terminated;
  if (terminated) return terminatedOutcome(pod, terminated, track);
  const failure = await podStartFailure(clients, pod as never);
  if (failure) {
    f.logger?.error(failure.message);
    const state = track.failed(`runner ${failure.message}`, failure);
    state.state.error = serializeError(new Error(failure.message));
    return state;
  }
  return undefined;
}

/** The run's outcome from its ended runner container: the termination message's final state. */
function terminatedOutcome(
  pod: V1Pod,
  terminated: V1ContainerStateTerminated,
  track: RunnerTrack,
): RunOutcome {
  const summary = decodeTermination(terminated.message);
  if (summary) {
    return {
      state: {
        type: summary.type,
        message:
          track.deleted && summary.type !== "Success"
            ? deletedMessage(track.pod ?? "?", summary.message)
            : summary.message,
        flow: summary.flow,
        runId: summary.runId,
        taskRuns: taskRunsOf(summary),
        startedAt: summary.startedAt,
        ...(summary.finishedAt !== undefined ? { finishedAt: summary.finishedAt } : {}),
      },
    };
  }
  if (track.deleted) return track.failed(deletedMessage(track.pod ?? "?", `exit ${terminated.exitCode}`));
  return track.failed(
    `runner pod ${pod.metadata?.name} ended (exit ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ""}) without a final state${terminated.message ? `: ${terminated.message.slice(0, 500)}` : ""}`,
  );
}

/**
 * No runner pod: the run's outcome when its Job is gone, its pod was deleted, Kubernetes refuses
 * to create it, or the Job failed; undefined while the pod is yet to come (or the Job could not
 * be read this time: looked at again at the next resync).
 */
async function podlessOutcome(
  clients: KubeClients,
  f: Followed,
  track: RunnerTrack,
): Promise<RunOutcome | undefined> {
  // only a 404 means the Job is gone; any other failure is looked at again at the next resync
  let job: Awaited<ReturnType<KubeClients["batch"]["readNamespacedJob"]>> | undefined;
  try {
    job = await clients.batch.readNamespacedJob({ name: f.jobName, namespace: f.namespace });
  } catch (error) {
    if (isNotFound(error)) return track.failed(`runner Job ${f.jobName} is gone (cancelled or deleted)`);
    f.logger?.debug(
      {
        err: translateApiError(error, {
          verb: "get",
          resource: "jobs.batch",
          namespace: f.namespace,
          name: f.jobName,
        }).message,
      },
      "reading the runner Job failed; trying again",
    );
    return undefined;
  }
  // the pod the launcher followed is gone while its Job lives: deleted (the Job then fails)
  if (track.pod !== undefined) return track.failed(deletedMessage(track.pod));
  // no pod yet: a pod Kubernetes refuses to create (FailedCreate), with doctor's reason
  const refused = await refusedRunnerPod(clients, f);
  if (refused) {
    f.logger?.error(refused);
    const state = track.failed(refused);
    state.state.error = serializeError(new Error(refused));
    return { ...state, failure: { pod: f.jobName, reason: "FailedCreate", message: refused } };
  }
  const cond = job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  if (cond) {
    const why = `${cond.reason ?? ""} ${cond.message ?? ""}`.trim();
    // no pod, no final state, a failed Job: its one runner pod went without reporting
    return track.failed(
      cond.reason === "BackoffLimitExceeded"
        ? `the runner pod of Job ${f.jobName} is gone without a final state (deleted, evicted or its node lost); the Job starts no second runner (${why})`
        : `runner Job ${f.jobName} failed: ${why}`,
    );
  }
  return undefined;
}

/**
 * The launch steps a runner pod shows, in order: scheduled (a node), pulling (scheduled, its
 * containers not started yet), broker ready (the sidecar started), runner started.
 */
function stepsOf(pod: V1Pod): LaunchProgress[] {
  const name = pod.metadata?.name ?? "?";
  const steps: LaunchProgress[] = [];
  const node = pod.spec?.nodeName;
  const scheduled =
    node !== undefined ||
    (pod.status?.conditions ?? []).some((c) => c.type === "PodScheduled" && c.status === "True");
  if (!scheduled) return steps;
  steps.push({ step: "scheduled", pod: name, node });
  const main = (pod.status?.containerStatuses ?? []).find((s) => s.name === FLOTILLA_CONTAINER);
  const broker = (pod.status?.initContainerStatuses ?? []).find((s) => s.name === BROKER_CONTAINER);
  const image = pod.spec?.containers.find((c) => c.name === FLOTILLA_CONTAINER)?.image ?? "";
  steps.push({ step: "pulling", pod: name, image });
  if (broker?.started || broker?.ready || main?.state?.running || main?.state?.terminated)
    steps.push({ step: "broker-ready", pod: name });
  if (main?.state?.running || main?.state?.terminated) steps.push({ step: "runner-started", pod: name });
  return steps;
}

/**
 * Why Kubernetes refuses to create the runner pod, from the Job's FailedCreate events: a missing
 * ServiceAccount gets doctor's reason and fix; another refusal is quoted. Undefined when none.
 */
async function refusedRunnerPod(clients: KubeClients, f: Followed): Promise<string | undefined> {
  const events = await clients.core
    .listNamespacedEvent({
      namespace: f.namespace,
      fieldSelector: `involvedObject.name=${f.jobName}`,
    })
    .catch(() => undefined);
  const event = (events?.items ?? [])
    .filter((e) => e.reason === "FailedCreate" && e.involvedObject?.kind === "Job")
    .at(-1);
  if (!event) return undefined;
  const message = event.message ?? "";
  const account = /serviceaccount "([^"]+)" not found/.exec(message);
  if (account) {
    const c = runnerAccountMissing(f.namespace, account[1]!);
    return `${c.reason}; fix: ${c.fix} (\`flotilla doctor\` checks this)`;
  }
  // other refusals (quota, admission policy) are not retried away: say them as Kubernetes does
  return /forbidden|exceeded quota|denied/i.test(message)
    ? `Kubernetes refuses to create the runner pod of Job ${f.jobName}: ${message}`
    : undefined;
}

/**
 * Task runs as far as the termination message tells them: state, attempts and duration of each
 * task, and a mapped task's children by state (without results, which never leave the runner).
 */
function taskRunsOf(summary: TerminationSummary): FlowRunState["taskRuns"] {
  const messages = new Map(summary.failed.map((f) => [f.task, f.message]));
  const times = (d: number | null) => (d === null ? {} : { startedAt: 0, finishedAt: d });
  const out: FlowRunState["taskRuns"] = {};
  for (const [slug, line] of Object.entries(summary.tasks ?? {})) {
    if (line.c !== undefined) {
      const children: TaskRunRecord[] = [];
      for (const [type, n] of Object.entries(line.c)) {
        for (let i = 0; i < n; i++) children.push({ state: stateOf(type, ""), attempts: 0 });
      }
      // The total attempts and the map's duration ride on the first child.
      if (children[0] !== undefined) Object.assign(children[0], { attempts: line.a }, times(line.d));
      out[slug] = { state: { type: "Mapped", children }, attempts: line.a };
    } else {
      out[slug] = { state: stateOf(line.s, messages.get(slug) ?? ""), attempts: line.a, ...times(line.d) };
    }
  }
  for (const [task, message] of messages) out[task] ??= { state: stateOf("Failed", message), attempts: 1 };
  return out;
}

function stateOf(type: string, message: string): TaskState {
  switch (type) {
    case "Success":
      return { type: "Success", result: undefined };
    case "TimedOut":
      return { type: "TimedOut", message, timeoutMs: 0 };
    case "Skipped":
    case "TriggerFailed":
    case "Failed":
      return { type, message };
    default:
      return { type: "Pending" };
  }
}
