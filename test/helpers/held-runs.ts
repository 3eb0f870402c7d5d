// Test helper for the runs of test/fixtures/cluster-batching.ts on a LocalCluster (real redis-server,
// real worker processes), where one task run holds its worker while the test SIGKILLs or retires it:
// who ran what (the fixture's log, one "index pid" line an execution), a worker's pid from its
// heartbeat, and the chain flows run with a callback at the holding hop.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectBroker } from "../../src/cluster/broker.ts";
import { LocalCluster } from "../../src/cluster/local-cluster.ts";
import { keys } from "../../src/cluster/run-channel.ts";
import type { RunEvent } from "../../src/core/executor.ts";
import { silentLogger } from "../../src/engine/logging.ts";
import { ClusterExecutor } from "../../src/executors/cluster-executor.ts";
import { loadFlowModule, selectFlow } from "../../src/storage/module.ts";

export const FIXTURE = fileURLToPath(new URL("../fixtures/cluster-batching.ts", import.meta.url));

/** Executions per index (hop or map index), from the fixture's log: the pids that ran it, in order. */
export async function executions(log: string): Promise<Map<number, number[]>> {
  const byIndex = new Map<number, number[]>();
  for (const line of (await readFile(log, "utf8")).split("\n")) {
    if (line === "") continue;
    const [i, pid] = line.split(" ").map(Number) as [number, number];
    byIndex.set(i, [...(byIndex.get(i) ?? []), pid]);
  }
  return byIndex;
}

/** `fn` with a connection to the cluster's broker, closed after. */
export async function withBroker<T>(
  cluster: LocalCluster,
  fn: (r: Awaited<ReturnType<typeof connectBroker>>) => Promise<T>,
): Promise<T> {
  const r = await connectBroker(cluster.broker!);
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** The pid of a worker, from its heartbeat. */
export function pidOf(cluster: LocalCluster, runId: string, worker: string): Promise<number> {
  return withBroker(
    cluster,
    async (r) => (JSON.parse((await r.hget(keys(runId).workers, worker))!) as { pid: number }).pid,
  );
}

/**
 * Run the fixture's chain flow `flow` on 2 workers; `onHold` is called once, with the worker running
 * the task run `holdSlug` when it starts (and then it must have started). The run's state, its
 * events, what `onHold` returned and the executions.
 */
export async function runChain(options: {
  flow: string;
  holdSlug: string;
  holdMs: number;
  onHold?: (cluster: LocalCluster, runId: string, worker: string) => Promise<number>;
}) {
  const { flow: name, holdSlug, holdMs, onHold } = options;
  const dir = await mkdtemp(join(tmpdir(), "flotilla-chain-"));
  try {
    const log = join(dir, "hops.log");
    const flow = selectFlow(await loadFlowModule(FIXTURE), name);
    const runId = `${name}-${Date.now()}`;
    const cluster = new LocalCluster({ minWorkers: 2, maxWorkers: 2, concurrency: 4 });
    let held: Promise<number> | undefined;
    const events: RunEvent[] = [];
    const state = await flow.run({
      parameters: { log, holdMs },
      executor: new ClusterExecutor({ cluster, lockDurationMs: 1000, stalledIntervalMs: 500 }),
      logger: silentLogger(),
      runId,
      onEvent: (e: RunEvent) => {
        events.push(e);
        if (e.type === "taskStarted" && e.slug === holdSlug && held === undefined && onHold)
          held = onHold(cluster, runId, e.worker!);
      },
    });
    if (onHold) assert.ok(held !== undefined, "the holding hop started");
    return { state, events, pid: await held, ran: await executions(log) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
