// Flow modules: an ES module (.ts or .js) exporting one or more Flows. The CLI, the runner and
// every worker load the same module and find tasks by slug. Loading records the module's path and a
// hash of its source on each flow (part of the fingerprint).

import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import nodeModule from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { type Flow, isFlow } from "../core/flow.ts";
import { importingFlowModule, moduleVersionOf } from "../core/flow-module.ts";

export interface FlowModule {
  /** Absolute path of the module. */
  path: string;
  /** Exported flows by export name. */
  flows: Map<string, Flow>;
}

/** Extensions of files Node cannot import without a TypeScript loader. */
const TYPESCRIPT_FILE = /\.(?:ts|mts|cts|tsx)$/;

let tsxRegistered = false;
let tsxCjsRegistered = false;
/**
 * Register tsx, once, before importing a TypeScript flow file. Flotilla itself is compiled
 * JavaScript; tsx is loaded only here, so a `.js` flow (and `flotilla --help`) never pays for it.
 */
async function ensureTypeScript(file: string, source: string): Promise<"module" | "commonjs"> {
  if (!TYPESCRIPT_FILE.test(file)) return "module";
  const format = (await isCommonJs(file)) ? "commonjs" : "module";
  // Already loaded through `node --import tsx` (tests): tsx's ESM and CommonJS hooks are there.
  if (process.execArgv.some((a) => a.includes("tsx"))) return format;
  if (!tsxRegistered && !(process as { __flotillaTsx?: boolean }).__flotillaTsx) {
    tsxRegistered = true;
    // Flotilla's public entry, imported before tsx's hooks exist: a flow's `import "flotilla"`
    // then finds its whole module graph loaded, instead of sending each of its modules (and zod,
    // pino...) through tsx's loader thread (about 1 s of a `.ts` flow's start-up on a loaded machine).
    // The same for each of Flotilla's other entries the flow names: `flotilla/kubernetes` (with
    // client-node and kubernetes-models) through tsx's hooks took half of a Kubernetes flow's load,
    // in the CLI, the runner pod and every worker pod alike (user CPU 4.1 s -> 2.0 s here).
    await Promise.all(flotillaEntriesOf(source).map((entry) => import(entry).catch(() => {})));
    if (tsxHooksInThisThread()) {
      // Node 22.22.3+, 24.11.1+, 25.1+: tsx's API runs its hooks in this thread (module.registerHooks),
      // so no loader thread starts and loads tsx (a hello .ts run: whole-process cpu 0.71 on Node 24,
      // 0.85 on Node 22, against the bundled hooks on a thread).
      (await import("tsx/esm/api")).register();
      return registerCommonJs(format);
    }
    // tsx's hooks module registered as `node --import tsx/esm` registers it, without importing
    // tsx/esm/api first: that would load tsx's main-thread half and esbuild's JS API into this thread
    // as well as into the hooks thread (about a quarter of tsx's start-up cost, measured). A built
    // package registers the same hooks prebundled (dist/vendor/tsx-esm.mjs, scripts/bundle-vendor.mjs):
    // one file for the hooks thread to read, and esbuild required only on a miss of tsx's cache.
    // `data` must be an object: tsx's initialize hook refuses a registration without one.
    nodeModule.register(tsxHooks(), { parentURL: import.meta.url, data: {} });
    process.setSourceMapsEnabled(true);
  }
  return registerCommonJs(format);
}

async function registerCommonJs(format: "module" | "commonjs"): Promise<"module" | "commonjs"> {
  // A CommonJS flow (.cts, or .ts in a package that is not "type": "module") is Node's to require,
  // so tsx's CommonJS hooks must compile it (without them Node finds its `import`s, loads it as an
  // ES module from inside require and stops with ERR_REQUIRE_CYCLE_MODULE). Its
  // `require("flotilla")` then loads Flotilla's ES modules (require(esm), Node 20.19+).
  if (format === "commonjs" && !tsxCjsRegistered) {
    tsxCjsRegistered = true;
    (await import("tsx/cjs/api")).register();
  }
  return format;
}

/**
 * Whether tsx's API runs its hooks in this thread: module.registerHooks exists and this Node is one
 * tsx 4.23 uses it on (its own feature table); elsewhere it would start a loader thread anyway.
 */
function tsxHooksInThisThread(): boolean {
  if (typeof (nodeModule as { registerHooks?: unknown }).registerHooks !== "function") return false;
  const [major = 0, minor = 0, patch = 0] = process.versions.node.split(".").map(Number);
  const atLeast = (m: number, p: number) => minor > m || (minor === m && patch >= p);
  if (major === 22) return atLeast(22, 3);
  if (major === 24) return atLeast(11, 1);
  if (major === 25) return atLeast(1, 0);
  return major > 25;
}

/** tsx's ESM hooks: the built package's prebundled copy, else (from source, in a user's bundle) tsx's own. */
function tsxHooks(): string {
  const bundled = new URL("../vendor/tsx-esm.mjs", import.meta.url);
  return bundled.protocol === "file:" && existsSync(bundled) ? bundled.href : "tsx/esm";
}

/** Whether Node loads this TypeScript file as CommonJS: .cts, or .ts/.tsx outside a "type": "module" package. */
async function isCommonJs(file: string): Promise<boolean> {
  if (file.endsWith(".cts")) return true;
  if (file.endsWith(".mts")) return false;
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const text = await readFile(path.join(dir, "package.json"), "utf8").catch(() => undefined);
    if (text !== undefined) {
      try {
        return (JSON.parse(text) as { type?: unknown }).type !== "module";
      } catch {
        return true; // Node stops at an unreadable package.json too
      }
    }
    if (path.dirname(dir) === dir) return true;
  }
}

