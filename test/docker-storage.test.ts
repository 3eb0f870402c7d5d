// DockerStorage: option checks by the OCI reference grammar, the image reference, the default tag,
// the build context (golden files for the seed's custom-worker example; UPDATE_GOLDEN=1 rewrites
// them), and the build-time health check run as a real CLI process.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { FlotillaError } from "../src/core/errors.ts";
import { flowFingerprint } from "../src/core/fingerprint.ts";
import type { Flow } from "../src/core/flow.ts";
import { registerSecret } from "../src/secrets/redact.ts";
import { compileDockerStorageOptions, DockerStorage } from "../src/storage/docker.ts";
import { buildFlowImage } from "../src/storage/docker-build.ts";
import { CONTEXT_MTIME_S, planBuildContext, writeBuildContext } from "../src/storage/docker-context.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const GOLDEN = path.join(ROOT, "test/golden/docker/custom-worker");
const SEED = path.join(ROOT, "test/fixtures/storage-seed");

let tmp: string;
let project: string;
let seedFlow: Flow;

/** A copy of a fixture project with node_modules/flotilla linked to this repo, as `npm install` would. */
async function projectFrom(fixture: string, name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(fixture, dir, { recursive: true });
  await mkdir(path.join(dir, "node_modules"), { recursive: true });
  await symlink(ROOT, path.join(dir, "node_modules/flotilla"));
  return dir;
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "flotilla-docker-"));
  project = await projectFrom(SEED, "seed");
  // What must never reach the image: a .git directory and installed dependencies.
  await mkdir(path.join(project, ".git"), { recursive: true });
  await writeFile(path.join(project, ".git/HEAD"), "ref: refs/heads/main\n");
  seedFlow = selectFlow(await loadFlowModule(path.join(project, "flow.ts")));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function optionsError(fn: () => unknown): FlotillaError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FlotillaError, String(e));
    assert.equal(e.code, "FLOTILLA_OPTIONS_INVALID");
    return e;
  }
  assert.fail("expected FLOTILLA_OPTIONS_INVALID");
}

describe("DockerStorage options", () => {
  test("imageRef joins registry, name and tag, dropping the seed's trailing slash", () => {
    const s = new DockerStorage({
      registryUrl: "gcr.io/dev/",
      imageName: "dask-k8s-flow",
      imageTag: "0.1.0",
    });
    assert.equal(s.kind, "docker");
    assert.equal(s.imageRef(), "gcr.io/dev/dask-k8s-flow:0.1.0");
    assert.equal(s.registryHost, "gcr.io");
    const local = new DockerStorage({ registryUrl: "localhost:5000", imageName: "team/etl", imageTag: "v1" });
    assert.equal(local.imageRef(), "localhost:5000/team/etl:v1");
    assert.equal(new DockerStorage({ imageName: "etl", imageTag: "dev" }).imageRef(), "etl:dev");
    assert.equal(
      new DockerStorage({ registryUrl: "myuser", imageName: "etl", imageTag: "1" }).registryHost,
      undefined,
    );
  });

  test("bad names, tags and paths are refused with the field and the fix", () => {
    assert.match(
      optionsError(() => new DockerStorage({ imageName: "Dask-Flow", imageTag: "1" })).message,
      /imageName: "Dask-Flow" must be lowercase \(try "dask-flow"\)/,
    );
    assert.match(
      optionsError(() => new DockerStorage({ imageName: "x", imageTag: "-bad" })).message,
      /imageTag: "-bad" must start with a letter, digit or '_'/,
    );
    assert.match(
      optionsError(
        () => new DockerStorage({ registryUrl: "https://gcr.io/dev", imageName: "x", imageTag: "1" }),
      ).message,
      /registryUrl: .* must not include a scheme/,
    );
    assert.match(
      optionsError(() => new DockerStorage({ imageName: "x:1", imageTag: "1" })).message,
      /must not contain a tag or digest; use imageTag/,
    );
    assert.match(
      optionsError(() => new DockerStorage({ imageName: "x", imageTag: "1", baseImage: "node:" })).message,
      /baseImage/,
    );
    const many = optionsError(
      () =>
        new DockerStorage({
          imageName: "x",
          imageTag: "1",
          files: { "conf.yaml": "etc/conf.yaml" },
          env: { FLOTILLA_FLOW: "x", "1BAD": "y" },
          extraPackages: ["git", "Not A Package"],
        }),
    ).message;
    assert.match(many, /files\["conf.yaml"\]: image path "etc\/conf.yaml" must be absolute/);
    assert.match(many, /env.FLOTILLA_FLOW: FLOTILLA_\* variables are set by Flotilla itself/);
    assert.match(many, /env\["1BAD"\]: is not a valid variable name/);
    assert.match(many, /extraPackages: "Not A Package" is not a Debian package name/);
    assert.match(
      optionsError(() => new DockerStorage({ imageName: "x", imageTag: "1", imageTga: "2" } as never))
        .message,
      /imageTga/,
    );
  });

  test("without imageTag, the tag is src-<hash of the flow module>, the flow's moduleVersion", async () => {
    const dir = await projectFrom(SEED, "default-tag");
    const file = path.join(dir, "flow.ts");
    const source = (await readFile(file, "utf8")).replace(', imageTag: "0.1.0"', "");
    await writeFile(file, source);
    const flow = selectFlow(await loadFlowModule(file));
    assert.equal(flow.storage?.imageRef?.(), `gcr.io/dev/dask-k8s-flow:src-${flow.moduleVersion}`);
  });
});

