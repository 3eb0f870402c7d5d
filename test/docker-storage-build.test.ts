// `flotilla build [--push]` against stand-in engines on PATH (real processes that record their
// calls): the command lines, the password travelling on stdin only, and one clear message per
// failure (no engine, engine not running, build failed, login failed, push failed, missing
// registry secret, no DockerStorage). Also the real docker CLI of this machine, which has no daemon.

import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "../src/cli/commands/build.ts";
import { FlotillaError } from "../src/core/errors.ts";
import { detectEngine, findOnPath, ImageBuildError, spawnProcess } from "../src/storage/docker-engine.ts";
import { createFakeEngines, type FakeEngines } from "./helpers/fake-engine.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PASSWORD = "pUsh-pa55word-never-on-argv";
const CREDS = JSON.stringify({
  "docker-server": "gcr.io",
  "docker-username": "_json_key",
  "docker-password": PASSWORD,
  "docker-email": "ci@example.test",
});

let tmp: string;
let flowFile: string;
let engines: FakeEngines;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "flotilla-build-"));
  const project = path.join(tmp, "seed");
  await cp(path.join(ROOT, "test/fixtures/storage-seed"), project, { recursive: true });
  await mkdir(path.join(project, "node_modules"));
  await symlink(ROOT, path.join(project, "node_modules/flotilla"));
  flowFile = path.join(project, "flow.ts");
  engines = await createFakeEngines();
});
after(async () => {
  await engines.remove();
  await rm(tmp, { recursive: true, force: true });
});

/** `flotilla build` on the seed flow with stand-in engines; returns the result or the error. */
async function buildSeed(options: {
  env: NodeJS.ProcessEnv;
  push?: boolean;
  engine?: string;
  login?: boolean;
}) {
  const lines: string[] = [];
  const result = await build({
    flowFile,
    push: options.push ?? false,
    env: options.env,
    ...(options.engine === undefined ? {} : { engine: options.engine }),
    ...(options.login === undefined ? {} : { login: options.login }),
    onProgress: (e) => lines.push(e.kind === "step" ? e.message : `| ${e.line}`),
  }).catch((error: unknown) => error);
  return { result, lines };
}

function failure(value: unknown, reason?: string): FlotillaError {
  assert.ok(value instanceof FlotillaError, `expected a FlotillaError, got ${String(value)}`);
  if (reason !== undefined) {
    assert.ok(value instanceof ImageBuildError, value.message);
    assert.equal(value.reason, reason);
  }
  assert.ok(!value.message.includes(PASSWORD) && !(value.hint ?? "").includes(PASSWORD), value.message);
  return value;
}

