// Benchmarks of the server (`npm run bench server`): reporting overhead on a 10,000-task mapped
// run on a 2-worker LocalCluster (with and without a reporter, alternated in the same bench run),
// task-run state changes ingested per second on SQLite over HTTP, `runs get` of a run with 10,000
// task runs, and a page of the run list with 100,000 runs in the store. Figures only, never asserted.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import { silentLogger } from "../src/engine/logging.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { RunReporter } from "../src/reporting/reporter.ts";
import { ApiClient } from "../src/server/client.ts";
import { startServer } from "../src/server/server.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import type { TaskRunUpdate } from "../src/store/store.ts";

const CLUSTER_MODULE = fileURLToPath(new URL("./cluster-flows.ts", import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time<T>(fn: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function benchServer(): Promise<Record<string, unknown>> {
  const home = mkdtempSync(path.join(tmpdir(), "flotilla-bench-server-"));
  const server = await startServer({ port: 0, home, database: path.join(home, "bench.db"), retentionMs: 0 });
  const client = new ApiClient({ url: server.url, token: server.adminToken, timeoutMs: 120_000 });
  try {
    // the 100,000 runs of the list figures, written to the store first: no HTTP connection sits
    // idle through the fill (a kept-alive socket the server times out is reset on reuse)
    const fillStart = performance.now();
    for (let i = 0; i < 100_000; i++) {
      await server.store.createRun({ flowName: `bench-list-${i % 20}` }, 1_700_000_000_000 + i);
    }
    const fillMs = performance.now() - fillStart;

    // 1. ingestion: 10,000 task runs, each Running then Success (20,000 state changes), in
    //    reporter-sized batches of 2,000 changes
    const run = await client.post<{ id: string }>("/api/runs", {
      flowName: "bench-ingest",
      state: "Running",
    });
    const changes: TaskRunUpdate[] = [];
    const t = Date.now();
    for (let i = 0; i < 10_000; i++)
      changes.push({ slug: "noop", mapIndex: i, attempt: 1, state: "Running", startedAt: t, worker: "w1" });
    for (let i = 0; i < 10_000; i++)
      changes.push({ slug: "noop", mapIndex: i, attempt: 1, state: "Success", endedAt: t + 1 });
    const ingestMs = await time(async () => {
      for (let i = 0; i < changes.length; i += 2000) {
        await client.post(`/api/runs/${run.id}/report`, { taskRuns: changes.slice(i, i + 2000) });
      }
    });

    // 2. runs get of that run (10,000 task runs): the run, then its task runs, as the CLI does
    const getMs: number[] = [];
    for (let i = 0; i < 7; i++) {
      getMs.push(
        await time(async () => {
          await client.get(`/api/runs/${run.id}`);
          await client.get(`/api/runs/${run.id}/task-runs`);
        }),
      );
    }

    // 3. the run list with 100,000 runs in the store: first page and a page 1,000 runs deep
    const firstMs: number[] = [];
    const deepMs: number[] = [];
    let cursor: string | undefined;
    const deep = await client.get<{ next?: string }>("/api/runs?limit=500");
    cursor = (await client.get<{ next?: string }>(`/api/runs?limit=500&cursor=${deep.next}`)).next;
    for (let i = 0; i < 7; i++) {
      firstMs.push(await time(() => client.get("/api/runs?limit=50")));
      deepMs.push(await time(() => client.get(`/api/runs?limit=50&cursor=${cursor}`)));
    }

    // 4. reporting overhead on a 10,000-task mapped run, 2 workers, alternated none/reporting
    const flow = selectFlow(await loadFlowModule(CLUSTER_MODULE), "bench-map10k");
    const wall: { none: number[]; reporting: number[] } = { none: [], reporting: [] };
    let batches = 0;
    for (const mode of ["none", "reporting", "none", "reporting"] as const) {
      const executor = new ClusterExecutor({
        cluster: new LocalCluster({ minWorkers: 2, maxWorkers: 2, concurrency: 50 }),
      });
      let reporter: RunReporter | undefined;
      if (mode === "reporting") {
        const r = await client.post<{ id: string }>("/api/runs", { flowName: flow.name, state: "Running" });
        reporter = new RunReporter({
          client,
          runId: r.id,
          warn: (m) => process.stderr.write(`bench: ${m}\n`),
        });
      }
      const t0 = performance.now();
      const state = await flow.run({
        executor,
        logger: silentLogger(),
        ...(reporter ? { onEvent: reporter.onEvent } : {}),
      });
      await reporter?.close(30_000);
      wall[mode].push(performance.now() - t0);
      batches += reporter?.sent ?? 0;
      if (state.type !== "Success") throw new Error(`bench-map10k: ${state.message}`);
    }
    const none = Math.min(...wall.none);
    const reporting = Math.min(...wall.reporting);
    return {
      ingest: {
        stateChanges: changes.length,
        ms: Math.round(ingestMs),
        perSecond: Math.round(changes.length / (ingestMs / 1000)),
        target: ">= 5,000 task-run state changes/s on SQLite",
      },
      runsGet10kTaskRuns: { medianMs: Math.round(median(getMs) * 10) / 10, target: "<= 100 ms" },
      runsList100k: {
        fillMs: Math.round(fillMs),
        firstPageMedianMs: Math.round(median(firstMs) * 10) / 10,
        pageAfter1000MedianMs: Math.round(median(deepMs) * 10) / 10,
        target: "<= 50 ms per page",
      },
      reportingOverhead: {
        runs: "bench-map10k on a 2-worker LocalCluster, best of 2 each, alternated",
        noneMs: Math.round(none),
        reportingMs: Math.round(reporting),
        overheadPercent: Math.round(((reporting - none) / none) * 1000) / 10,
        reporterBatches: batches,
        target: "<= 10 % slower",
      },
    };
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchServer(), null, 2)}\n`);
}
