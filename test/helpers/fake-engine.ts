// Stand-in container engines for tests: executables named docker, podman and buildah in a temp
// directory, to put on PATH. Each call appends {engine, args, stdin} as a JSON line to a log file
// and behaves as the FAKE_ENGINE_* variables say (fail a subcommand, have no daemon), printing
// what the real engine would print in that case. They are real processes started by the real
// spawner; nothing in the code under test is replaced.

import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export interface EngineCall {
  engine: string;
  args: string[];
  /** What the engine read on stdin ("" when stdin was /dev/null). */
  stdin: string;
}

export interface FakeEngines {
  /** The directory holding the stand-ins: use it as PATH. */
  dir: string;
  /** The calls so far, in order. */
  calls(): Promise<EngineCall[]>;
  /** An env for the code under test: PATH is the stand-ins only, plus `extra`. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  remove(): Promise<void>;
}

const SCRIPT = `
const fs = require("node:fs");
const path = require("node:path");
const engine = path.basename(process.argv[1]);
const args = process.argv.slice(2);
let stdin = "";
try { stdin = fs.readFileSync(0, "utf8"); } catch {}
fs.appendFileSync(process.env.FAKE_ENGINE_LOG, JSON.stringify({ engine, args, stdin }) + "\\n");
// The subcommand: the first argument that is not a global option (docker --config DIR push ...).
let i = 0;
while (args[i] === "--config") i += 2;
const sub = args[i];
const fail = (process.env.FAKE_ENGINE_FAIL || "").split(",");
if (process.env.FAKE_ENGINE_NO_DAEMON === engine) {
  console.error("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?");
  process.exit(1);
}
if (sub === "build") {
  console.log("#1 [internal] load build definition from Dockerfile");
  console.log("#2 [1/9] FROM docker.io/library/node:26-trixie-slim");
  if (fail.includes("build")) {
    console.error("#9 ERROR: process \\"npm ci --omit=dev\\" did not complete successfully: exit code: 1");
    console.error("npm error code EUSAGE");
    process.exit(1);
  }
  console.log("#12 naming to " + args[args.indexOf("--tag") + 1] + " done");
  process.exit(0);
}
if (sub === "login" && fail.includes("login")) {
  console.error("Error response from daemon: Get \\"https://gcr.io/v2/\\": unauthorized: incorrect username or password");
  process.exit(1);
}
if (sub === "push" && fail.includes("push")) {
  console.error("denied: requested access to the resource is denied");
  process.exit(1);
}
if (sub === "login") console.log("Login Succeeded");
if (sub === "push") console.log("0.1.0: digest: sha256:" + "ab".repeat(32) + " size: 1234");
process.exit(0);
`;

/** Create stand-ins for `engines` (default all three). */
export async function createFakeEngines(
  engines: string[] = ["docker", "podman", "buildah"],
): Promise<FakeEngines> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "flotilla-fake-engine-"));
  const log = path.join(dir, "calls.jsonl");
  await writeFile(log, "");
  for (const name of engines) {
    const file = path.join(dir, name);
    await writeFile(file, `#!${process.execPath}\n${SCRIPT}`);
    await chmod(file, 0o755);
  }
  return {
    dir,
    async calls() {
      const text = await readFile(log, "utf8");
      return text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as EngineCall);
    },
    env(extra = {}) {
      return { PATH: dir, FAKE_ENGINE_LOG: log, HOME: os.tmpdir(), ...extra };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
