#!/usr/bin/env node
// `npm test`: make sure the system programs the suite needs are here (installing them with apt-get
// when running as root on Debian, else stopping before any test with one line saying what to
// install), export where they are (FLOTILLA_TEST_*), rebuild dist/ if src/ changed since it was
// built, then run node's test runner over test/*.test.ts: the test files from source, the processes
// they start (the bin, runners, workers, pods) from dist/. Arguments are passed on:
// `npm test -- test/cli.test.ts` runs one file, `npm test -- --test-name-pattern=x` adds a flag.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, utimesSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { findSystemPackages, which } from "./system-packages.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Print one line and exit before any test runs. */
function stop(line) {
  process.stderr.write(`npm test: ${line}\n`);
  process.exit(1);
}

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  stop(`Node.js ${process.versions.node} is too old: install Node.js 20.19 or newer`);
}

/** Run a command with inherited output; true when it exits 0. */
function run(cmd, args, env = process.env) {
  return spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env }).status === 0;
}

/**
 * Stop a service the Debian package started on install: the tests start their own servers on
 * random ports, and a packaged one would only take memory (and port 5432/6379).
 */
function stopService(name) {
  if (existsSync("/run/systemd/system") && which("systemctl")) {
    spawnSync("systemctl", ["stop", name], { stdio: "ignore" });
  } else if (which("service")) {
    spawnSync("service", [name, "stop"], { stdio: "ignore" });
  }
}

let { found, missing } = findSystemPackages();
if (missing.length > 0) {
  const packages = [...new Set(missing.map((r) => r.debian))];
  const command = `apt-get install -y ${packages.join(" ")}`;
  const wrongEnv = missing.filter((r) => process.env[r.env]);
  if (wrongEnv.length > 0) {
    stop(wrongEnv.map((r) => `${r.env}=${process.env[r.env]} is not ${r.what}`).join("; "));
  }
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (!isRoot || !which("apt-get")) {
    stop(`missing ${missing.map((r) => r.what).join(", ")}: install them with \`${command}\` (as root)`);
  }
  process.stderr.write(`npm test: installing ${packages.join(" ")} (apt-get) for the test suite\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!run("apt-get", ["update", "-qq"], env)) stop(`\`apt-get update\` failed; then run \`${command}\``);
  if (!run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], env)) {
    stop(`\`${command}\` failed (see above)`);
  }
  for (const r of missing) if (r.service) stopService(r.service);
  ({ found, missing } = findSystemPackages());
  if (missing.length > 0) {
    stop(`still missing after apt-get: ${missing.map((r) => r.what).join(", ")}: install ${command}`);
  }
}

// Files to test: the arguments that name files, else every test/*.test.ts; other arguments are flags
// for node's test runner. The runner starts the files in name order, whatever order they are given
// in (it sorts them), two at a time. That is not worth changing: with each file's time in the last
// CI run, longest-first would end the suite about 1 s sooner than name order on two slots (many
// short files fill in around the long ones).
const args = process.argv.slice(2);
const fileArgs = args.filter((a) => !a.startsWith("-") && existsSync(path.resolve(root, a)));
const flags = args.filter((a) => !fileArgs.includes(a));
const files =
  fileArgs.length > 0
    ? fileArgs
    : readdirSync(path.join(root, "test"))
        .filter((f) => f.endsWith(".test.ts"))
        .map((f) => path.join("test", f));

// dist/ as the processes a test starts will run it: rebuilt (what `npm ci` runs: tsc, incremental,
// and the prebundled dependencies) when a file it is built from is newer than the last build
// (dist/.tsbuildinfo, touched after each build), so no test meets a stale dist/. A fresh `npm ci`
// has just built it: nothing is done.
const BUILT_FROM = [
  "src",
  "tsconfig.json",
  "tsconfig.build.json",
  "scripts/prepare.mjs",
  "scripts/bundle-vendor.mjs",
  "scripts/bundle-client-node.mjs",
];
const stamp = path.join(root, "dist/.tsbuildinfo");