describe("flotilla build with a stand-in engine", () => {
  test("build + login + push: the command lines, and the password only on stdin", async () => {
    const before = (await engines.calls()).length;
    const env = engines.env({ FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS: CREDS });
    const { result, lines } = await buildSeed({ env, push: true });
    assert.ok(!(result instanceof Error), String(result));
    const calls = (await engines.calls()).slice(before);
    assert.deepEqual(
      calls.map((c) => [c.engine, c.args.find((a) => ["info", "build", "login", "push"].includes(a))]),
      [
        ["docker", "info"],
        ["docker", "build"],
        ["docker", "login"],
        ["docker", "push"],
      ],
    );
    const [, buildCall, login, push] = calls;
    assert.equal(buildCall!.args.at(-1)?.startsWith(os.tmpdir()), true);
    assert.deepEqual(
      buildCall!.args.slice(0, 5).filter((a) => !a.endsWith("Dockerfile")),
      ["build", "--file", "--tag", "gcr.io/dev/dask-k8s-flow:0.1.0"],
    );
    assert.equal(buildCall!.stdin, "");
    assert.deepEqual(login!.args.slice(2), [
      "login",
      "--username",
      "_json_key",
      "--password-stdin",
      "gcr.io",
    ]);
    assert.equal(login!.args[0], "--config", "a throw-away docker config dir");
    assert.equal(login!.stdin, PASSWORD);
    assert.deepEqual(push!.args.slice(2), ["push", "gcr.io/dev/dask-k8s-flow:0.1.0"]);
    assert.equal(push!.args[1], login!.args[1], "push uses the login's config dir");
    for (const c of calls) assert.ok(!c.args.join(" ").includes(PASSWORD), "the password is never on argv");
    assert.ok(!lines.join("\n").includes(PASSWORD));
    assert.ok(
      lines.some((l) => l.startsWith("| #2 [1/9] FROM")),
      "engine output is streamed",
    );
    assert.ok(
      lines.some((l) => /^built gcr.io\/dev\/dask-k8s-flow:0.1.0 in \d+\.\d s$/.test(l)),
      lines.join("\n"),
    );
    const leftovers = (await readdir(os.tmpdir())).filter(
      (n) => n.startsWith("flotilla-auth-") && n.includes(login!.args[1]!.slice(-6)),
    );
    assert.deepEqual(leftovers, [], "the auth dir is removed");
  });

  test("podman and buildah keep credentials in a throw-away --authfile", async () => {
    for (const engine of ["podman", "buildah"]) {
      const before = (await engines.calls()).length;
      const env = engines.env({ FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS: CREDS });
      const { result } = await buildSeed({ env, push: true, engine });
      assert.ok(!(result instanceof Error), String(result));
      const calls = (await engines.calls()).slice(before);
      assert.ok(calls.every((c) => c.engine === engine));
      const login = calls.find((c) => c.args[0] === "login")!;
      assert.equal(login.args[1], "--authfile");
      assert.equal(login.stdin, PASSWORD);
      assert.deepEqual(calls.find((c) => c.args[0] === "push")!.args.slice(0, 2), ["push", "--authfile"]);
      if (engine === "buildah")
        assert.ok(calls.find((c) => c.args[0] === "build")!.args.includes("--layers"));
    }
  });

  test("no engine installed: one message naming all three", async () => {
    const { result } = await buildSeed({ env: { PATH: path.join(tmp, "empty") } });
    const e = failure(result, "engine-missing");
    assert.match(
      e.message,
      /no usable container engine: docker: not installed \(not on PATH\); podman: not installed .*; buildah: not installed/,
    );
    assert.match(e.hint ?? "", /install docker, podman or buildah/);
  });

  test("docker installed, daemon not running: says so, and falls through to podman", async () => {
    const only = await createFakeEngines(["docker"]);
    try {
      const { result } = await buildSeed({ env: only.env({ FAKE_ENGINE_NO_DAEMON: "docker" }) });
      const e = failure(result, "engine-not-running");
      assert.match(
        e.message,
        /docker: installed, but its daemon is not running \(docker info: Cannot connect to the Docker daemon/,
      );
      assert.match(e.hint ?? "", /start the daemon/);
    } finally {
      await only.remove();
    }
    const { result } = await buildSeed({ env: engines.env({ FAKE_ENGINE_NO_DAEMON: "docker" }) });
    assert.ok(!(result instanceof Error), String(result));
    assert.equal((result as { engine: string }).engine, "podman");
  });

  test("build failed: the engine's last lines, and the kept context", async () => {
    const { result } = await buildSeed({ env: engines.env({ FAKE_ENGINE_FAIL: "build" }) });
    const e = failure(result, "build-failed");
    assert.match(
      e.message,
      /^docker build of gcr.io\/dev\/dask-k8s-flow:0.1.0 failed \(exit code 1\); last lines:\n/,
    );
    assert.match(e.message, /\| npm error code EUSAGE/);
    const kept = /kept in (\S+);/.exec(e.hint ?? "")?.[1];
    assert.ok(kept !== undefined, e.hint);
    assert.ok((await readdir(kept)).includes("Dockerfile"));
    await rm(kept, { recursive: true, force: true });
  });

  test("login failed: names the server and the secret, never the password", async () => {
    const env = engines.env({
      FAKE_ENGINE_FAIL: "login",
      FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS: CREDS,
    });
    const before = (await engines.calls()).length;
    const e = failure((await buildSeed({ env, push: true })).result, "login-failed");
    assert.match(e.message, /docker login to gcr.io failed \(exit code 1\); last lines:\n .*unauthorized/);
    assert.match(e.hint ?? "", /secret "DOCKER_REGISTRY_CREDENTIALS"/);
    assert.ok(
      !(await engines.calls()).slice(before).some((c) => c.args.includes("push")),
      "no push after a failed login",
    );
  });

  test("push failed: the engine's reason", async () => {
    const env = engines.env({ FAKE_ENGINE_FAIL: "push", FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS: CREDS });
    const e = failure((await buildSeed({ env, push: true })).result, "push-failed");
    assert.match(
      e.message,
      /docker push of gcr.io\/dev\/dask-k8s-flow:0.1.0 failed \(exit code 1\); last lines:\n {2}\| denied/,
    );
  });

  test("missing registry secret: fails before building, naming where it looked", async () => {
    const before = (await engines.calls()).length;
    const e = failure(
      (
        await buildSeed({
          env: engines.env({ FLOTILLA_SECRETS_FILE: path.join(tmp, "none.json") }),
          push: true,
        })
      ).result,
    );
    assert.equal(e.code, "FLOTILLA_SECRET_MISSING");
    assert.match(
      e.message,
      /--push: secret "DOCKER_REGISTRY_CREDENTIALS" not found; looked in: environment variable FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS/,
    );
    assert.match(e.hint ?? "", /--no-login/);
    assert.equal((await engines.calls()).length, before, "no engine was called");
    const noLogin = await buildSeed({ env: engines.env(), push: true, login: false });
    assert.ok(!(noLogin.result instanceof Error), String(noLogin.result));
  });

  test("malformed registry secret: names the missing keys, not the value", async () => {
    const env = engines.env({
      FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS: JSON.stringify({
        "docker-server": "gcr.io",
        "docker-password": PASSWORD,
      }),
    });
    const e = failure((await buildSeed({ env, push: true })).result);
    assert.equal(e.code, "FLOTILLA_SECRET_INVALID");
    assert.match(
      e.message,
      /secret "DOCKER_REGISTRY_CREDENTIALS" is not registry credentials: docker-username missing/,
    );
  });

  test("a flow without DockerStorage: says how to add one", async () => {
    const noStorage = path.join(tmp, "seed", "plain.ts");
    await cp(flowFile, noStorage);
    const src = await readFile(noStorage, "utf8");
    await writeFile(noStorage, src.replace(/storage: new DockerStorage\([^)]*\),/, ""));
    const plain = failure(await build({ flowFile: noStorage, env: engines.env() }).catch((x: unknown) => x));
    assert.equal(plain.code, "FLOTILLA_STORAGE");
    assert.match(
      plain.message,
      /flow "Custom Worker Spec Dask Kubernetes Example" has no storage; flotilla build needs a DockerStorage/,
    );
    assert.match(plain.hint ?? "", /storage: new DockerStorage\(/);
  });

  test("--dry-run runs no engine and shows the Dockerfile and the commands", async () => {
    const before = (await engines.calls()).length;
    const env = engines.env({ FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS: CREDS });
    const result = await build({ flowFile, env, push: true, dryRun: true });
    assert.equal((await engines.calls()).length, before);
    assert.equal(result.dryRun, true);
    assert.match(result.dockerfile, /^FROM node:26-trixie-slim$/m);
    assert.deepEqual(
      result.commands.map((c) => c.slice(0, 2)),
      [
        ["docker", "build"],
        ["docker", "--config"],
        ["docker", "--config"],
      ],
    );
    assert.ok(!JSON.stringify(result).includes(PASSWORD));
  });
});

describe("the real docker CLI of this machine", () => {
  test("with no daemon, detection says the daemon is not running", async (t) => {
    const docker = await findOnPath("docker", process.env);
    if (docker === undefined) return t.skip("no docker CLI on PATH");
    const probe = await spawnProcess(docker, ["info", "--format", "{{.ServerVersion}}"], {
      env: process.env,
      timeoutMs: 20_000,
    });
    if (probe.exitCode === 0) return t.skip("a Docker daemon is running here");
    await assert.rejects(detectEngine({ engine: "docker", env: process.env, run: spawnProcess }), (e) => {
      assert.ok(e instanceof ImageBuildError);
      assert.equal(e.reason, "engine-not-running");
      assert.match(
        e.message,
        /container engine docker is not usable: docker: installed, but its daemon is not running/,
      );
      return true;
    });
  });
});
