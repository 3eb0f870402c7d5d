// The Kubernetes path on the simulator, as a user meets it (issue 14.4): `flotilla run
// examples/seed-min-max/flow.ts --sim` from start to exit (warm: after one unmeasured run), with
// what the CLI itself prints: the time it waited from launch to the end ("Waited N s in all") and
// the run's own duration ("Success in N s"). The CLI runs Flotilla's compiled dist/ (bench/run.ts
// builds it) and so do the runner and worker pods it starts; this process's
// `--conditions=flotilla-source` is not passed on.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = fileURLToPath(new URL("../bin/flotilla.js", import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x);

/** One `flotilla run … --sim` to its exit: wall ms, and the waited and run ms the CLI printed. */
async function simRun(env: NodeJS.ProcessEnv): Promise<{ wallMs: number; waitedMs: number; runMs: number }> {
  const t0 = performance.now();
  const { stdout } = await run(
    process.execPath,
    [bin, "run", "examples/seed-min-max/flow.ts", "--sim", "-o", "json"],
    { cwd: root, env, timeout: 300_000, maxBuffer: 1 << 22 },
  );
  const wallMs = performance.now() - t0;
  const doc = JSON.parse(stdout) as { state: string; durationMs: number; wallTimeMs: number };
  if (doc.state !== "Success") throw new Error(`the --sim run ended ${doc.state}`);
  return { wallMs: round(wallMs), waitedMs: round(doc.wallTimeMs), runMs: round(doc.durationMs) };
}

export async function benchKube(repeats = 3): Promise<Record<string, unknown>> {
  const nodeOptions = (process.env.NODE_OPTIONS ?? "").replace("--conditions=flotilla-source", "").trim();
  const env = { ...process.env, NODE_OPTIONS: nodeOptions, NO_COLOR: "1" };
  await simRun(env);
  const runs: { wallMs: number; waitedMs: number; runMs: number }[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await simRun(env));
  return {
    seedMinMaxSimToExitWarm: {
      medianMs: median(runs.map((r) => r.wallMs)),
      waitedMedianMs: median(runs.map((r) => r.waitedMs)),
      runMedianMs: median(runs.map((r) => r.runMs)),
      runs,
    },
    targets: { "flotilla run examples/seed-min-max/flow.ts --sim to exit, warm (ms)": 3000 },
  };
}
