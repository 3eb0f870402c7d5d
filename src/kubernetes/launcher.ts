// The launcher side of a run on Kubernetes: create the per-run broker Secret and the runner Job,
// then follow the runner pod to its end and read the final state from its termination message.
// Invariants: nothing is left behind when a create fails midway (the Secret is deleted again);
// the Secret is owned by the Job, so deleting the Job (propagationPolicy Background) removes
// everything; a runner pod that cannot start (image pull, unschedulable, config error) fails the
// run at once with the pod's reason and last events instead of hanging (Prefect #2645).

import { randomBytes } from "node:crypto";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { RunHandle } from "../core/environment.ts";
import { serializeError } from "../core/errors.ts";
import type { Flow, RunOptions } from "../core/flow.ts";
import type { Logger } from "../core/logger.ts";
import type { FlowRunState, TaskRunRecord, TaskState } from "../core/states.ts";
import { newRunId } from "../engine/run.ts";
import { registerSecret } from "../secrets/redact.ts";
import { type KubeClients, rawBody } from "./client.ts";
import { apiCall, isNotFound, translateApiError } from "./errors.ts";
import {
  buildBrokerSecret,
  buildRunnerJob,
  buildWorkerPod,
  planWorkers,
  type RunIdentity,
  type Specs,
} from "./manifests.ts";
import { BROKER_PASSWORD_KEY, brokerSecretName, FLOTILLA_CONTAINER, jobName, runSelector } from "./names.ts";
import type { KubeClusterOptions } from "./options.ts";
import { podStartFailure, type StartFailure } from "./pod-status.ts";
import { PodWatch } from "./pod-watch.ts";
import { decodeTermination, type TerminationSummary } from "./termination.ts";

/** What a launch needs of its environment (KubeClusterEnvironment provides it). */
export interface LaunchEnvironment {
  /** The compiled options (defaults applied). */
  readonly options: KubeClusterOptions;
  /** The loaded spec files. */
  readonly specs: Specs;
  /** Warnings found while compiling the options. */
  readonly warnings: readonly string[];
  /** The run's names, labels and image. */
  identity(flow: Flow, runId: string, namespace: string, image?: string): RunIdentity;
}

/** Options of one launch (RunOptions plus where, and injected effects). */
export interface LaunchOptions extends RunOptions {
  namespace: string;
  /** Overrides the flow's image. */
  image?: string | undefined;
  /**
   * The runner pod is followed by a watch; this is the longest pause between two looks at it
   * without any change (to notice a deleted Job), in ms. @default 2000
   */
  resyncIntervalMs?: number;
  /** Injected password generator (tests). */
  newPassword?: () => string;
}

/** Every object a run would create, for `--dry-run` (the broker password left as a placeholder). */
export function plannedObjects(
  env: LaunchEnvironment,
  flow: Flow,
  runId: string,
  namespace: string,
  image?: string,
  parameters?: Readonly<Record<string, unknown>>,
) {
  const run = { ...env.identity(flow, runId, namespace, image), parameters };
  const { object: job, warnings } = buildRunnerJob(env.options, env.specs, run);
  const secret = buildBrokerSecret(run, "generated-at-launch", {
    name: job.metadata!.name!,
    uid: "<job-uid>",
  });
  secret.data = { [BROKER_PASSWORD_KEY]: "<generated at launch, never printed>" };
  const plan = planWorkers(env.options, env.specs.worker);
  // the worker pods the runner creates at start (initialWorkers; it scales up to maxWorkers later)
  const workers = Array.from({ length: plan.initialWorkers }, (_, i) =>
    buildWorkerPod(env.options, env.specs.worker, run, {
      workerId: `w${i + 1}`,
      owner: { name: "<runner pod>", uid: "<runner pod uid>" },
      brokerHost: "<runner pod IP>",
      concurrency: plan.concurrency,
    }),
  );
  return {
    objects: [secret, job, ...workers.map((w) => w.object)] as object[],
    warnings: [...env.warnings, ...warnings, ...plan.warnings, ...(workers[0]?.warnings ?? [])],
  };
}

