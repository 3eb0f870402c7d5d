#!/usr/bin/env node
// The `flotilla` command. It runs Flotilla's compiled JavaScript (dist/); tsx is loaded later, and
// only to import a user's `.ts` flow file. Under the `flotilla-source` export condition (set by
// `npm test` in this repository) `flotilla` resolves to src/, so the CLI runs from source with
// tsx, and every process of a test uses the same copy of Flotilla.
import { existsSync } from "node:fs";
import nodeModule from "node:module";

// Node 22.1+: V8's compiled code of every module this process loads is kept on disk (the OS temp
// directory, or NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), so the next
// `flotilla` and every LocalCluster worker compile less. Node 20 has no such cache: nothing is done.
nodeModule.enableCompileCache?.();

const entry = (() => {
  try {
    return import.meta.resolve("flotilla");
  } catch {
    return undefined;
  }
})();

if (entry?.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
  process.__flotillaTsx = true;
  const { main } = await import("../src/cli/main.ts");
  process.exitCode = await main(process.argv);
} else {
  const compiled = new URL("../dist/cli/main.js", import.meta.url);
  if (!existsSync(compiled)) {
    process.stderr.write("flotilla: dist/ is missing: run `npm run build` (npm ci and npm install run it)\n");
    process.exit(2);
  }
  const { main } = await import(compiled.href);
  process.exitCode = await main(process.argv);
}
