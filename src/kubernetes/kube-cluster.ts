// KubeCluster: the run's workers as pods, plugged into the shared reconciling core
// (src/cluster/cluster.ts) through a pod-based WorkerProvider. Runs inside the runner pod.
// Invariants: one pod per worker, named from the run and worker id, owned by the runner pod (so
// Kubernetes deletes them if the runner dies, even by SIGKILL); pods are created in parallel
// (each `start` is independent); a worker pod that cannot start for a reason that will not fix
// itself (image pull, unschedulable, config error) or is not Running within
// `workerStartTimeoutMs` fails the run at once with the pod's reason and last events; pods are
// followed by one watch per run (src/kubernetes/pod-watch.ts), not polled; `close()`
// deletes every worker pod of the run by label, whatever the core's bookkeeping says.

import type { V1Pod } from "@kubernetes/client-node";
import type { BrokerEndpoint } from "../cluster/broker.ts";
import type {
  BrokerLease,
  Cluster,
  ClusterHooks,
  ClusterRun,
  ClusterSession,
  ProviderEvent,
  WorkerLaunch,
  WorkerProvider,
} from "../cluster/cluster.ts";
import { ReconcilingCluster } from "../cluster/reconciler.ts";
import { ErrorCode, FlotillaError, serializeError } from "../core/errors.ts";
import type { KubeClients } from "./client.ts";
import { isNotFound } from "./errors.ts";
import {
  buildWorkerPod,
  type OwnerPod,
  planWorkers,
  type RunIdentity,
  type Specs,
  type WorkerPlan,
} from "./manifests.ts";
import { BROKER_PORT, runSelector } from "./names.ts";
import { createObject } from "./objects.ts";
import type { KubeClusterOptions } from "./options.ts";
import { fatalReason, podEvents } from "./pod-status.ts";
import { PodWatch } from "./pod-watch.ts";

/** What a KubeCluster needs: where it runs and who owns its pods. */
export interface KubeClusterConfig {
  clients: KubeClients;
  options: KubeClusterOptions;
  specs: Specs;
  /**
   * The worker spec as read where it was loaded (the environment's `workerPlan`; its warnings were
   * shown by the launcher). @default planWorkers(options, specs.worker)
   */
  workerPlan?: WorkerPlan;
  /** Run identity (image, namespace, flow module as workers load it). */
  run: RunIdentity;
  /** The runner pod (owner of the workers). */
  owner: OwnerPod;
  /** The runner pod's IP: the broker sidecar listens there. */
  podIp: string;
  brokerPassword: string;
  /** The runner pod's imagePullSecrets: workers run the same image, so they get them too. */
  pullSecrets?: readonly string[];
  /**
   * Worker pods are followed by a watch; this is the longest pause between two passes over them
   * without any pod change (for the time-based checks: start timeout, a pod gone missing), in ms.
   * @default 1000
   */
  resyncIntervalMs?: number;
}

/** A Cluster whose workers are pods and whose broker is the runner pod's sidecar. */
export class KubeCluster implements Cluster {
  readonly kind = "kubernetes";
  readonly #c: KubeClusterConfig;

  constructor(config: KubeClusterConfig) {
    this.#c = config;
  }

  async start(run: ClusterRun, hooks: ClusterHooks): Promise<ClusterSession> {
    const o = this.#c.options;
    const plan = this.#c.workerPlan ?? planWorkers(o, this.#c.specs.worker);
    const provider = new PodWorkerProvider(this.#c, hooks, run);
    return ReconcilingCluster.start(provider, run, hooks, {
      minWorkers: o.minWorkers,
      // the worker spec's `replicas`: the starting size, not a floor (see the README, "Running on Kubernetes")
      initialWorkers: plan.initialWorkers,
      maxWorkers: o.maxWorkers,
      concurrency: plan.concurrency,
      idleTimeoutMs: o.idleTimeoutMs,
      // a pod takes longer than a process to start: only quick deaths after Running count
      startFailureWindowMs: 5000,
    });
  }
}

interface Tracked {
  podName: string;
  requestedAt: number;
  running: boolean;
  gone: boolean;
}

/** Workers as pods owned by the runner pod. */
export class PodWorkerProvider implements WorkerProvider {
  readonly kind = "pod";
  readonly #c: KubeClusterConfig;
  readonly #hooks: ClusterHooks;
  readonly #run: ClusterRun;
  readonly #pods = new Map<string, Tracked>();
  #listener: (e: ProviderEvent) => void = () => {};
  #podWatch: PodWatch | undefined;
  #closed = false;
  #fatal = false;

  constructor(config: KubeClusterConfig, hooks: ClusterHooks, run: ClusterRun) {
    this.#c = config;
    this.#hooks = hooks;
    this.#run = run;
  }

  async openBroker(): Promise<BrokerLease> {
    const endpoint: BrokerEndpoint = {
      host: this.#c.podIp,
      port: BROKER_PORT,
      password: this.#c.brokerPassword,
    };
    return { runner: endpoint, workers: endpoint, close: async () => {} };
  }

