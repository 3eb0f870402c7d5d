#!/usr/bin/env node
// Part of `npm run build`: dependencies on the start-up path of every worker, prebundled so that
// a process reads one file instead of hundreds. BullMQ and ioredis go into one CommonJS file,
// dist/vendor/queue.cjs, which src/cluster/queue-library.ts requires when it exists. Required from
// node_modules they are ~350 files (bullmq, ioredis, semver, cron-parser, luxon, msgpackr...), and
// resolving, reading and wrapping each was about a third of a worker's start-up; one file is read
// and compiled once. The packages stay dependencies (their types are part of Flotilla's .d.ts and a
// source checkout requires them directly). Optional parts stay outside the bundle and are
// required from node_modules as the packages do: valkey-glide (not installed), pg (bullmq's
// PostgreSQL backend, required only when used). msgpackr's optional native addon is left out.
// zod (95 ES modules) goes into dist/vendor/zod.js, which src/core/zod-on-demand.ts requires: every
// Flotilla module outside the server takes zod from there, so they share one copy; the server's
// routes import zod itself, with fastify's zod type provider, and meet no schema of the others.
// tsx's ESM hooks (what `node --import tsx/esm` registers) go into dist/vendor/tsx-esm.mjs, which
// src/storage/module.ts registers to import a user's `.ts` flow: on Node 20 the hooks run in a
// thread of their own that loads them before the flow's first import, in the CLI and in every
// worker. From node_modules that thread reads tsx's chunks and scans esbuild's 97 KB CommonJS
// build for named exports (cjs-module-lexer); here it reads one file, and esbuild (its JS API
// and its binary) is required only when tsx compiles a file its on-disk cache does not hold.
// tsx's own code is unchanged; esbuild stays tsx's dependency, required from tsx's own folder.
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
  external: ["@valkey/valkey-glide", "pg", "pg-*"],
  // msgpackr-extract is a native addon that speeds up msgpackr's unpack; BullMQ only packs (its
  // Lua scripts unpack), so the bundle's msgpackr finds no extractor and stays pure JavaScript,
  // as msgpackr does without the optional addon: every worker skips loading a native module.
  plugins: [
    {
      name: "no-msgpackr-extract",
      setup(b) {
        b.onResolve({ filter: /^msgpackr-extract$/ }, () => ({
          path: "msgpackr-extract",
          namespace: "absent",
        }));
        b.onLoad({ filter: /.*/, namespace: "absent" }, () => ({
          contents: "module.exports = undefined;\n",
        }));
      },
    },
  ],
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: "eof",
  outfile: `${root}dist/vendor/queue.cjs`,
  logLevel: "warning",
});
await build({
  stdin: { contents: 'export { z } from "zod";\n', resolveDir: root, sourcefile: "zod-entry.mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20.19",
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: "eof",
  outfile: `${root}dist/vendor/zod.js`,
  logLevel: "warning",
});

// tsx's import of esbuild, answered by a module that requires esbuild on first use. `version` is
// part of tsx's cache key, read from esbuild's package.json (the same string esbuild exports).
const lazyEsbuild = `import nodeModule from "node:module";
const fromTsx = nodeModule.createRequire(nodeModule.createRequire(import.meta.url).resolve("tsx/package.json"));
let esbuild;
const load = () => (esbuild ??= fromTsx("esbuild"));
export const version = fromTsx("esbuild/package.json").version;
export const transform = (...args) => load().transform(...args);
export const transformSync = (...args) => load().transformSync(...args);
`;
await build({
  stdin: { contents: 'export * from "tsx/esm";\n', resolveDir: root, sourcefile: "tsx-esm-entry.mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20.19",
  plugins: [
    {
      name: "lazy-esbuild",
      setup(b) {
        b.onResolve({ filter: /^esbuild$/ }, () => ({ path: "esbuild", namespace: "lazy-esbuild" }));
        b.onLoad({ filter: /.*/, namespace: "lazy-esbuild" }, () => ({
          contents: lazyEsbuild,
          resolveDir: root,
        }));
      },
    },
  ],
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: "eof",
  outfile: `${root}dist/vendor/tsx-esm.mjs`,
  logLevel: "warning",
});