describe("build context", () => {
  test("the seed's custom-worker example gives the golden Dockerfile and file list", async () => {
    const ctx = path.join(tmp, "ctx-golden");
    const plan = await planBuildContext(
      { name: seedFlow.name, file: path.join(project, "flow.ts"), fingerprint: flowFingerprint(seedFlow) },
      compileDockerStorageOptions({
        registryUrl: "gcr.io/dev/",
        imageName: "dask-k8s-flow",
        imageTag: "0.1.0",
      }),
    );
    const written = await writeBuildContext(plan, ctx);
    if (process.env.UPDATE_GOLDEN === "1") {
      await mkdir(GOLDEN, { recursive: true });
      await writeFile(path.join(GOLDEN, "Dockerfile"), plan.dockerfile);
      await writeFile(path.join(GOLDEN, "files.txt"), written.listing);
    }
    assert.equal(
      plan.dockerfile,
      await readFile(path.join(GOLDEN, "Dockerfile"), "utf8"),
      "UPDATE_GOLDEN=1 rewrites",
    );
    assert.equal(
      written.listing,
      await readFile(path.join(GOLDEN, "files.txt"), "utf8"),
      "UPDATE_GOLDEN=1 rewrites",
    );
    // What the golden files say, spelled out.
    assert.deepEqual(plan.projectFiles, [
      ".dockerignore",
      "flow.ts",
      "package-lock.json",
      "package.json",
      "worker_spec.yaml",
    ]);
    assert.match(plan.dockerfile, /^FROM node:26-trixie-slim$/m);
    assert.match(plan.dockerfile, /^RUN npm ci --omit=dev/m);
    assert.match(plan.dockerfile, /^USER 10001:10001$/m);
    assert.match(
      plan.dockerfile,
      /^ENTRYPOINT \["node","\/app\/node_modules\/flotilla\/bin\/flotilla.js"\]$/m,
    );
    assert.ok(
      plan.dockerfile.includes(
        `RUN ["node","/app/node_modules/flotilla/bin/flotilla.js","healthcheck","flow.ts","--flow","Custom Worker Spec Dask Kubernetes Example","--expect-fingerprint","${flowFingerprint(seedFlow)}"]`,
      ),
    );
    assert.match(plan.dockerfile, new RegExp(`io.flotilla.fingerprint="${flowFingerprint(seedFlow)}"`));
    assert.equal((await stat(path.join(ctx, "project/flow.ts"))).mtimeMs, CONTEXT_MTIME_S * 1000);
  });

  test("the same inputs give the same context, byte for byte", async () => {
    const fingerprint = flowFingerprint(seedFlow);
    const config = compileDockerStorageOptions({
      imageName: "a",
      imageTag: "1",
      extraPackages: ["git", "curl", "git"],
    });
    const identity = { name: seedFlow.name, file: path.join(project, "flow.ts"), fingerprint };
    const a = await writeBuildContext(await planBuildContext(identity, config), path.join(tmp, "det-a"));
    const b = await writeBuildContext(await planBuildContext(identity, config), path.join(tmp, "det-b"));
    assert.equal(a.listing, b.listing);
    assert.equal(a.digest, b.digest);
    assert.match(
      await readFile(path.join(tmp, "det-a/Dockerfile"), "utf8"),
      /install -y --no-install-recommends curl git/,
    );
  });

  test("files, env and extraPackages reach the Dockerfile; node_modules, .git and ignored files do not", async () => {
    const extra = path.join(tmp, "extra");
    await mkdir(path.join(extra, "conf.d"), { recursive: true });
    await writeFile(path.join(extra, "conf.d/a.yaml"), "a: 1\n");
    await writeFile(path.join(extra, "single.txt"), "x\n");
    const config = compileDockerStorageOptions({
      imageName: "a",
      imageTag: "1",
      baseImage: "registry.example.test/base/node:20@sha256:" + "0".repeat(64),
      files: {
        [path.join(extra, "conf.d")]: "/etc/my-flow/conf.d",
        [path.join(extra, "single.txt")]: "/opt/single.txt",
      },
      env: { MODE: 'say "$HOME"', A_FIRST: "1" },
      extraPackages: ["libpq5"],
    });
    const identity = { name: seedFlow.name, file: path.join(project, "flow.ts"), fingerprint: "f" };
    const plan = await planBuildContext(identity, config);
    const written = await writeBuildContext(plan, path.join(tmp, "extras"));
    const paths = written.entries.map((e) => e.path);
    assert.ok(paths.includes("files/0/conf.d/a.yaml") && paths.includes("files/1/single.txt"), paths.join());
    assert.ok(!paths.some((p) => /node_modules|\.git\/|scratch|\.local$/.test(p)), paths.join());
    assert.match(plan.dockerfile, /^COPY \["files\/0\/conf.d\/","\/etc\/my-flow\/conf.d\/"\]$/m);
    assert.match(plan.dockerfile, /^COPY \["files\/1\/single.txt","\/opt\/single.txt"\]$/m);
    assert.match(plan.dockerfile, /^ENV A_FIRST="1" \\\n {4}MODE="say \\"\\\$HOME\\"" \\$/m);
    assert.match(plan.dockerfile, /apt-get install -y --no-install-recommends libpq5/);
    assert.match(plan.dockerfile, /^FROM registry.example.test\/base\/node:20@sha256:0{64}$/m);
  });

  test("inside this repo (project = flotilla itself) the CLI is /app/bin/flotilla.js", async () => {
    const file = path.join(ROOT, "test/fixtures/storage-broken/flow.ts");
    const plan = await planBuildContext(
      { name: "x", file, fingerprint: "f" },
      compileDockerStorageOptions({ imageName: "a", imageTag: "1" }),
    );
    assert.equal(plan.cliPath, "/app/bin/flotilla.js");
    assert.equal(plan.flowFileInProject, "test/fixtures/storage-broken/flow.ts");
    assert.ok(!plan.projectFiles.some((p) => p.startsWith("node_modules/")));
  });

  test("a project without a lockfile, or without flotilla in dependencies, is refused before any build", async () => {
    const noLock = await projectFrom(SEED, "no-lock");
    await rm(path.join(noLock, "package-lock.json"));
    const config = compileDockerStorageOptions({ imageName: "a", imageTag: "1" });
    await assert.rejects(
      planBuildContext({ name: "x", file: path.join(noLock, "flow.ts"), fingerprint: "f" }, config),
      {
        message: /package-lock.json is missing/,
      },
    );
    const devOnly = await projectFrom(SEED, "dev-only");
    await writeFile(
      path.join(devOnly, "package.json"),
      JSON.stringify({ name: "dev-only", devDependencies: { flotilla: "^0.1.0" } }),
    );
    await assert.rejects(
      planBuildContext({ name: "x", file: path.join(devOnly, "flow.ts"), fingerprint: "f" }, config),
      {
        message: /does not list flotilla in "dependencies" \(it is only in devDependencies\)/,
      },
    );
  });

  test("a secret value in env is refused: anyone who can pull the image could read it", async () => {
    registerSecret("s3cr3t-baked-into-env");
    const flow = selectFlow(await loadFlowModule(path.join(project, "flow.ts")));
    const storage = new DockerStorage({
      imageName: "a",
      imageTag: "1",
      env: { TOKEN: "s3cr3t-baked-into-env" },
    });
    Object.assign(flow.options, { storage });
    try {
      await assert.rejects(buildFlowImage({ flow, dryRun: true, env: { PATH: "" } }), (e) => {
        assert.ok(e instanceof FlotillaError);
        assert.match(e.message, /env.TOKEN holds a secret value/);
        assert.ok(!e.message.includes("s3cr3t-baked-into-env"));
        return true;
      });
    } finally {
      Object.assign(flow.options, { storage: seedFlow.storage });
    }
  });
});

