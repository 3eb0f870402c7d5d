// The code cache of the prebundled queue library (src/cluster/code-cache.ts): a file required
// through it gives its exports whether its cached code is missing, good, stale or garbage, and the
// cache is kept only in a folder no one else may write. Each require is a process of its own, as
// in use (in one process, V8's in-memory cache would answer a second compile of the same source).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import nodeModule from "node:module";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const moduleUrl = pathToFileURL(path.join(import.meta.dirname, "../src/cluster/code-cache.ts")).href;
// Node 22.1+ keeps compiled code itself (module.enableCompileCache): the function is a plain require
const nodeCachesItself =
  typeof (nodeModule as { enableCompileCache?: unknown }).enableCompileCache === "function";

describe("requireWithCodeCache", {
  timeout: 180_000,
  skip: nodeCachesItself || process.getuid === undefined,
}, () => {
  let dir: string;
  const folder = () => path.join(dir, `flotilla-code-cache-${process.getuid!()}`);
  const cacheFiles = async (file: string) =>
    (await readdir(folder()).catch(() => [] as string[])).filter(
      (n) => n.startsWith(`${path.basename(file)}-`) && n.endsWith(".v8"),
    );
  let seq = 0;
  const library = async (value: number) => {
    const file = path.join(dir, `lib-${++seq}.cjs`);
    await writeFile(
      file,
      `const path = require("node:path");\nmodule.exports = { value: ${value}, sep: path.sep, self: __filename };\n`,
    );
    return file;
  };
  /** requireWithCodeCache(file) in a new process whose OS temp directory is `dir`: its exports. */
  const requireInChild = async (file: string, env: NodeJS.ProcessEnv = {}): Promise<unknown> => {
    const script = `const { requireWithCodeCache } = await import(${JSON.stringify(moduleUrl)});
console.log(JSON.stringify(requireWithCodeCache(process.argv[1])));`;
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script, file],
      {
        env: { ...process.env, TMPDIR: dir, ...env },
        timeout: 60_000,
      },
    );
    return JSON.parse(stdout.trim().split("\n").pop()!);
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "flotilla-code-cache-test-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("gives the file's exports, and keeps its compiled code for the next process", async () => {
    const file = await library(1);
    assert.deepEqual(await requireInChild(file), { value: 1, sep: path.sep, self: file });
    assert.equal((await cacheFiles(file)).length, 1, `a cache file in ${folder()}`);
    assert.equal((await stat(folder())).mode & 0o077, 0, "the folder is the user's alone");
    assert.deepEqual(await requireInChild(file), { value: 1, sep: path.sep, self: file });
  });

  it("compiles afresh over garbage in the cache, and over the code of an earlier version of the file", async () => {
    const file = await library(2);
    await requireInChild(file);
    const cached = path.join(folder(), (await cacheFiles(file))[0]!);
    await writeFile(cached, "not V8 code");
    assert.deepEqual(await requireInChild(file), { value: 2, sep: path.sep, self: file });
    assert.notEqual(await readFile(cached, "utf8").catch(() => ""), "not V8 code", "the garbage is replaced");
    // a rebuilt file (new content and mtime): its code is compiled and kept, the old entry goes
    await writeFile(file, "module.exports = { value: 3 };\n");
    const later = new Date(Date.now() + 5000);
    await utimes(file, later, later);
    assert.deepEqual(await requireInChild(file), { value: 3 });
    const left = await cacheFiles(file);
    assert.equal(left.length, 1);
    assert.notEqual(path.join(folder(), left[0]!), cached);
  });

  it("keeps nothing in a folder others may write", async () => {
    await chmod(folder(), 0o777);
    try {
      const file = await library(4);
      assert.deepEqual(await requireInChild(file), { value: 4, sep: path.sep, self: file });
      assert.equal((await cacheFiles(file)).length, 0);
    } finally {
      await chmod(folder(), 0o700);
    }
  });

  it("is a plain require with NODE_DISABLE_COMPILE_CACHE=1", async () => {
    const file = await library(5);
    assert.deepEqual(await requireInChild(file, { NODE_DISABLE_COMPILE_CACHE: "1" }), {
      value: 5,
      sep: path.sep,
      self: file,
    });
    assert.equal((await cacheFiles(file)).length, 0);
  });
});
