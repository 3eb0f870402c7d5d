// Requiring one large prebundled CommonJS file (dist/vendor/queue.cjs) with V8's code cache, on
// Node versions without Node's own compile cache (Node 20: module.enableCompileCache is 22.1+).
// Every LocalCluster worker and the runner require that 1.4 MB file at start; compiling its code
// again in each process is work V8 can keep: the first process writes the compiled code next to
// the OS temp directory's other caches, the next ones read it (V8 checks the code is for this
// source length, V8 version and flags, and compiles afresh when not). Like Node's compile cache
// and tsx's, the cache lives in a folder of the OS temp directory that only this user may write
// (it is not used otherwise); NODE_DISABLE_COMPILE_CACHE=1 turns it off, as it does Node's.

import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import nodeModule from "node:module";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";

/** The user's cache folder, or undefined when it cannot be trusted (someone else may write it). */
function cacheFolder(): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = path.join(os.tmpdir(), `flotilla-code-cache-${uid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether to keep compiled code here: Node's own compile cache (22.1+) covers require already. */
function ownCacheWanted(): boolean {
  if (typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === "function") return false;
  const off = process.env.NODE_DISABLE_COMPILE_CACHE;
  return off === undefined || off === "";
}

/**
 * `require(file)` of a CommonJS file that requires only built-in modules and packages, compiled
 * with V8's code cache where that helps (see the header); exactly `require(file)` otherwise.
 */
export function requireWithCodeCache(file: string): unknown {
  const require = nodeModule.createRequire(file);
  const dir = ownCacheWanted() ? cacheFolder() : undefined;
  if (dir === undefined) return require(file);
  const st = statSync(file);
  const key = `${path.basename(file)}-${st.size}-${Math.round(st.mtimeMs)}-${process.version}-${process.arch}`;
  const cached = path.join(dir, `${key}.v8`);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cached);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(nodeModule.wrap(readFileSync(file, "utf8")), {
    filename: file,
    ...(cachedData !== undefined ? { cachedData } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} as unknown, filename: file, id: file, loaded: false };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, require, module, file, path.dirname(file));
  module.loaded = true;
  if (cachedData === undefined || script.cachedDataRejected === true) {
    // after running, so that the functions the start-up compiled are in it; another process may
    // be writing the same file: each writes its own and renames it over (a whole file either way)
    try {
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      renameSync(tmp, cached);
      // the code of an earlier build or Node of this file is of no more use
      const prefix = `${path.basename(file)}-`;
      for (const name of readdirSync(dir)) {
        if (name.startsWith(prefix) && name.endsWith(".v8") && name !== path.basename(cached)) {
          rmSync(path.join(dir, name), { force: true });
        }
      }
    } catch {
      // a cache that cannot be written is only slower
    }
  }
  return module.exports;
}
