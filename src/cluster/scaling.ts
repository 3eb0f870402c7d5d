// One scaling vocabulary: the options that size a run's worker cluster (minWorkers, maxWorkers,
// initialWorkers, concurrency, idle and death timeouts), their checks, the minWorkers <= maxWorkers
// rule, and the defaults of each place that takes them, side by side. LocalCluster,
// KubeClusterEnvironment and `flotilla worker` build their schemas from these fields, so a name,
// a unit and a check are written once.
//
// Why the defaults differ (the same table is in docs/cluster.md and the README):
//   - idleTimeoutMs: a local worker process starts in a fraction of a second, so LocalCluster
//     gives idle workers back after 2 s; a worker pod costs scheduling and an image pull, so a
//     Kubernetes cluster keeps an idle one 30 s.
//   - workerDeathTimeoutMs: a local worker's broker is a process next to it that dies only with
//     its owner, so 10 s is plenty; a worker pod's broker is a sidecar across the network, and a
//     hand-started `flotilla worker` is as far from its broker as a pod, so both wait 30 s.
//   - concurrency: a local worker shares a machine built for many async task runs (16); a worker
//     pod is sized by its resources, and the seed's Dask workers ran one task at a time (1,
//     `--nthreads N` in a worker spec sets it).

import type { z as Z } from "zod";
import { zod } from "../core/zod-on-demand.ts";

const z = zod();

const count = z.number().int("must be an integer").min(0, "must be >= 0");
const durationMs = z.number().int("must be an integer number of milliseconds").min(0, "must be >= 0");

/** The fields, without defaults (each place applies its own, from SCALING_DEFAULTS). */
export const scalingFields = {
  /** Fewest workers the cluster keeps, even idle; `minWorkers === maxWorkers` is a fixed size. */
  minWorkers: count,
  /** Most workers at once. */
  maxWorkers: count.min(1, "must be >= 1 (a run needs a worker)"),
  /**
   * Workers started with the cluster, clamped to `minWorkers..maxWorkers`: a starting size, not a
   * floor (idle workers above `minWorkers` go after `idleTimeoutMs`).
   */
  initialWorkers: count,
  /** Task runs one worker executes at once (the adaptive policy's slots per worker). */
  concurrency: z.number().int("must be an integer").min(1, "must be >= 1").max(10000, "must be <= 10000"),
  /** Sustained idle time before workers above `minWorkers` are retired, in ms. */
  idleTimeoutMs: durationMs,
  /** A worker that cannot reach its broker this long exits (code 1), in ms. */
  workerDeathTimeoutMs: z
    .number()
    .int("must be an integer number of milliseconds")
    .min(100, "must be >= 100"),
} as const;

/** The defaults of one place that takes scaling options. */
export interface ScalingDefaults {
  minWorkers: number;
  maxWorkers: number;
  concurrency: number;
  idleTimeoutMs: number;
  workerDeathTimeoutMs: number;
}

/** The defaults, side by side (see the header for why they differ). */
export const SCALING_DEFAULTS = {
  /** LocalCluster: worker processes on this machine. */
  local: { minWorkers: 1, maxWorkers: 2, concurrency: 16, idleTimeoutMs: 2000, workerDeathTimeoutMs: 10_000 },
  /** KubeClusterEnvironment: worker pods (concurrency is its `workerConcurrency`). */
  kubernetes: {
    minWorkers: 1,
    maxWorkers: 2,
    concurrency: 1,
    idleTimeoutMs: 30_000,
    workerDeathTimeoutMs: 30_000,
  },
  /** `flotilla worker` started by hand (LocalCluster and KubeCluster always pass theirs). */
  worker: { minWorkers: 1, maxWorkers: 1, concurrency: 16, idleTimeoutMs: 0, workerDeathTimeoutMs: 30_000 },
} as const satisfies Record<string, ScalingDefaults>;

/** The scaling part of a cluster's options schema, with `defaults` applied. */
export function scalingSchema(defaults: ScalingDefaults) {
  return z.object({
    minWorkers: scalingFields.minWorkers.default(defaults.minWorkers),
    maxWorkers: scalingFields.maxWorkers.default(defaults.maxWorkers),
    initialWorkers: scalingFields.initialWorkers.optional(),
    concurrency: scalingFields.concurrency.default(defaults.concurrency),
    idleTimeoutMs: scalingFields.idleTimeoutMs.default(defaults.idleTimeoutMs),
    workerDeathTimeoutMs: scalingFields.workerDeathTimeoutMs.default(defaults.workerDeathTimeoutMs),
  });
}

/** The compiled scaling options. */
export type ScalingOptions = Z.output<ReturnType<typeof scalingSchema>>;

/** The one rule over several scaling options: the problem, or undefined. */
export function minNotAboveMax(o: { minWorkers: number; maxWorkers: number }): string | undefined {
  return o.minWorkers > o.maxWorkers
    ? `minWorkers (${o.minWorkers}) must be <= maxWorkers (${o.maxWorkers}); set them equal for a fixed-size cluster`
    : undefined;
}
