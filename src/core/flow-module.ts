// Which module a flow lives in, and whether a module may start runs: a Flow records the module
// that constructed it (so `flow.run({ executor: new ClusterExecutor(...) })` from a script knows
// what its workers must import), and the flow module loader marks the time it imports a module, so
// that a module starting a run on import (which every worker would repeat) is refused clearly.

import { createHash } from "node:crypto";
import { readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ErrorCode, FlotillaError } from "./errors.ts";

/** Flotilla's own code: src/ (or dist/ when compiled), the directory above this one. */
const OWN_DIR = fileURLToPath(new URL("..", import.meta.url));

/**
 * The files of the calling stack frames, innermost first, read from V8's call sites rather than
 * from a stack's text: with source maps enabled (tsx enables them to load a `.ts` flow) formatting
 * a stack maps every frame through its source map, which cost each `new Flow` about 70 ms of a
 * worker's start-up on a loaded machine.
 */
function stackFiles(): string[] {
  const original = Error.prepareStackTrace;
  Error.prepareStackTrace = (_error, sites) => sites.map((site) => site.getFileName() ?? "");
  try {
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, stackFiles);
    return Array.isArray(holder.stack) ? (holder.stack as string[]) : [];
  } finally {
    Error.prepareStackTrace = original;
  }
}

/** The file of the first stack frame outside Flotilla's own code, or undefined. */
export function callerModule(files: readonly string[] = stackFiles()): string | undefined {
  for (const name of files) {
    if (!name.startsWith("file:") && !path.isAbsolute(name)) continue; // node:internal, eval
    const file = name.startsWith("file:") ? fileURLToPath(name) : name;
    if (file.startsWith(OWN_DIR)) continue;
    return file;
  }
  return undefined;
}

/** A module's version: the first 12 hex of the sha256 of its source (part of the fingerprint). */
export function moduleVersionOf(source: string): string {
  return createHash("sha256").update(source).digest("hex").slice(0, 12);
}

/** The version of a module file, or undefined when it cannot be read. */
export function moduleFileVersion(file: string): string | undefined {
  try {
    return moduleVersionOf(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/**
 * `if (isMain(import.meta)) await flow.run()`: true when this module is the program node started
 * (`node flow.js`, `tsx flow.ts`), false when it is imported (by `flotilla run`, a worker, the
 * runner, an image's health check). Guard every top-level `flow.run()` with it.
 */
export function isMain(meta: { url: string; main?: boolean }): boolean {
  if (typeof meta.main === "boolean") return meta.main; // Node 24.2+
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === meta.url;
  } catch {
    return false;
  }
}

// Shared through the global object, so two copies of Flotilla in one process agree.
const IMPORTING = Symbol.for("flotilla.importingFlowModule");
type Marked = { [IMPORTING]?: string[] };

/** Run `load` (an import of a flow module) so that a run started meanwhile is refused. */
export async function importingFlowModule<T>(file: string, load: () => Promise<T>): Promise<T> {
  const g = globalThis as Marked;
  g[IMPORTING] ??= [];
  const stack = g[IMPORTING];
  stack.push(file);
  try {
    return await load();
  } finally {
    stack.splice(stack.lastIndexOf(file), 1);
  }
}

/** Called by `flow.run()`: refuse a run started while a flow module is being imported. */
export function refuseRunDuringImport(flowName: string): void {
  const importing = (globalThis as Marked)[IMPORTING];
  const file = importing?.[importing.length - 1];
  if (file === undefined) return;
  throw new FlotillaError(
    ErrorCode.ModuleRunsOnImport,
    `${file} starts a run of flow "${flowName}" when it is imported; flotilla run, the runner, every worker and the image health check import it, and each would start the run again`,
    {
      hint: 'guard the call: `import { isMain } from "flotilla"; if (isMain(import.meta)) await flow.run();`',
    },
  );
}
