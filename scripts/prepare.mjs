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
const cwd = new URL("..", import.meta.url);
// then the prebundled dependencies `npm run build` makes (dist/vendor/), so that a fresh clone's
// workers start as an installed package's do (without them dist/ requires the packages themselves)
for (const args of [
  [tsc, "-p", "tsconfig.build.json"],
  ["scripts/bundle-vendor.mjs"],
  ["scripts/bundle-client-node.mjs"],
]) {
  const r = spawnSync(process.execPath, args, { cwd, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
