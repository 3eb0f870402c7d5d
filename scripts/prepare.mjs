#!/usr/bin/env node
// `prepare` (run by `npm ci` / `npm install` in this repository): build dist/, so that a fresh
// clone's `npx flotilla` runs compiled JavaScript. Without the dev dependencies (`npm ci
// --omit=dev`, e.g. in an image built from this repository) there is no tsc: say so and go on.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  process.stderr.write(
    "flotilla prepare: typescript is not installed (dev dependencies omitted): dist/ not built\n",
  );
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
  cwd: new URL("..", import.meta.url),
  stdio: "inherit",
});
process.exit(r.status ?? 1);
