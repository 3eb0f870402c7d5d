// The Kubernetes pool's launcher: each run is the runner Job the Kubernetes launcher library
// creates (`launchRun`, the same objects `flotilla run` makes), in the agent's namespace, with the
// deployment's image and module path. One watch over every runner pod of the namespace (label
// selector, re-listed after a 410) tells each run's follower what happened: the runner container
// runs (the run is Running), it ended with its termination message (the final state, for a run
// whose runner could not report), or it died or never started (the Kubernetes reason of a
// Crashed run: pod deleted or evicted, killed without a final state, image pull, unschedulable).
// The same watch sees the run's worker pods (those its runner creates): the Events of each run's
// Job, runner pod and worker pods become log lines of the run (source k8s, kube-events.ts), so
// why a worker never started (ImagePullBackOff, Unschedulable) is in the run's logs. The runner pod reports its task runs and logs to the server itself, with the run's own token,
// which travels only in the run's per-run Secret. Runs are found again by label after an agent restart; cancel deletes the Job with Background
// propagation and resolves once the runner pod is gone.

import path from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "../core/logger.ts";
import type { KubeClients } from "../kubernetes/client.ts";
import { KubeClusterEnvironment } from "../kubernetes/environment.ts";
import { apiCall, isNotFound } from "../kubernetes/errors.ts";
import { deleteRunJob, launchRun } from "../kubernetes/launcher.ts";
import {
  FLOTILLA_CONTAINER,
  jobName,
  Label,
  labelValue,
  MANAGED_BY,
  runSelector,
} from "../kubernetes/names.ts";
import type { KubeClusterEnvironmentOptions } from "../kubernetes/options.ts";
import { podStartFailure } from "../kubernetes/pod-status.ts";
import { PodWatch } from "../kubernetes/pod-watch.ts";
import { decodeTermination } from "../kubernetes/termination.ts";
import type { FlowRunRecord } from "../store/store.ts";
import type { AgentLauncher, Launched, LaunchOutcome, LaunchRequest } from "./agent.ts";
import { RunKubeEvents, type WatchedObject } from "./kube-events.ts";

/** Options of the Kubernetes launcher. */
export interface KubernetesLauncherOptions {
  clients: KubeClients;
  /** Where runs are launched (the agent's namespace). */
  namespace: string;
  /**
   * Options of the runner Jobs this agent creates (service account, broker image, TTL, …): a
   * deployment carries no environment options and no spec file, which stay in the flow's image;
   * the runner pod reads the flow's own environment there for its workers.
   */
  environment?: Omit<KubeClusterEnvironmentOptions, "namespace" | "schedulerSpecFile" | "workerSpecFile">;
  /** Overrides every deployment's image (tests). */
  image?: string;
  /**
   * The server's URL as runner pods reach it, when it differs from the agent's (an agent outside
   * the cluster). @default the agent's server URL
   */
  reportUrl?: string;
  /** The longest pause between two looks at a run without a change (a Job deleted), in ms. @default 2000 */
  resyncMs?: number;
  logger?: Logger;
}

/** What a run's follower reads from its runner pod and Job. */
type Look =
  | { kind: "waiting" }
  | { kind: "running" }
  | { kind: "ended"; outcome: LaunchOutcome; remove?: boolean };

/** The runner pods and the worker pods they create, of every run of the namespace. */
const RUN_PODS = `${Label.managedBy}=${MANAGED_BY},${Label.component} in (runner,worker)`;
const isRunner = (p: V1Pod) => p.metadata?.labels?.[Label.component] === "runner";

/** A pod is looked at for new Events while it is not running and ready, and whenever it changed. */
function settled(p: V1Pod): boolean {
  const phase = p.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return true;
  const statuses = p.status?.containerStatuses ?? [];
  return phase === "Running" && statuses.length > 0 && statuses.every((c) => c.ready);
}

export class KubernetesLauncher implements AgentLauncher {
  readonly kind = "kubernetes";
  readonly #o: KubernetesLauncherOptions;
  #watch: PodWatch | undefined;
  #closed = false;

  constructor(options: KubernetesLauncherOptions) {
    this.#o = options;
  }