  watch(listener: (e: ProviderEvent) => void): void {
    this.#listener = listener;
    this.#podWatch = new PodWatch({
      clients: this.#c.clients,
      namespace: this.#c.run.namespace,
      labelSelector: this.#selector(),
      onError: (e) => this.#run.logger.debug({ err: String(e) }, "watching worker pods failed; re-listing"),
    });
    void this.#follow(this.#podWatch);
  }

  async start(spec: WorkerLaunch): Promise<void> {
    const { object: pod } = buildWorkerPod(this.#c.options, this.#c.specs.worker, this.#c.run, {
      workerId: spec.workerId,
      owner: this.#c.owner,
      brokerHost: this.#c.podIp,
      concurrency: spec.concurrency,
      ...(this.#c.pullSecrets ? { pullSecrets: this.#c.pullSecrets } : {}),
    });
    const name = pod.metadata!.name!;
    this.#pods.set(spec.workerId, { podName: name, requestedAt: Date.now(), running: false, gone: false });
    await createObject(this.#c.clients, pod).catch((error: unknown) => {
      this.#pods.delete(spec.workerId);
      this.#fail(error);
      throw error;
    });
    this.#run.logger.debug({ worker: spec.workerId, pod: name }, "worker pod created");
  }

  async remove(workerId: string): Promise<void> {
    const t = this.#pods.get(workerId);
    if (t === undefined || t.gone) return;
    await this.#delete(t.podName);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#podWatch?.stop();
    const namespace = this.#c.run.namespace;
    // by label, so a pod created by a request still in flight is not missed
    await this.#c.clients.core
      .deleteCollectionNamespacedPod({ namespace, labelSelector: this.#selector(), gracePeriodSeconds: 5 })
      .catch(() => Promise.all([...this.#pods.values()].map((t) => this.#delete(t.podName))));
  }

  #selector(): string {
    return runSelector(this.#c.run.runId, "worker");
  }

  async #delete(name: string): Promise<void> {
    const namespace = this.#c.run.namespace;
    await this.#c.clients.core
      .deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 5 })
      .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  }

  /** One pass over the tracked pods after every change the watch reports (or every resync). */
  async #follow(watch: PodWatch): Promise<void> {
    let seen = -1;
    while (!this.#closed) {
      await watch.changed(seen, this.#c.resyncIntervalMs ?? 1000);
      if (this.#closed) return;
      seen = watch.version;
      await this.#pass(watch.pods()).catch((e: unknown) =>
        this.#run.logger.debug({ err: String(e) }, "checking worker pods failed"),
      );
    }
  }

  async #pass(pods: readonly V1Pod[]): Promise<void> {
    const byName = new Map(pods.map((p) => [p.metadata?.name ?? "", p]));
    for (const [workerId, t] of this.#pods) {
      if (t.gone) continue;
      const pod = byName.get(t.podName) ?? (await this.#missing(t));
      if (pod !== undefined) await this.#observe(workerId, t, pod);
    }
  }

  /** A tracked pod the watch has not shown (yet): gone only when a GET says so, 2 s after its create. */
  async #missing(t: Tracked): Promise<V1Pod | undefined> {
    if (Date.now() - t.requestedAt < 2000) return undefined;
    const namespace = this.#c.run.namespace;
    try {
      return await this.#c.clients.core.readNamespacedPod({ name: t.podName, namespace });
    } catch (e) {
      if (!isNotFound(e)) throw e;
      const workerId = [...this.#pods].find(([, x]) => x === t)?.[0];
      if (workerId !== undefined) this.#exited(workerId, t, "pod deleted", false);
      return undefined;
    }
  }

  async #observe(workerId: string, t: Tracked, pod: V1Pod): Promise<void> {
    const phase = pod.status?.phase;
    if (!t.running && phase === "Running") {
      t.running = true;
      this.#listener({ workerId, phase: "starting" });
    }
    if (phase === "Succeeded" || phase === "Failed") {
      const term = pod.status?.containerStatuses?.[0]?.state?.terminated;
      const reason = term
        ? `pod ${t.podName} exit code ${term.exitCode}${term.reason ? ` (${term.reason})` : ""}`
        : `pod ${t.podName} ${phase}`;
      this.#exited(workerId, t, reason, phase === "Failed");
      await this.#delete(t.podName);
      return;
    }
    if (t.running) return;
    const fatal = fatalReason(pod);
    const late = Date.now() - t.requestedAt > this.#c.options.workerStartTimeoutMs;
    if (fatal || late) {
      const events = await podEvents(this.#c.clients, this.#c.run.namespace, t.podName);
      const why = fatal
        ? `${fatal.reason}: ${fatal.detail}`
        : `not Running within workerStartTimeoutMs (${this.#c.options.workerStartTimeoutMs} ms; phase ${phase ?? "unknown"})`;
      const message = `worker pod ${t.podName} cannot start: ${why}${events.length ? `\n  last events:\n    ${events.join("\n    ")}` : ""}`;
      this.#exited(workerId, t, message, true);
      await this.#delete(t.podName);
      this.#fail(
        new FlotillaError(ErrorCode.WorkerStart, message, {
          hint:
            fatal?.reason === "Unschedulable"
              ? "lower workerResources (or the worker spec's requests) or add capacity"
              : "check the worker image and, for a private registry, privateRegistry: true",
        }),
      );
    }
  }

  #exited(workerId: string, t: Tracked, reason: string, failed: boolean): void {
    t.gone = true;
    this.#listener({ workerId, phase: "exited", reason, failed });
  }

  #fail(error: unknown): void {
    if (this.#fatal || this.#closed) return;
    this.#fatal = true;
    this.#hooks.onFatal(serializeError(error));
  }
}
