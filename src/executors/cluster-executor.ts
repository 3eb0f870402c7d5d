// ClusterExecutor: the producer side of a cluster run. Task runs go to the run's BullMQ queue in
// batches (many task runs per job, many jobs per addBulk); results, events and task logs come back on ONE Redis
// stream read with XREAD BLOCK (no subscription per job); workers come from a Cluster (LocalCluster,
// KubeCluster) or are started by hand against `brokerUrl`. This file compiles the options; each
// run is a ClusterRunSession (cluster-session.ts).

import type { z as Z } from "zod";
import { BATCHING_DEFAULTS } from "../cluster/batching.ts";
import { type BrokerEndpoint, brokerFromEnv, parseBrokerUrl } from "../cluster/broker.ts";
import type { Cluster } from "../cluster/cluster.ts";
import { Env } from "../cluster/process-env.ts";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { Executor, ExecutorContext, ExecutorSession } from "../core/executor.ts";
import { zod } from "../core/zod-on-demand.ts";
import { ClusterRunSession } from "./cluster-session.ts";

const z = zod();

/** Options of a ClusterExecutor. */
export interface ClusterExecutorOptions {
  /** Workers and broker for the run. Without it, workers are started by hand against `brokerUrl`. */
  cluster?: Cluster;
  /** An existing broker, `redis://host:port` (used when there is no cluster). @default $FLOTILLA_BROKER_URL */
  brokerUrl?: string;
  /** The broker's password, if not in the URL. @default $FLOTILLA_BROKER_PASSWORD */
  brokerPassword?: string;
  /**
   * BullMQ job lock, in ms. A worker renews it every half of this; a worker that dies (or blocks its
   * event loop with CPU work) for longer loses its task run to another worker. Shorter = faster
   * recovery of a killed worker, but CPU-bound tasks that block longer than this run twice.
   * @default 4000
   */
  lockDurationMs?: number;
  /** How often workers look for task runs whose worker was lost, in ms. @default 1000 */
  stalledIntervalMs?: number;
  /** How many times a task run may lose its worker before it fails. @default 3 */
  maxStalledCount?: number;
  /** Worker heartbeat period, in ms. @default 500 */
  heartbeatMs?: number;
  /** Fail the run when the broker has been unreachable this long, in ms. @default 5000 */
  brokerLostTimeoutMs?: number;
  /** Jobs per addBulk call. @default 1000 */
  submitBatchSize?: number;
  /**
   * The most task runs one queue job carries. Ready task runs of a task travel in batches sized by
   * its observed duration (about 20 ms of work each, one for long tasks); a worker hands a batch's
   * unstarted members back after 50 ms, so a slow one never holds the others. 1: one job per task run.
   * @default 500
   */
  maxBatchSize?: number;
}

const Schema = z.object({
  lockDurationMs: z.number().int().min(500).default(4000),
  stalledIntervalMs: z.number().int().min(100).default(1000),
  maxStalledCount: z.number().int().min(0).default(3),
  heartbeatMs: z.number().int().min(50).default(500),
  brokerLostTimeoutMs: z.number().int().min(100).default(5000),
  submitBatchSize: z.number().int().min(1).default(1000),
  maxBatchSize: z.number().int().min(1).max(10_000).default(BATCHING_DEFAULTS.maxBatch),
});

export class ClusterExecutor implements Executor {
  readonly kind = "cluster";
  readonly cluster: Cluster | undefined;
  readonly #o: Z.infer<typeof Schema>;
  readonly #broker: BrokerEndpoint | undefined;

  constructor(options: ClusterExecutorOptions = {}) {
    const parsed = Schema.safeParse(options);
    if (!parsed.success) {
      throw new FlotillaError(ErrorCode.OptionsInvalid, `ClusterExecutor: ${z.prettifyError(parsed.error)}`);
    }
    this.#o = parsed.data;
    this.cluster = options.cluster;
    if (options.cluster === undefined) {
      this.#broker =
        options.brokerUrl !== undefined
          ? parseBrokerUrl(
              options.brokerUrl,
              options.brokerPassword ?? (process.env[Env.brokerPassword] || undefined),
            )
          : brokerFromEnv();
      if (this.#broker === undefined) {
        throw new FlotillaError(ErrorCode.OptionsInvalid, "ClusterExecutor: give a cluster or a brokerUrl", {
          hint: "new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 1, maxWorkers: 4 }) })",
        });
      }
    }
  }

  async start(ctx: ExecutorContext): Promise<ExecutorSession> {
    return ClusterRunSession.open(ctx, this.#o, this.cluster, this.#broker);
  }
}
