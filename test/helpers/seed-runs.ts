// Test helper: a Flotilla home whose SQLite store already holds a long history of finished runs
// (100,000 take ~2 s), written in one transaction straight into the tables the store's migrations
// made: creating them one by one through the store takes over a minute on a loaded machine. The
// newest few hundred get task runs and worker samples, so their rows show figures.

import { randomUUID } from "node:crypto";
import path from "node:path";
import Database from "better-sqlite3";
import { openStore } from "../../src/store/open.ts";

const FLOWS = ["nightly-etl", "hourly-sync", "train-model", "daily-report", "backfill"];
const STATES = [
  "Success",
  "Success",
  "Success",
  "Success",
  "Success",
  "Success",
  "Failed",
  "Crashed",
  "Cancelled",
];

export interface SeededHistory {
  runs: number;
  /** The newest seeded run's creation time; the others are `spacingMs` apart before it. */
  newestAt: number;
  spacingMs: number;
  ms: number;
}

/** Seeds `runs` finished runs into `home`'s store (before a server opens it), newest first from `newestAt`. */
export async function seedHistory(
  home: string,
  o: { runs: number; newestAt: number; spacingMs: number; withFigures?: number },
): Promise<SeededHistory> {
  const t0 = performance.now();
  const file = path.join(home, "flotilla.db");
  await (await openStore(file)).close(); // the schema, by the store's own migrations
  const db = new Database(file);
  try {
    const run = db.prepare(
      `INSERT INTO flow_runs (id, flow_name, scheduled_at, state, reason, parameters, created_at, started_at, ended_at, updated_at)
       VALUES (?, ?, ?, ?, ?, '{}', ?, ?, ?, ?)`,
    );
    const task = db.prepare(
      `INSERT INTO task_runs (run_id, slug, map_index, attempt, state, terminal, started_at, ended_at, worker)
       VALUES (?, ?, ?, 1, ?, 1, ?, ?, ?)`,
    );
    const sample = db.prepare("INSERT INTO worker_samples (run_id, ts, count, pending) VALUES (?, ?, ?, 0)");
    db.transaction(() => {
      for (let i = 0; i < o.runs; i++) {
        const id = randomUUID();
        const at = o.newestAt - i * o.spacingMs;
        const state = STATES[i % STATES.length]!;
        const duration = 2000 + ((i * 7919) % 60_000);
        const reason =
          state === "Failed" ? "Some reference tasks failed" : state === "Crashed" ? "OOMKilled" : null;
        run.run(id, FLOWS[i % FLOWS.length], at, state, reason, at, at, at + duration, at + duration);
        if (i < (o.withFigures ?? 0)) {
          const n = 3 + (i % 5);
          for (let k = 0; k < n; k++) {
            const s =
              state === "Success" || k < n - 1 ? "Success" : state === "Failed" ? "Failed" : "Cancelled";
            task.run(id, "step", k, s, at + k * 100, at + k * 100 + 90, `worker-${k % 3}`);
          }
          sample.run(id, at, 1);
          sample.run(id, at + 500, 1 + (i % 4));
        }
      }
    })();
  } finally {
    db.close();
  }
  return { runs: o.runs, newestAt: o.newestAt, spacingMs: o.spacingMs, ms: performance.now() - t0 };
}
