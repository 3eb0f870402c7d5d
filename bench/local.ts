// Benchmarks of the local engine (LocalExecutor, in-process). Each scenario runs in its own
// process so that its peak RSS is its own: `node --import tsx --expose-gc bench/local.ts <scenario>`.
// bench/run.ts runs them all and prints one JSON document.

import { silentLogger } from "../src/engine/logging.ts";
import { Flow, LocalExecutor, type Task, task } from "../src/index.ts";

const logger = silentLogger();
const noop = task("noop", (x: number) => x);
const inc = task("inc", (x: number) => x + 1);
const sum = task("sum", (xs: number[]) => xs.length);

function rangeTask(n: number): Task<[], number[]> {
  return task("range", () => Array.from({ length: n }, (_, i) => i));
}

const scenarios = {
  /** 10,000 mapped no-op tasks. */
  map10k: () => Flow.build("map10k", () => noop.map(rangeTask(10_000)())),
  /** A chain of 1,000 dependent tasks. */
  chain1k: () =>
    Flow.build("chain1k", () => {
      let x = inc(0);
      for (let i = 1; i < 1000; i++) x = inc(x);
      return x;
    }),
  /** 5,000 mapped tasks and one reduce over all of them. */
  fanout5k: () => Flow.build("fanout5k", () => sum(noop.map(rangeTask(5000)()))),
  /** 100,000 mapped no-op tasks: runner memory per task run. */
  map100k: () => Flow.build("map100k", () => noop.map(rangeTask(100_000)())),
  /** 1,000,000 mapped no-op tasks: runner memory per task run at scale. */
  map1m: () => Flow.build("map1m", () => noop.map(rangeTask(1_000_000)())),
} as const;
type Scenario = keyof typeof scenarios;
const taskCount: Record<Scenario, number> = {
  map10k: 10_000,
  chain1k: 1000,
  fanout5k: 5001,
  map100k: 100_000,
  map1m: 1_000_000,
};

async function measure(name: Scenario, repeats: number) {
  const flow = scenarios[name]();
  const executor = new LocalExecutor({ concurrency: 256 });
  const memoryOnly = name === "map100k" || name === "map1m";
  if (!memoryOnly) await flow.run({ executor, logger }); // warm-up
  const gc = (globalThis as { gc?: () => void }).gc;
  const times: number[] = [];
  let heapPerTaskBytes: number | undefined;
  let rssPerTaskBytes: number | undefined;
  for (let r = 0; r < repeats; r++) {
    gc?.();
    const { heapUsed: heapBefore, rss: rssBefore } = process.memoryUsage();
    const t0 = process.hrtime.bigint();
    const state = await flow.run({ executor, logger });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (state.type !== "Success") throw new Error(`${name}: ${state.message}`);
    times.push(wallMs);
    if (memoryOnly) {
      gc?.();
      // The final state (every task run's record and result) is still referenced here.
      const after = process.memoryUsage();
      heapPerTaskBytes = Math.round((after.heapUsed - heapBefore) / taskCount[name]);
      // The process's resident growth over the run (heap, array buffers, allocator slack).
      rssPerTaskBytes = Math.round((after.rss - rssBefore) / taskCount[name]);
      if (Object.keys(state.taskRuns).length === 0) throw new Error("no state");
    }
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const n = taskCount[name];
  return {
    scenario: name,
    tasks: n,
    repeats,
    wallMs: round(median),
    usPerTask: round((median * 1000) / n),
    tasksPerSecond: Math.round(n / (median / 1000)),
    peakRssMiB: round(process.resourceUsage().maxRSS / 1024),
    ...(heapPerTaskBytes !== undefined ? { runnerHeapBytesPerTaskRun: heapPerTaskBytes } : {}),
    ...(rssPerTaskBytes !== undefined ? { runnerRssBytesPerTaskRun: rssPerTaskBytes } : {}),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Building (not running) flows of 10,000 to 40,000 calls of one task: linear in the call count. */
function measureBuild() {
  const build: Record<string, number> = {};
  for (const n of [10_000, 20_000, 40_000]) {
    const t0 = process.hrtime.bigint();
    const flow = Flow.build(`build${n}`, () => {
      let x = inc(0);
      for (let i = 1; i < n; i++) x = inc(x);
      return x;
    });
    build[`${n}CallsMs`] = round(Number(process.hrtime.bigint() - t0) / 1e6);
    if (flow.nodes.length !== n) throw new Error(`build${n}: ${flow.nodes.length} nodes`);
  }
  return { scenario: "build", ...build };
}

const name = process.argv[2] as Scenario | "build" | undefined;
if (name === "build") process.stdout.write(`${JSON.stringify(measureBuild())}\n`);
else if (name !== undefined) {
  if (!(name in scenarios))
    throw new Error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
  const result = await measure(name, name === "map100k" || name === "map1m" ? 1 : 5);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export const localScenarios = Object.keys(scenarios) as Scenario[];