describe("flotilla healthcheck (the build-time check, run as a process)", () => {
  const cli = (args: string[], cwd: string) =>
    run(process.execPath, [path.join(ROOT, "bin/flotilla.js"), "healthcheck", ...args], {
      cwd,
      timeout: 60_000,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );

  test("a module that loads: prints its fingerprint, and checks an expected one", async () => {
    const fp = flowFingerprint(seedFlow);
    const ok = await cli(["flow.ts", "--flow", seedFlow.name, "--expect-fingerprint", fp], project);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `fingerprint ${fp}\n`);
    const differs = await cli(["flow.ts", "--expect-fingerprint", "0000000000000000"], project);
    assert.equal(differs.code, 1);
    assert.match(
      differs.stderr,
      /has fingerprint [0-9a-f]{16}, expected 0000000000000000: the code in this image is not/,
    );
  });

  test("a module that does not load: exit 1 and the reason", async () => {
    const broken = await cli([path.join(ROOT, "test/fixtures/storage-broken/flow.ts")], ROOT);
    assert.equal(broken.code, 1);
    assert.match(
      broken.stderr,
      /cannot load flow file .*storage-broken\/flow.ts: .*this-package-does-not-exist-anywhere/,
    );
    assert.equal(broken.stdout, "");
  });
});