/** Flotilla's entries a flow's source imports (`flotilla` always, then `flotilla/kubernetes`...). */
function flotillaEntriesOf(source: string): string[] {
  const entries = new Set(["flotilla"]);
  for (const m of source.matchAll(/["'](flotilla\/(?:cluster|kubernetes|testing))["']/g)) entries.add(m[1]!);
  return [...entries];
}

/** Import a flow module and collect the flows it exports. */
export async function loadFlowModule(file: string, cwd = process.cwd()): Promise<FlowModule> {
  const abs = path.resolve(cwd, file);
  let source: string;
  try {
    const st = await stat(abs).catch(() => undefined);
    if (st?.isDirectory()) {
      throw new FlotillaError(ErrorCode.ModuleNotFound, `flow file ${file} is a folder, not a file`, {
        hint: `give the flow module inside it, e.g. ${path.join(file, "flow.ts")}`,
        usage: true,
      });
    }
    if (st === undefined || !st.isFile()) throw new Error("not a file");
    source = await readFile(abs, "utf8");
  } catch (error) {
    if (error instanceof FlotillaError) throw error;
    throw new FlotillaError(ErrorCode.ModuleNotFound, `flow file not found: ${file}`, {
      hint: "give the path of a .ts or .js module that exports a Flow",
      usage: true,
    });
  }
  const format = await ensureTypeScript(abs, source);
  let mod: Record<string, unknown>;
  try {
    mod = await importingFlowModule(abs, async () =>
      // required, a CommonJS flow's exports are its own (import() would hide them under `default`)
      format === "commonjs"
        ? (nodeModule.createRequire(abs)(abs) as Record<string, unknown>)
        : ((await import(pathToFileURL(abs).href)) as Record<string, unknown>),
    );
  } catch (error) {
    // A module that starts a run on import: the refusal already names the file and the fix.
    if ((error as { code?: unknown }).code === ErrorCode.ModuleRunsOnImport) throw error;
    throw new FlotillaError(
      ErrorCode.ModuleLoad,
      `cannot load flow file ${file}: ${loadErrorMessage(error, abs)}`,
      {
        cause: error,
        hint: `${innerHint(error)}fix the flow file; \`node --import tsx ${path.relative(cwd, abs) || abs}\` shows the full stack`,
      },
    );
  }
  const version = moduleVersionOf(source);
  const flows = new Map<string, Flow>();
  for (const [name, value] of Object.entries(mod)) {
    if (!isFlow(value)) continue;
    value.modulePath = abs;
    value.moduleVersion = version;
    flows.set(name, value);
  }
  return { path: abs, flows };
}

/** Pick one flow by flow name or export name; with no name, the module's only flow. */
export function selectFlow(module: FlowModule, name?: string): Flow {
  const all = [...module.flows.entries()];
  const rel = path.relative(process.cwd(), module.path) || module.path;
  if (all.length === 0) {
    throw new FlotillaError(ErrorCode.NoFlow, `${rel} exports no Flow`, {
      hint: "export the flow, e.g. `export const flow = new Flow(...)`",
      usage: true,
    });
  }
  const list = all.map(([exp, f]) => `"${f.name}" (export ${exp})`).join(", ");
  if (name !== undefined) {
    const hit = all.find(([exp, f]) => f.name === name || exp === name);
    if (hit === undefined) {
      throw new FlotillaError(ErrorCode.NoFlow, `${rel} has no flow named "${name}"; it exports ${list}`, {
        usage: true,
      });
    }
    return hit[1];
  }
  if (all.length > 1) {
    throw new FlotillaError(ErrorCode.AmbiguousFlow, `${rel} exports ${all.length} flows: ${list}`, {
      hint: "choose one with --flow NAME",
      usage: true,
    });
  }
  return all[0]![1];
}

function loadErrorMessage(error: unknown, abs: string): string {
  if (!(error instanceof Error)) return String(error);
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  // esbuild (through tsx) reports syntax errors as "<file>:<line>:<col>: ERROR: <message>", one per error.
  const syntax = [...error.message.matchAll(/([^\s]+):(\d+):(\d+): ERROR: (.*)/g)];
  if (syntax.length > 0)
    return syntax.map((m) => `syntax error at ${rel(m[1]!)}:${m[2]}:${m[3]}: ${m[4]}`).join("\n");
  // every line of the message: an options error lists each bad field and its "did you mean"
  const lines = error.message.split("\n").filter((l) => l.trim() !== "");
  const [first = error.message, ...rest] = lines;
  const frame = error.stack?.split("\n").find((l) => l.includes(abs));
  const at = /\(?((?:file:\/\/)?\/[^()]*:\d+:\d+)\)?\s*$/.exec(frame ?? "")?.[1]?.replace(/^file:\/\//, "");
  const name = error.name && error.name !== "Error" ? `${error.name}: ` : "";
  return [`${name}${first}${at ? ` (at ${rel(at)})` : ""}`, ...rest].join("\n");
}

/** The hint of a Flotilla error thrown by the module (e.g. how to fix its options), then "; ". */
function innerHint(error: unknown): string {
  const hint = (error as { hint?: unknown } | undefined)?.hint;
  return typeof hint === "string" && hint !== "" ? `${hint}; ` : "";
}