/** Create the run's objects and return a handle that follows it. */
export async function launchRun(
  env: LaunchEnvironment,
  flow: Flow,
  clients: KubeClients,
  options: LaunchOptions,
): Promise<RunHandle> {
  const runId = options.runId ?? newRunId();
  const namespace = options.namespace;
  const run = { ...env.identity(flow, runId, namespace, options.image), parameters: options.parameters };
  const logger = options.logger;
  const { object: job, warnings } = buildRunnerJob(env.options, env.specs, run);
  for (const w of [...env.warnings, ...warnings]) logger?.warn(w);
  const password = options.newPassword?.() ?? randomBytes(24).toString("hex");
  registerSecret(password);
  const secret = buildBrokerSecret(run, password);
  const secretName = brokerSecretName(flow.name, runId);
  const name = jobName(flow.name, runId);

  await apiCall({ verb: "create", resource: "secrets", namespace, name: secretName }, () =>
    clients.core.createNamespacedSecret(
      { namespace, body: secret as never, fieldValidation: "Strict" },
      rawBody(secret),
    ),
  );
  let created: IJob;
  try {
    created = (await apiCall({ verb: "create", resource: "jobs.batch", namespace, name }, () =>
      clients.batch.createNamespacedJob(
        { namespace, body: job as never, fieldValidation: "Strict" },
        rawBody(job),
      ),
    )) as unknown as IJob;
    const owner = [
      { apiVersion: "batch/v1", kind: "Job", name, uid: created.metadata!.uid!, blockOwnerDeletion: false },
    ];
    const patch = { metadata: { ownerReferences: owner } };
    await apiCall({ verb: "patch", resource: "secrets", namespace, name: secretName }, () =>
      clients.core.patchNamespacedSecret(
        { name: secretName, namespace, body: patch },
        rawBody(patch, "application/merge-patch+json"),
      ),
    );
  } catch (error) {
    await deleteQuietly(clients, namespace, name, secretName);
    throw error;
  }
  logger?.info({ job: name, namespace }, `run ${runId} launched as Job ${name}`);
  const controller = new AbortController();
  if (options.signal) options.signal.addEventListener("abort", () => controller.abort(), { once: true });
  const cancel = async () => {
    controller.abort();
    await deleteQuietly(clients, namespace, name, secretName);
  };
  let waiting: Promise<FlowRunState> | undefined;
  return {
    runId,
    wait: () => {
      waiting ??= followRun(
        clients,
        { namespace, jobName: name, runId, flow: flow.name, logger },
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
 * Delete the Job (pods with it: Background propagation) and the broker Secret; 404s are fine,
 * other failures are translated (verb, resource, namespace, the fix).
 */
export async function deleteQuietly(
  clients: KubeClients,
  namespace: string,
  job: string,
  secret: string,
): Promise<void> {
  const notFoundIsFine = (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e));
  await Promise.all([
    apiCall({ verb: "delete", resource: "jobs.batch", namespace, name: job }, () =>
      clients.batch
        .deleteNamespacedJob({ name: job, namespace, propagationPolicy: "Background" })
        .catch(notFoundIsFine),
    ),
    apiCall({ verb: "delete", resource: "secrets", namespace, name: secret }, () =>
      clients.core.deleteNamespacedSecret({ name: secret, namespace }).catch(notFoundIsFine),
    ),
  ]);
}

interface Followed {
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
): Promise<{ state: FlowRunState; failure?: StartFailure }> {
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

async function followWatched(
  clients: KubeClients,
  f: Followed,
  watch: PodWatch,
  resyncMs: number,
  signal: AbortSignal,
): Promise<{ state: FlowRunState; failure?: StartFailure }> {
  const startedAt = Date.now();
  const failed = (
    message: string,
    failure?: StartFailure,
  ): { state: FlowRunState; failure?: StartFailure } => ({
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
  });
  let seen = -1;
  while (!signal.aborted) {
    await watch.changed(seen, resyncMs);
    if (signal.aborted) break;
    seen = watch.version;
    const pod = watch.pods()[0];
    if (pod) {
      const statuses = pod.status?.containerStatuses ?? [];
      const main =
        statuses.find((s) => s.name === FLOTILLA_CONTAINER) ??
        statuses.find((s) => s.state?.terminated) ??
        statuses[0];
      const terminated = main?.state?.terminated;
      if (terminated) {
        const summary = decodeTermination(terminated.message);
        if (summary) {
          return {
            state: {
              type: summary.type,
              message: summary.message,
              flow: summary.flow,
              runId: summary.runId,
              taskRuns: taskRunsOf(summary),
              startedAt: summary.startedAt,
              ...(summary.finishedAt !== undefined ? { finishedAt: summary.finishedAt } : {}),
            },
          };
        }
        return failed(
          `runner pod ${pod.metadata?.name} ended (exit ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ""}) without a final state${terminated.message ? `: ${terminated.message.slice(0, 500)}` : ""}`,
        );
      }
      const failure = await podStartFailure(clients, pod as never);
      if (failure) {
        f.logger?.error(failure.message);
        const state = failed(`runner ${failure.message}`, failure);
        state.state.error = serializeError(new Error(failure.message));
        return state;
      }
    } else {
      // only a 404 means the Job is gone; any other failure is looked at again at the next resync
      let job: Awaited<ReturnType<KubeClients["batch"]["readNamespacedJob"]>> | undefined;
      try {
        job = await clients.batch.readNamespacedJob({ name: f.jobName, namespace: f.namespace });
      } catch (error) {
        if (isNotFound(error)) return failed(`runner Job ${f.jobName} is gone (cancelled or deleted)`);
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
        continue;
      }
      const cond = job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
      if (cond)
        return failed(`runner Job ${f.jobName} failed: ${cond.reason ?? ""} ${cond.message ?? ""}`.trim());
    }
  }
  return failed("run cancelled");
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
