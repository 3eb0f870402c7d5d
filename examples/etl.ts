// An ETL-like flow: parameters, a fan-out over the extracted records, retries on a flaky load
// step, and a fan-in report.
//
//   npx flotilla run examples/etl.ts --param records=200
//   npx flotilla run examples/etl.ts --workers 1:4 --param records=400 --param workMs=250
import { Flow, getLogger, isMain, task, unmapped } from "flotilla";

interface Row {
  id: number;
  amount: number;
}

const extract = task("extract", (records: number) =>
  Array.from({ length: records }, (_, id): Row => ({ id, amount: ((id * 7919) % 1000) / 10 })),
);

const transform = task("transform", async (row: Row, rate: number, workMs: number) => {
  if (workMs > 0) await new Promise((r) => setTimeout(r, workMs));
  return { ...row, amount: Math.round(row.amount * rate * 100) / 100 };
});

// A flaky sink: the first attempt of every 10th batch fails, the retry succeeds.
const failedOnce = new Set<number>();
const load = task(
  "load",
  (rows: Row[], batch: number) => {
    if (batch % 10 === 0 && !failedOnce.has(batch)) {
      failedOnce.add(batch);
      throw new Error(`warehouse busy (batch ${batch})`);
    }
    return { batch, rows: rows.length, total: rows.reduce((s, r) => s + r.amount, 0) };
  },
  { retries: 2, retryDelayMs: 100 },
);

const batches = task("batches", (rows: Row[], size: number) => {
  const out: Row[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
});

const indexes = task("indexes", (xs: unknown[]) => xs.map((_, i) => i));

const report = task("report", (loads: { rows: number; total: number }[]) => {
  const rows = loads.reduce((s, l) => s + l.rows, 0);
  const total = Math.round(loads.reduce((s, l) => s + l.total, 0) * 100) / 100;
  getLogger().info({ rows, total, batches: loads.length }, "loaded");
  return { rows, total, batches: loads.length };
});

export const etl = Flow.build("etl", ({ param }) => {
  const records = param("records", 100, { description: "how many records to extract" });
  const rate = param("rate", 1.1, { description: "conversion rate applied to every amount" });
  const workMs = param("workMs", 0, { description: "simulated work per record, in ms" });
  const size = param("batchSize", 20);

  const rows = extract(records);
  const converted = transform.map(rows, unmapped(rate), unmapped(workMs));
  const groups = batches(converted, size);
  const loads = load.map(groups, indexes(groups));
  return report(loads);
});

// `npx tsx examples/etl.ts` runs it as a script; `flotilla run` imports it and runs it itself.
if (isMain(import.meta)) await etl.run();
