// Flotilla as a user's project meets it: the real `npm pack` tarball installed into a temporary
// project (from the registry through the npm cache), then plain `node`, the user's own `tsc`
// (defaults + strict, node16 and bundler resolution), an esbuild bundle and `npx flotilla run` (a .js
// flow, a .ts flow, and a .ts flow of a "type": "commonjs" package). The install itself prints no
// EBADENGINE warning under Node 20 (npm does not apply our package.json's overrides to a package it
// installs, so our own pins must keep every dependency on Node 20 engines), and every package it
// installs declares engines that admit our lowest Node.
// The pack and the install happen once, in before(); their times are printed.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import semver from "semver";

const root = fileURLToPath(new URL("..", import.meta.url));
const TIMEOUT_MS = 10 * 60_000;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to its end (never a shell); the result, whatever the exit code. */
function exec(cmd: string, args: string[], cwd: string, timeoutMs = 5 * 60_000): Promise<Result> {
  // Without the test suite's `flotilla-source` condition: the user's processes run the package.
  const env = { ...process.env, NODE_OPTIONS: "", NO_COLOR: "1" };
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") {
        reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}\n${stderr}`));
        return;
      }
      resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
    });
  });
}

async function ok(cmd: string, args: string[], cwd: string, timeoutMs?: number): Promise<Result> {
  const r = await exec(cmd, args, cwd, timeoutMs);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

const versionOf = async (pkg: string) =>
  (
    JSON.parse(await readFile(path.join(root, "node_modules", pkg, "package.json"), "utf8")) as {
      version: string;
    }
  ).version;

const FLOW_JS = `import { Flow, task } from "flotilla";

const double = task("double", (x) => x * 2);
const total = task("total", (xs) => xs.reduce((a, b) => a + b, 0));

export const flow = Flow.build("consumer-js", ({ param }) => total(double.map(param("xs", [1, 2, 3]))));
`;

const FLOW_TS = `import { Flow, task } from "flotilla";

