// Clusters: a broker plus workers that grow and shrink for one flow run. This file holds the
// contracts another engineer codes against: `Cluster` (what ClusterExecutor starts), and
// `WorkerProvider` (where workers live: processes for LocalCluster, pods for KubeCluster), the
// small seam under the one reconciling core both use (reconciler.ts).

import type { SerializedError } from "../core/errors.ts";
import type { RunEvent } from "../core/executor.ts";
import type { Logger } from "../core/logger.ts";
import type { BrokerEndpoint } from "./broker.ts";
import type { WorkerPhase } from "./protocol.ts";

/** The run a cluster serves. */
export interface ClusterRun {
  runId: string;
  /** The flow's name (workers select it with --flow). */
  flowName: string;
  /** The flow module's path, as workers must load it (in pods: the path inside the image). */
  flowModule: string;
  fingerprint: string;
  logger: Logger;
}

/** What a cluster needs from the executor it serves. */
export interface ClusterHooks {
  /** Task runs submitted and not finished yet (queued + running). */
  outstanding(): number;
  /** Progress: `{ type: "workers" }` events. */
  onEvent(event: Extract<RunEvent, { type: "workers" }>): void;
  /** The cluster cannot go on (broker gone, workers cannot start): the run fails with this. */
  onFatal(error: SerializedError): void;
  /**
   * A worker is gone (its process or pod ended; `failed`: not by a clean exit): the runner takes
   * back what it had handed that worker directly (the chain lane).
   */
  onWorkerGone?(workerId: string, failed: boolean): void;
}

/** A cluster started for one run. */
export interface ClusterSession {
  /** Where the runner reaches the broker. */
  readonly broker: BrokerEndpoint;
  /** A worker reported its phase on the output stream (faster than its heartbeat). */
  observe(workerId: string, phase: WorkerPhase, reason?: string): void;
  /**
   * Task runs were submitted: if they are more than the workers there are can run, decide now
   * instead of at the next adapt interval (a backlog starts the scale-up at once).
   */
  demandChanged(): void;
  /** Fix the size (turns adaptive scaling off), as `cluster.scale(n)` in Dask. */
  scale(workers: number): Promise<void>;
  /** Retire every worker, remove what is left, release the broker. Idempotent. */
  close(): Promise<void>;
}

/** A broker plus workers that grow and shrink (LocalCluster: processes here; KubeCluster: pods). */
export interface Cluster {
  readonly kind: string;
  /** Start the broker (if the cluster owns one) and request the first workers; resolves when the broker is up. */
  start(run: ClusterRun, hooks: ClusterHooks): Promise<ClusterSession>;
}

/** Where the broker is, for the runner and for the workers (in Kubernetes: 127.0.0.1 vs the pod IP). */
export interface BrokerLease {
  runner: BrokerEndpoint;
  workers: BrokerEndpoint;
  /** Resolves with a reason if the broker goes away by itself (a local process exiting). */
  lost?: Promise<string>;
  /**
   * Resolves once the broker accepts connections, when `openBroker` returned before (the first
   * workers start meanwhile); rejects if it cannot start. Absent: ready already.
   */
  ready?: Promise<void>;
  close(): Promise<void>;
}

/** Everything a provider needs to start one worker. */
export interface WorkerLaunch {
  workerId: string;
  runId: string;
  flowName: string;
  flowModule: string;
  /** The broker as workers reach it; its password must reach the worker as a secret (env), never an argument. */
  broker: BrokerEndpoint;
  concurrency: number;
  deathTimeoutMs: number;
}

/** A lifecycle change a provider observed. */
export type ProviderEvent =
  | { workerId: string; phase: "starting" }
  | { workerId: string; phase: "exited"; reason: string; failed: boolean };

/**
 * The small seam between the reconciling core and where workers live. LocalCluster implements it
 * with child processes; KubeCluster with pods (create pod / watch pod phase / delete pod).
 */
export interface WorkerProvider {
  readonly kind: string;
  /** Start (or find) the broker for this run. */
  openBroker(run: ClusterRun): Promise<BrokerLease>;
  /** Request one worker; resolves once requested (it reports "starting" and "exited" later). */
  start(spec: WorkerLaunch): Promise<void>;
  /** Kill or delete one worker now (a pending one is cancelled). Idempotent. */
  remove(workerId: string): Promise<void>;
  /** Lifecycle changes of the workers it started. */
  watch(listener: (event: ProviderEvent) => void): void;
  /** Release everything (remove workers left, stop watches). */
  close(): Promise<void>;
}
