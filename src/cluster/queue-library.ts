// BullMQ and ioredis, required once for the broker connection and the run channel. A built package
// carries them prebundled in one CommonJS file (dist/vendor/queue.cjs, scripts/bundle-vendor.mjs):
// requiring it reads one file where node_modules would take ~350 (about a third of a worker's
// start-up was resolving, reading and wrapping them), and its compiled code is kept between
// processes on Node 20 (src/cluster/code-cache.ts; Node 22+ keeps it itself). From source, or in a
// user's own bundle of Flotilla, the file is not there and the packages themselves are required.
//
// Both are CommonJS: required, not imported, so Node does not scan their modules for named exports
// (cjs-module-lexer). One default import of node:module, not `createRequire`: a user's bundle
// banner may declare that name (esbuild's documented one).

import { existsSync } from "node:fs";
import nodeModule from "node:module";
import { fileURLToPath } from "node:url";
import type * as BullMQ from "bullmq";
import type * as IORedis from "ioredis";
import { requireWithCodeCache } from "./code-cache.ts";

/** What Flotilla uses of BullMQ and ioredis. */
export interface QueueLibrary {
  Queue: typeof BullMQ.Queue;
  Worker: typeof BullMQ.Worker;
  Redis: typeof IORedis.Redis;
}

function requireQueueLibrary(): QueueLibrary {
  const require = nodeModule.createRequire(import.meta.url);
  const bundled = fileURLToPath(new URL("../vendor/queue.cjs", import.meta.url));
  if (existsSync(bundled)) return requireWithCodeCache(bundled) as QueueLibrary;
  const { Queue, Worker } = require("bullmq") as typeof BullMQ;
  const { Redis } = require("ioredis") as typeof IORedis;
  return { Queue, Worker, Redis };
}

let loaded: QueueLibrary | undefined;

/** BullMQ's Queue and Worker and ioredis's Redis, from one copy of each, required on the first call. */
export function queueLibrary(): QueueLibrary {
  loaded ??= requireQueueLibrary();
  return loaded;
}
