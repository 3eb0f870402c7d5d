// Start-up benchmarks, as a user meets them: `flotilla run examples/hello.ts` from start to exit
// (warm: after one unmeasured run), and a LocalCluster worker from spawn to ready (the reconciler
// sees it running). Both run Flotilla's compiled dist/ as an installed package does: bench/run.ts
// builds it first. This process imports src/ (`--conditions=flotilla-source` in its own argv), the
// processes it starts do not inherit that flag, so they run dist/.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type {
  Cluster,
  ClusterHooks,
  ClusterRun,
  ProviderEvent,
  WorkerLaunch,
  WorkerProvider,
} from "../src/cluster/cluster.ts";
import { LocalCluster, ProcessWorkerProvider } from "../src/cluster/local-cluster.ts";
import { ReconcilingCluster } from "../src/cluster/reconciler.ts";
import { silentLogger } from "../src/engine/logging.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = fileURLToPath(new URL("../bin/flotilla.js", import.meta.url));
const now = () => performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;

/** Wall time of `node bin/flotilla.js <args>` to exit, median of `repeats` after one warm-up. */
async function cliWall(args: string[], repeats: number): Promise<{ medianMs: number; runsMs: number[] }> {
  const nodeOptions = (process.env.NODE_OPTIONS ?? "").replace("--conditions=flotilla-source", "").trim();
  const env = { ...process.env, NODE_OPTIONS: nodeOptions };
  await run(process.execPath, [bin, ...args], { cwd: root, env });
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = now();
    await run(process.execPath, [bin, ...args], { cwd: root, env });
    runs.push(now() - t0);
  }
  return { medianMs: round(median(runs)), runsMs: runs.map(round) };
}

/** A provider that records when each worker was spawned. */
class TimedProvider implements WorkerProvider {
  readonly kind = "timed";
  readonly spawnedAt = new Map<string, number>();
  readonly #inner: WorkerProvider;
  constructor(inner: WorkerProvider) {
    this.#inner = inner;
  }
  openBroker(r: ClusterRun) {
    return this.#inner.openBroker(r);
  }
  start(spec: WorkerLaunch) {
    this.spawnedAt.set(spec.workerId, now());
    return this.#inner.start(spec);
  }
  remove(id: string) {
    return this.#inner.remove(id);
  }
  watch(listener: (e: ProviderEvent) => void) {
    this.#inner.watch(listener);
  }
  close() {
    return this.#inner.close();
  }
}

/** From spawning one LocalCluster worker to the reconciler seeing it running, median of `repeats`. */
async function workerSpawnToReady(repeats: number): Promise<{ medianMs: number; runsMs: number[] }> {
  const flow = selectFlow(await loadFlowModule("examples/hello.ts", root));
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const options = new LocalCluster({ minWorkers: 1, maxWorkers: 1 }).options;
    const provider = new TimedProvider(new ProcessWorkerProvider(options));
    const cluster: Cluster = {
      kind: "local",
      start: (r: ClusterRun, hooks: ClusterHooks) =>
        ReconcilingCluster.start(provider, r, hooks, { minWorkers: 1, maxWorkers: 1 }),
    };
    let readyAt: number | undefined;
    const state = await flow.run({
      executor: new ClusterExecutor({ cluster }),
      logger: silentLogger(),
      onEvent: (e) => {
        if (e.type === "workers" && e.count >= 1) readyAt ??= now();
      },
    });
    if (state.type !== "Success") throw new Error(`hello on a LocalCluster: ${state.message}`);
    const spawned = [...provider.spawnedAt.values()][0];
    if (spawned === undefined || readyAt === undefined) throw new Error("no worker became ready");
    runs.push(readyAt - spawned);
  }
  return { medianMs: round(median(runs)), runsMs: runs.map(round) };
}

export async function benchStartup(): Promise<Record<string, unknown>> {
  return {
    helloRunToExitWarm: await cliWall(["run", "examples/hello.ts", "--output", "json"], 7),
    helpToExitWarm: await cliWall(["--help"], 7),
    workerSpawnToReady: await workerSpawnToReady(5),
    targets: {
      "flotilla run examples/hello.ts to exit, warm (ms)": 250,
      "LocalCluster worker spawn to ready (ms)": 200,
    },
  };
}
