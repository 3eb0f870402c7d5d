// The Dask distributed anchor, measured in the same `npm run bench` invocation as our figures:
// the project's shared anchor script (`../shared/bench/dask_anchor.py` beside the repository, or
// $FLOTILLA_BENCH_DASK_ANCHOR) run with Debian's system Python when `python3-distributed` is
// installed there. Absent script or package: null, and the bench says why.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

/** Debian's interpreter: python3-distributed installs into it (a pyenv or venv python3 first on PATH lacks it). */
const PYTHON = process.env.FLOTILLA_BENCH_PYTHON ?? "/usr/bin/python3";

/** The Dask figures our figures are compared with (medians of the script's 3 repetitions). */
export interface DaskFigures {
  version: string;
  startUpS: number;
  map10kTasksPerS: number;
  chain1kMsPerHop: number;
  fanout5kTasksPerS: number;
  wallS: number;
}

async function gitCommonDir(): Promise<string | undefined> {
  try {
    const { stdout } = await run("git", ["rev-parse", "--path-format=absolute", "--git-common-dir"], {
      cwd: root,
    });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** Where the anchor script is: the env override, beside this checkout, or beside the main checkout of a worktree. */
async function findScript(): Promise<string | undefined> {
  const candidates = [
    process.env.FLOTILLA_BENCH_DASK_ANCHOR,
    path.join(root, "../shared/bench/dask_anchor.py"),
  ];
  const common = await gitCommonDir();
  if (common !== undefined)
    candidates.push(path.join(path.dirname(common), "../shared/bench/dask_anchor.py"));
  return candidates.find((c): c is string => c !== undefined && c !== "" && existsSync(c));
}

/** Run the Dask anchor (its distributed part, about 3 minutes on 2 cores), or say why not. */
export async function benchDask(): Promise<{ figures: DaskFigures } | { skipped: string }> {
  const script = await findScript();
  if (script === undefined) {
    return {
      skipped: "no dask_anchor.py (../shared/bench beside the repository, or $FLOTILLA_BENCH_DASK_ANCHOR)",
    };
  }
  try {
    await run(PYTHON, ["-c", "import distributed, psutil"]);
  } catch {
    return { skipped: `${PYTHON} cannot import distributed: apt-get install python3-distributed` };
  }
  const t0 = performance.now();
  const { stdout } = await run(PYTHON, [script, "--only", "distributed"], {
    maxBuffer: 16 << 20,
    timeout: 15 * 60_000,
  });
  const out = JSON.parse(stdout) as {
    facts: { distributed: string };
    distributed_localcluster_2w1t_processes: Record<string, Record<string, { median: number }>>;
  };
  const d = out.distributed_localcluster_2w1t_processes;
  const m = (part: string, field: string) => d[part]![field]!.median;
  return {
    figures: {
      version: out.facts.distributed,
      startUpS: m("startup", "startup_s"),
      map10kTasksPerS: m("map_10000", "tasks_per_s"),
      chain1kMsPerHop: m("chain_graph_1000", "us_per_task") / 1000,
      fanout5kTasksPerS: m("fan_out_in_5000", "tasks_per_s"),
      wallS: Math.round((performance.now() - t0) / 100) / 10,
    },
  };
}
