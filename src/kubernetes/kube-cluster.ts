// KubeCluster: the run's workers as pods, plugged into the shared reconciling core
// (src/cluster/cluster.ts) through a pod-based WorkerProvider. Runs inside the runner pod.
// Invariants: one pod per worker, named from the run and worker id, owned by the runner pod (so
// Kubernetes deletes them if the runner dies, even by SIGKILL); pods are created in parallel
// (each `start` is independent); a worker pod that cannot start for a reason that will not fix
// itself (image pull, unschedulable, config error) or is not Running within
// `workerStartTimeoutMs` fails the run at once with the pod's reason and last events; `close()`
// deletes every worker pod of the run by label, whatever the core's bookkeeping says.

import type { V1Pod } from "@kubernetes/client-node";
import type { BrokerEndpoint } from "../cluster/broker.ts";
import {
  type BrokerLease,
  type Cluster,
  type ClusterHooks,
  type ClusterRun,
  type ClusterSession,
  type ProviderEvent,
  ReconcilingCluster,
  type WorkerProvider,
  type WorkerSpec,
} from "../cluster/cluster.ts";
import { ErrorCode, FlotillaError, serializeError } from "../core/errors.ts";
import { type KubeClients, rawBody } from "./client.ts";
import { apiCall, isNotFound } from "./errors.ts";
import { buildWorkerPod, type OwnerPod, planWorkers, type RunIdentity, type Specs } from "./manifests.ts";
import { BROKER_PORT, Label, labelValue, MANAGED_BY } from "./names.ts";
import type { KubeClusterOptions } from "./options.ts";
import { fatalReason, podEvents } from "./pod-status.ts";

/** What a KubeCluster needs: where it runs and who owns its pods. */
export interface KubeClusterConfig {
  clients: KubeClients;
  options: KubeClusterOptions;
  specs: Specs;
  /** Run identity (image, namespace, flow module as workers load it). */
  run: RunIdentity;
  /** The runner pod (owner of the workers). */
  owner: OwnerPod;
  /** The runner pod's IP: the broker sidecar listens there. */
  podIp: string;
  brokerPassword: string;
  /** The runner pod's imagePullSecrets: workers run the same image, so they get them too. */
  pullSecrets?: readonly string[];
  /** How often worker pods are listed, in ms. @default 250 */
  pollIntervalMs?: number;
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
    const plan = planWorkers(o, this.#c.specs.worker);
    for (const w of plan.warnings) run.logger.warn(w);
    const provider = new PodWorkerProvider(this.#c, hooks, run);
    return ReconcilingCluster.start(provider, run, hooks, {
      // the worker spec's `replicas` is the initial count; the core has no separate initial size,
      // so it raises the floor (see docs/kubernetes.md)
      minWorkers: Math.max(o.minWorkers, plan.initialWorkers),
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
  #timer: NodeJS.Timeout | undefined;
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
    this.#schedule();
  }

  async start(spec: WorkerSpec): Promise<void> {
    const { object: pod } = buildWorkerPod(this.#c.options, this.#c.specs.worker, this.#c.run, {
      workerId: spec.workerId,
      owner: this.#c.owner,
      brokerHost: this.#c.podIp,
      concurrency: spec.concurrency,
      ...(this.#c.pullSecrets ? { pullSecrets: this.#c.pullSecrets } : {}),
    });
    const name = pod.metadata!.name!;
    const namespace = this.#c.run.namespace;
    this.#pods.set(spec.workerId, { podName: name, requestedAt: Date.now(), running: false, gone: false });
    await apiCall({ verb: "create", resource: "pods", namespace, name }, () =>
      this.#c.clients.core.createNamespacedPod(
        { namespace, body: pod as never, fieldValidation: "Strict" },
        rawBody(pod),
      ),
    ).catch((error: unknown) => {
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
    if (this.#timer) clearTimeout(this.#timer);
    const namespace = this.#c.run.namespace;
    // by label, so a pod created by a request still in flight is not missed
    await this.#c.clients.core
      .deleteCollectionNamespacedPod({ namespace, labelSelector: this.#selector(), gracePeriodSeconds: 5 })
      .catch(() => Promise.all([...this.#pods.values()].map((t) => this.#delete(t.podName))));
  }

  #selector(): string {
    return `${Label.runId}=${labelValue(this.#c.run.runId)},${Label.component}=worker,${Label.managedBy}=${MANAGED_BY}`;
  }

  async #delete(name: string): Promise<void> {
    const namespace = this.#c.run.namespace;
    await this.#c.clients.core
      .deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 5 })
      .catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#poll()
        .catch((e: unknown) => this.#run.logger.debug({ err: String(e) }, "listing worker pods failed"))
        .finally(() => this.#schedule());
    }, this.#c.pollIntervalMs ?? 250);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    const namespace = this.#c.run.namespace;
    const list = await this.#c.clients.core.listNamespacedPod({ namespace, labelSelector: this.#selector() });
    const byName = new Map(list.items.map((p) => [p.metadata?.name ?? "", p]));
    for (const [workerId, t] of this.#pods) {
      if (t.gone) continue;
      const pod = byName.get(t.podName);
      if (pod === undefined) {
        if (Date.now() - t.requestedAt > 2000) this.#exited(workerId, t, "pod deleted", false);
        continue;
      }
      await this.#observe(workerId, t, pod);
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
