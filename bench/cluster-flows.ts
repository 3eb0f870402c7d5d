// The flows of the cluster benchmarks (bench/cluster.ts), the module their workers load. It imports
// "flotilla" as a user's flow module does: a worker runs Flotilla's compiled dist/ (built by
// bench/run.ts) and tsx only for this file; the bench process itself, under the flotilla-source
// condition, gets src/.

import { Flow, task } from "flotilla";

const noop = task("noop", (x: number) => x);
const inc = task("inc", (x: number) => x + 1);
const count = task("count", (xs: number[]) => xs.length);
const nap = task("nap", async (x: number) => {
  await new Promise((r) => setTimeout(r, 500));
  return x;
});
const linger = task("linger", async (xs: number[], ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  return xs.length;
});
const range = task("range", (n: number) => Array.from({ length: n }, (_, i) => i));

/** 10,000 mapped no-op tasks. */
export const map10k = Flow.build("bench-map10k", () => noop.map(range(10_000)));
/** 50,000 mapped no-op tasks. */
export const map50k = Flow.build("bench-map50k", () => noop.map(range(50_000)));
/** A chain of 1,000 dependent tasks. */
export const chain1k = Flow.build("bench-chain1k", () => {
  let x = inc(0);
  for (let i = 1; i < 1000; i++) x = inc(x);
  return x;
});
/** 5,000 mapped no-op tasks and one reduce over all of them. */
export const fanout5k = Flow.build("bench-fanout5k", () => count(noop.map(range(5000))));
/** One task: start-up to first task finished. */
export const one = Flow.build("bench-one", () => inc(0));
/** Adaptive: 200 tasks of 0.5 s, then one task that keeps the run alive while the cluster shrinks. */
export const adaptive = Flow.build("bench-adaptive", ({ param }) =>
  linger(nap.map(range(200)), param("lingerMs", 6000)),
);