/** The first file under `rel` (a file or a directory) modified after `since` (ms), or undefined. */
function newerThan(rel, since) {
  const p = path.join(root, rel);
  const st = statSync(p, { throwIfNoEntry: false });
  if (!st) return undefined;
  if (!st.isDirectory()) return st.mtimeMs > since ? rel : undefined;
  for (const e of readdirSync(p)) {
    const hit = newerThan(path.join(rel, e), since);
    if (hit) return hit;
  }
  return undefined;
}

const built = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs;
const changed =
  built === undefined ? "dist/ is not built" : BUILT_FROM.map((f) => newerThan(f, built)).find(Boolean);
if (changed) {
  process.stderr.write(
    `npm test: ${built === undefined ? changed : `${changed} changed since dist/ was built`}: building dist/ (scripts/prepare.mjs)\n`,
  );
  const r = spawnSync(process.execPath, [path.join(root, "scripts/prepare.mjs")], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  // tsc's status 2: type errors, and every file emitted anyway; the tests still run (lint reports them)
  if (r.status !== 0 && r.status !== 2)
    stop("building dist/ failed (see above): fix it, then `npm run build`");
  if (!existsSync(stamp)) stop("building dist/ wrote no dist/.tsbuildinfo: run `npm run build`");
  const now = new Date();
  utimesSync(stamp, now, now);
}

// Test files run Flotilla from source: `--conditions=flotilla-source` is given to the runner, which
// passes its own flags to each test file's process, so `import "flotilla"` there is src/ (and one copy
// with the tests' `../src/` imports). It is not in NODE_OPTIONS: the processes a test starts (the bin,
// runners, workers, kube-sim's pods) inherit none of it and run dist/, as a user's do, without tsx's
// hooks on Flotilla itself (2.5 times less CPU for a `flotilla` command).
const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "--conditions=flotilla-source",
    "--test",
    "--test-concurrency=2",
    // A test file whose tests are over must end even if a handle (an ioredis client retrying a
    // dead broker after a timed-out test) is still open: without this the whole run hangs.
    "--test-force-exit",
    // The last bound on one test file as a whole (node applies it to each file's process), so a
    // hang ends as a failure; files set tighter bounds on their own tests. kube-e2e takes ~100 s
    // on an idle 2-core machine and over 300 s on one loaded twelve times over.
    "--test-timeout=600000",
    ...flags,
    ...files,
  ],
  // A process group of its own: the runner, each test file's process and what those start (but for
  // the groups they make themselves, LocalCluster's workers and kube-sim's pods, which end with
  // their parent). Stdin is not the terminal's: a background group reading it would be stopped.
  { cwd: root, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...found }, detached: true },
);

// A SIGINT or SIGTERM to `npm test` goes to that whole group: given to the runner alone, it ended the
// runner and left the running file's process, its `flotilla run`, executor and workers running on.
// What is still in the group STOP_GRACE_MS later is SIGKILLed (at once on a second signal). npm
// passes a SIGTERM to the shell it runs this script in, which dies of it without passing it on: this
// process then has a new parent, and that is taken as the SIGTERM.
const STOP_GRACE_MS = 10_000;
/** Signal the runner's group; false once nothing is left in it. */
function signalGroup(signal) {
  try {
    process.kill(-child.pid, signal);
    return true;
  } catch {
    return false;
  }
}
let stopping = false;
function stopAll(signal, status) {
  if (stopping) {
    signalGroup("SIGKILL");
    return;
  }
  stopping = true;
  signalGroup(signal);
  const killAt = Date.now() + STOP_GRACE_MS;
  const poll = setInterval(() => {
    if (!signalGroup(0) || Date.now() > killAt + 2_000) {
      clearInterval(poll);
      process.exit(status);
    }
    if (Date.now() > killAt) signalGroup("SIGKILL");
  }, 100);
}
process.on("SIGINT", () => stopAll("SIGINT", 130));
process.on("SIGTERM", () => stopAll("SIGTERM", 143));
const parent = process.ppid;
setInterval(() => {
  if (!stopping && process.ppid !== parent) stopAll("SIGTERM", 143);
}, 500).unref();
child.on("exit", (code, signal) => {
  if (!stopping) process.exitCode = code ?? (signal ? 1 : 0);
});