  /** The one watch over the namespace's runner and worker pods, started on first use. */
  async #pods(): Promise<PodWatch> {
    if (!this.#watch) {
      this.#watch = new PodWatch({
        clients: this.#o.clients,
        namespace: this.#o.namespace,
        labelSelector: RUN_PODS,
        onError: (e) => this.#o.logger?.debug({ err: String(e) }, "watching run pods failed; re-listing"),
      });
    }
    await this.#watch.ready;
    return this.#watch;
  }

  async launch(r: LaunchRequest): Promise<Launched> {
    const name = r.deployment.name;
    const image = this.#o.image ?? r.deployment.image ?? r.flow?.image;
    if (!image) {
      throw new Error(
        `deployment ${name} has no image: deploy it with --image <ref>, or give the flow DockerStorage (built by flotilla build --push)`,
      );
    }
    const module = r.deployment.module ?? r.flow?.module;
    if (!module || path.isAbsolute(module)) {
      throw new Error(
        `deployment ${name} has no module path inside its image${module ? ` (${module} is a path on the machine that deployed it)` : ""}: deploy it again with --pool kubernetes`,
      );
    }
    await this.#pods(); // the watch sees the runner pod from its first event
    const namespace = this.#o.namespace;
    const env = new KubeClusterEnvironment({ ...this.#o.environment, namespace }, process.cwd());
    await launchRun(env, { name: r.run.flowName }, this.#o.clients, {
      runId: r.run.id,
      namespace,
      image,
      flowModule: module,
      parameters: r.run.parameters,
      // the runner pod reports task runs and logs with the run's own token (in the per-run Secret)
      report: { url: this.#o.reportUrl ?? r.serverUrl, token: r.token },
      ...(this.#o.logger ? { logger: this.#o.logger } : {}),
    });
    return this.#follow(r.run.id, jobName(r.run.flowName, r.run.id), r.onLogs);
  }

  /** The runner Job an earlier agent process created for `run`, followed again. */
  async adopt(run: FlowRunRecord, hooks: Pick<LaunchRequest, "onLogs"> = {}): Promise<Launched | undefined> {
    const namespace = this.#o.namespace;
    const jobs = await apiCall({ verb: "list", resource: "jobs.batch", namespace }, () =>
      this.#o.clients.batch.listNamespacedJob({ namespace, labelSelector: runSelector(run.id, "runner") }),
    );
    const job = jobs.items[0]?.metadata?.name;
    if (!job) return undefined;
    await this.#pods();
    return this.#follow(run.id, job, hooks.onLogs);
  }

  #follow(runId: string, job: string, onLogs?: LaunchRequest["onLogs"]): Launched {
    const namespace = this.#o.namespace;
    let markRunning: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      markRunning = resolve;
    });
    const state = { pod: undefined as string | undefined, deleted: false };
    // the Events of the run's Job, runner pod and worker pods, as log lines of the run
    const events = onLogs ? new RunKubeEvents(this.#o.clients, namespace, onLogs) : undefined;
    const workers = new RunWorkerPods(runId);
    const objects = (all: boolean): WatchedObject[] => [
      { kind: "Job", name: job },
      ...(state.pod ? [{ kind: "Pod" as const, name: state.pod }] : []),
      ...workers.toLook(all).map((name) => ({ kind: "Pod" as const, name })),
    ];
    const ended = (async (): Promise<LaunchOutcome> => {
      const watch = await this.#pods();
      let seen = -1;
      for (;;) {
        await watch.changed(seen, this.#o.resyncMs ?? 2000);
        if (this.#closed) return { ok: true, reason: "the agent stopped following the run", detached: true };
        seen = watch.version;
        const pods = watch.pods();
        workers.saw(pods);
        const look = await this.#look(runId, job, pods.filter(isRunner), state);
        if (look.kind === "running") markRunning();
        // the last Events (why it or a worker never started) are recorded before the run's end is
        const end = look.kind === "ended";
        await events?.poll(() => objects(end), end);
        if (look.kind === "ended") {
          if (look.remove) await deleteRunJob(this.#o.clients, namespace, job).catch(() => {});
          return look.outcome;
        }
      }
    })();
    return {
      infraRef: `job:${namespace}/${job}`,
      ended,
      started,
      cancel: async () => {
        await deleteRunJob(this.#o.clients, namespace, job);
        await ended;
      },
    };
  }

  /** One look at a run: its runner pod in the watch's cache, else its Job. */
  async #look(
    runId: string,
    job: string,
    pods: V1Pod[],
    state: { pod: string | undefined; deleted: boolean },
  ): Promise<Look> {
    const label = labelValue(runId);
    const pod =
      pods.find((p) => p.metadata?.name === state.pod) ??
      pods.find((p) => p.metadata?.labels?.[Label.runId] === label);
    const deletedMessage = (name: string, detail?: string) =>
      `runner pod ${name} was deleted before the run ended (kubectl delete pod, eviction or node drain); the Job starts no second runner${detail ? `: ${detail}` : ""}`;
    if (pod) {
      state.pod ??= pod.metadata?.name;
      if (pod.metadata?.deletionTimestamp) state.deleted = true;
      const main = pod.status?.containerStatuses?.find((s) => s.name === FLOTILLA_CONTAINER);
      const terminated = main?.state?.terminated;
      if (terminated) {
        const summary = decodeTermination(terminated.message);
        const exit = `exit ${terminated.exitCode}${terminated.reason ? `, ${terminated.reason}` : ""}`;
        if (state.deleted) {
          return { kind: "ended", outcome: { ok: false, reason: deletedMessage(state.pod!, exit) } };
        }
        if (summary && (summary.type === "Success" || summary.type === "Failed")) {
          return {
            kind: "ended",
            outcome: {
              ok: true,
              reason: summary.message,
              final: { state: summary.type, message: summary.message },
            },
          };
        }
        return {
          kind: "ended",
          outcome: {
            ok: false,
            reason: `runner pod ${state.pod} ended (${exit}) without a final state${terminated.message ? `: ${terminated.message.slice(0, 500)}` : ""}`,
          },
        };
      }
      if (main?.state?.running && !state.deleted) return { kind: "running" };
      if (!state.deleted) {
        const failure = await podStartFailure(this.#o.clients, pod);
        if (failure) return { kind: "ended", outcome: { ok: false, reason: failure.message }, remove: true };
      }
      return { kind: "waiting" };
    }
    if (state.pod !== undefined) {
      return { kind: "ended", outcome: { ok: false, reason: deletedMessage(state.pod) } };
    }
    // no pod yet: only the Job says whether one is coming
    const namespace = this.#o.namespace;
    try {
      const j = await this.#o.clients.batch.readNamespacedJob({ name: job, namespace });
      const failed = j.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
      if (failed) {
        return {
          kind: "ended",
          outcome: {
            ok: false,
            reason: `runner Job ${job} failed without a runner pod: ${`${failed.reason ?? ""} ${failed.message ?? ""}`.trim()}`,
          },
        };
      }
    } catch (error) {
      if (isNotFound(error)) {
        return { kind: "ended", outcome: { ok: false, reason: `runner Job ${job} is gone (deleted)` } };
      }
      this.#o.logger?.debug({ err: String(error) }, `reading runner Job ${job} failed; looking again`);
    }
    return { kind: "waiting" };
  }

  /** Stop watching (the agent process is going away; its runs go on and are re-adopted). */
  close(): void {
    this.#closed = true;
    this.#watch?.stop();
  }
}

/**
 * The worker pods of one run as the watch saw them: every name (a deleted pod's Events outlive it)
 * and the resourceVersion each had when its Events were last read.
 */
class RunWorkerPods {
  readonly #label: string;
  readonly #pods = new Map<string, { rv: string; settled: boolean; readAt?: string }>();

  constructor(runId: string) {
    this.#label = labelValue(runId);
  }

  /** Note the run's worker pods among `pods`. */
  saw(pods: readonly V1Pod[]): void {
    for (const p of pods) {
      const name = p.metadata?.name;
      const labels = p.metadata?.labels;
      if (!name || labels?.[Label.component] !== "worker" || labels[Label.runId] !== this.#label) continue;
      const known = this.#pods.get(name);
      const rv = p.metadata?.resourceVersion ?? "";
      this.#pods.set(name, { rv, settled: settled(p), ...(known?.readAt ? { readAt: known.readAt } : {}) });
    }
  }

  /**
   * The worker pods whose Events to read now (marked read): those not running and ready, those
   * changed since their last read, or every one (`all`: the run ended).
   */
  toLook(all: boolean): string[] {
    const out: string[] = [];
    for (const [name, p] of this.#pods) {
      if (all || !p.settled || p.readAt !== p.rv) {
        out.push(name);
        p.readAt = p.rv;
      }
    }
    return out;
  }
}
