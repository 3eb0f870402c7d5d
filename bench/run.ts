// `npm run bench`: every benchmark, one JSON document on stdout. Never asserted in tests.
// The anchors run in the same invocation where they are installed: raw BullMQ (always, same
// worker count and concurrency as ours) and Dask distributed (bench/dask.ts, when Debian's
// python3-distributed is present; about 3 minutes); each figure carries its ratio to them.
// Older anchor measurements are quoted beside them. `npm run bench -- local cluster` runs parts
// (local, startup, kube, dask, cluster, server); `--no-dask` skips Dask.

import { execFile } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { benchDask, type DaskFigures } from "./dask.ts";

const run = promisify(execFile);
const here = fileURLToPath(new URL(".", import.meta.url));

async function local(scenario: string): Promise<unknown> {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "--expose-gc", `${here}local.ts`, scenario],
    {
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

const args = process.argv.slice(2);
const noDask = args.includes("--no-dask");
const only = args.filter((a) => !a.startsWith("--"));
const want = (suite: string) => only.length === 0 || only.includes(suite);

const out: Record<string, unknown> = {
  machine: { node: process.version, cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30) },
};

if (want("local")) {
  const results: Record<string, unknown> = {};
  for (const s of ["map10k", "chain1k", "fanout5k", "map100k", "map1m", "build"]) {
    process.stderr.write(`bench local ${s}...\n`);
    results[s] = await local(s);
  }
  out.local = {
    ...results,
    anchors: {
      "dask sync scheduler, 10,000 delayed no-ops (us/task)": 112,
      "dask threaded scheduler, 10,000 delayed no-ops (us/task)": 141,
      "flow build, 20,000 calls of one task, before the per-slug suffix counter (ms)": 15_600,
      target: "<= 10 us/task on map10k; <= 300 B runner memory per task run on map1m",
    },
  };
}

if (want("startup")) {
  process.stderr.write("bench startup...\n");
  const { benchStartup } = await import(`${here}startup.ts`);
  out.startup = await benchStartup();
}

if (want("kube")) {
  process.stderr.write("bench kube (flotilla run examples/seed-min-max/flow.ts --sim)...\n");
  const { benchKube } = await import(`${here}kube.ts`);
  out.kube = await benchKube();
}

let dask: DaskFigures | undefined;
if ((want("dask") || want("cluster")) && !noDask) {
  process.stderr.write("bench dask (the same-run Dask distributed anchor, about 3 minutes)...\n");
  const result = await benchDask();
  out.dask = result;
  if ("figures" in result) dask = result.figures;
}

if (want("cluster")) {
  process.stderr.write("bench cluster...\n");
  const { benchCluster } = await import(`${here}cluster.ts`);
  out.cluster = await benchCluster(dask);
}

if (want("server")) {
  process.stderr.write("bench server...\n");
  const { benchServer } = (await import(`${here}server.ts`)) as {
    benchServer: () => Promise<Record<string, unknown>>;
  };
  out.server = await benchServer();
}

process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
