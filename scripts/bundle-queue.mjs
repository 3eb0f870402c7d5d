#!/usr/bin/env node
// Part of `npm run build`: BullMQ and ioredis prebundled into one CommonJS file,
// dist/vendor/queue.cjs, which src/cluster/queue-library.ts requires when it exists. Required from
// node_modules they are ~350 files (bullmq, ioredis, semver, cron-parser, luxon, msgpackr...), and
// resolving, reading and wrapping each was about a third of a worker's start-up; one file is read
// and compiled once. The packages stay dependencies (their types are part of Flotilla's .d.ts and a
// source checkout requires them directly). Optional or native parts stay outside the bundle and
// are required from node_modules as the packages do: valkey-glide (not installed), msgpackr-extract
// (a native addon msgpackr tries), pg (bullmq's PostgreSQL backend, required only when used).
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
mkdirSync(`${root}dist/vendor`, { recursive: true });
await build({
  stdin: {
    contents: 'export { Queue, Worker } from "bullmq";\nexport { Redis } from "ioredis";\n',
    resolveDir: root,
    sourcefile: "queue-library-entry.mjs",
  },
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20.19",
  // the packages' ES builds, so that what Queue and Worker do not use is left out
  mainFields: ["module", "main"],
  external: ["@valkey/valkey-glide", "msgpackr-extract", "pg", "pg-*"],
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: "eof",
  outfile: `${root}dist/vendor/queue.cjs`,
  logLevel: "warning",
});