const greet = task("greet", (name: string): string => \`hello \${name}\`);

export const flow = Flow.build("consumer-ts", ({ param }) => greet(param("name", "ts")));
`;

/** Imports every entry point and uses a value and a type from each. */
const CHECK_TS = `import { Flow, task, type FlowRunState } from "flotilla";
import { ClusterExecutor, LocalCluster } from "flotilla/cluster";
import { KubeClusterEnvironment } from "flotilla/kubernetes";
import { KubeSim } from "flotilla/testing";

const add = task("add", (a: number, b: number) => a + b);
export const flow = Flow.build("check", ({ param }) => add(param("a", 1), 2));
export const executor = new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 1, maxWorkers: 2 }) });
export const environment = new KubeClusterEnvironment({ minWorkers: 1, maxWorkers: 3 });
export const start: typeof KubeSim.start = KubeSim.start;
export async function main(): Promise<string> {
  const state: FlowRunState = await flow.run();
  return state.type;
}
`;

/** Every package under `modules` (a node_modules folder, nested ones included): name, version, engines. */
async function installedPackages(
  modules: string,
): Promise<{ name: string; version: string; engines?: { node?: string } }[]> {
  const found: { name: string; version: string; engines?: { node?: string } }[] = [];
  const entries = await readdir(modules, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
    const folders = entry.name.startsWith("@")
      ? (await readdir(path.join(modules, entry.name), { withFileTypes: true }))
          .filter((e) => e.isDirectory())
          .map((e) => path.join(modules, entry.name, e.name))
      : [path.join(modules, entry.name)];
    for (const folder of folders) {
      const manifest = await readFile(path.join(folder, "package.json"), "utf8").catch(() => undefined);
      if (manifest !== undefined) found.push(JSON.parse(manifest) as (typeof found)[number]);
      found.push(...(await installedPackages(path.join(folder, "node_modules"))));
    }
  }
  return found;
}

let dir = "";
/** What `npm install` of the tarball printed. */
let installOutput = "";

describe("the packed package in a user's project", { timeout: TIMEOUT_MS }, () => {
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "flotilla-consumer-"));
    const t0 = performance.now();
    const packed = await ok("npm", ["pack", "--silent", "--pack-destination", dir], root, 5 * 60_000);
    const tarball = path.join(dir, packed.stdout.trim().split("\n").pop()!);
    const t1 = performance.now();
    const project = path.join(dir, "project");
    await mkdir(project);
    await writeFile(
      path.join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
    );
    const devDeps = [
      `typescript@${await versionOf("typescript")}`,
      `esbuild@${await versionOf("esbuild")}`,
      `@types/node@${await versionOf("@types/node")}`,
    ];
    // --loglevel warn whatever npm_config_loglevel the suite was started with: its warnings are asserted on
    const installed = await ok(
      "npm",
      [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--loglevel",
        "warn",
        tarball,
        ...devDeps,
      ],
      project,
      5 * 60_000,
    );
    installOutput = `${installed.stdout}${installed.stderr}`;
    const t2 = performance.now();
    console.log(`npm pack ${Math.round(t1 - t0)} ms, npm install ${Math.round(t2 - t1)} ms`);
    await writeFile(path.join(project, "flow.js"), FLOW_JS);
    await writeFile(path.join(project, "flow.ts"), FLOW_TS);
    await writeFile(path.join(project, "check.ts"), CHECK_TS);
    // a folder of the project whose package.json says CommonJS: its .ts files are CommonJS to Node
    await mkdir(path.join(project, "cjs"));
    await writeFile(path.join(project, "cjs", "package.json"), JSON.stringify({ type: "commonjs" }));
    await writeFile(path.join(project, "cjs", "flow.ts"), FLOW_TS);
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const project = () => path.join(dir, "project");

  it(`npm install of the tarball prints no EBADENGINE warning under Node ${process.versions.node}`, () => {
    assert.doesNotMatch(installOutput, /EBADENGINE|Unsupported engine/, installOutput);
  });

  it("every package the install brought declares engines that admit Flotilla's lowest Node", async () => {
    const ours = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as {
      engines: { node: string };
    };
    const lowest = semver.minVersion(ours.engines.node)!.version;
    const packages = await installedPackages(path.join(project(), "node_modules"));
    const refused = packages
      .filter((p) => p.engines?.node !== undefined && !semver.satisfies(lowest, p.engines.node))
      .map((p) => `${p.name}@${p.version} wants node ${p.engines!.node}`);
    console.log(`${packages.length} packages installed; lowest Node ${lowest}`);
    assert.deepEqual(refused, [], `packages that refuse Node ${lowest}:\n${refused.join("\n")}`);
  });

  it("plain node runs a .mjs script that imports flotilla and calls flow.run()", async () => {
    await writeFile(
      path.join(project(), "run.mjs"),
      `import { flow } from "./flow.js";
const state = await flow.run();
console.log(JSON.stringify({ type: state.type, total: state.taskRuns.total?.state.result }));
`,
    );
    const r = await ok(process.execPath, ["run.mjs"], project());
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()!), { type: "Success", total: 12 });
  });

  for (const [name, options] of [
    ["node16", { module: "node16", moduleResolution: "node16" }],
    ["bundler", { module: "esnext", moduleResolution: "bundler" }],
  ] as const) {
    it(`the user's tsc (defaults + strict, ${name}) type-checks all four entry points with no error`, async () => {
      const tsconfig = `tsconfig.${name}.json`;
      await writeFile(
        path.join(project(), tsconfig),
        JSON.stringify({
          compilerOptions: { strict: true, noEmit: true, types: ["node"], ...options },
          files: ["check.ts"],
        }),
      );
      const r = await exec(process.execPath, ["node_modules/typescript/bin/tsc", "-p", tsconfig], project());
      assert.equal(r.code, 0, `tsc reported errors:\n${r.stdout}${r.stderr}`);
    });
  }

  it("an esbuild bundle of a flow runs", async () => {
    await writeFile(
      path.join(project(), "bundled.mjs"),
      `import { flow } from "./flow.js";
const state = await flow.run({ parameters: { xs: [5, 5] } });
console.log(JSON.stringify({ type: state.type, total: state.taskRuns.total?.state.result }));
`,
    );
    await ok(
      process.execPath,
      [
        "node_modules/esbuild/bin/esbuild",
        "bundled.mjs",
        "--bundle",
        "--platform=node",
        "--format=esm",
        "--outfile=out/bundle.mjs",
        // CommonJS dependencies call require(): give the ESM bundle one, as esbuild's docs do.
        "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        "--log-level=warning",
      ],
      project(),
    );
    const r = await ok(process.execPath, ["out/bundle.mjs"], project());
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()!), { type: "Success", total: 20 });
  });

  for (const file of ["flow.js", "flow.ts", "cjs/flow.ts"]) {
    it(`npx flotilla run ${file} works from the installed package`, async () => {
      const r = await ok("npx", ["--no-install", "flotilla", "run", file, "--output", "json"], project());
      const doc = JSON.parse(r.stdout) as { state?: string; type?: string };
      assert.equal(doc.state ?? doc.type, "Success", r.stdout);
    });
  }

  it("npx flotilla run --workers 1:2 runs the flow on worker processes of the installed package", async () => {
    // the package's prebundled BullMQ and ioredis, which runner and workers require (queue-library.ts)
    const vendored = path.join(project(), "node_modules", "flotilla", "dist", "vendor", "queue.cjs");
    await readFile(vendored).catch(() => assert.fail(`the tarball has no ${vendored}`));
    const r = await ok(
      "npx",
      ["--no-install", "flotilla", "run", "flow.js", "--workers", "1:2", "--output", "json"],
      project(),
    );
    const doc = JSON.parse(r.stdout) as { state: string };
    assert.equal(doc.state, "Success", r.stdout);
  });
});
