// `npm run bench`: every benchmark, one JSON document on stdout. Never asserted in tests.
// Anchors (measured on a machine like this one) are quoted beside our figures for comparison.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

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

const only = process.argv.slice(2);
const want = (suite: string) => only.length === 0 || only.includes(suite);

const out: Record<string, unknown> = {
  machine: { node: process.version, cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30) },
};

if (want("local")) {
  const results: Record<string, unknown> = {};
  for (const s of ["map10k", "chain1k", "fanout5k", "map100k", "build"]) {
    process.stderr.write(`bench local ${s}...\n`);
    results[s] = await local(s);
  }
  out.local = {
    ...results,
    anchors: {
      "dask sync scheduler, 10,000 delayed no-ops (us/task)": 112,
      "dask threaded scheduler, 10,000 delayed no-ops (us/task)": 141,
      "flow build, 20,000 calls of one task, before the per-slug suffix counter (ms)": 15_600,
      target: "<= 10 us/task on map10k; <= 1 KB runner memory per task run on map100k",
    },
  };
}

if (want("startup")) {
  process.stderr.write("bench startup...\n");
  const { benchStartup } = await import(`${here}startup.ts`);
  out.startup = await benchStartup();
}

if (want("cluster") && existsSync(`${here}cluster.ts`)) {
  process.stderr.write("bench cluster...\n");
  const mod = (await import(`${here}cluster.ts`)) as {
    benchCluster?: () => Promise<Record<string, unknown>>;
  };
  if (mod.benchCluster) out.cluster = await mod.benchCluster();
}

if (want("server")) {
  process.stderr.write("bench server...\n");
  const { benchServer } = (await import(`${here}server.ts`)) as {
    benchServer: () => Promise<Record<string, unknown>>;
  };
  out.server = await benchServer();
}

process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
