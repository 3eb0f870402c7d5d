// `flotilla run --dry-run` as a user runs it: from the example's own folder, its output piped to
// `kubectl apply --dry-run=server -f -` and `kubectl diff -f -` against `flotilla sim` (a separate
// process, as a user starts it); the flow module path is the one the image holds (relative to the
// project, not to the shell's folder); no Secret value and no placeholder owner uid is printed;
// a flow in no npm project, and a flow with no image at all, fail with what to do; a flow with no
// storage and no image option runs its worker spec's image, with a note.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";
import { flotillaBin } from "../src/testing/index.ts";
import { kubectlPath } from "./helpers/system.ts";

// biome-ignore lint/suspicious/noExplicitAny: reading arbitrary Kubernetes objects back
type Loose = Record<string, any>;

const KUBECTL = kubectlPath();
const ROOT = process.cwd();
const EXAMPLE_DIR = join(ROOT, "examples", "seed-custom-worker");
const home = mkdtempSync(join(tmpdir(), "flotilla-dry-run-"));
const env = { PATH: process.env.PATH ?? "", HOME: home, KUBECONFIG: join(home, "none.kubeconfig") };

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to its end (killed after timeoutMs), feeding `input` on stdin. */
function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

const flotilla = (args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  runCommand(process.execPath, [flotillaBin(), ...args], {
    cwd,
    env: { ...env, ...extraEnv },
  });

/** Resolves once `child` has exited; SIGKILLs it if it has not within timeoutMs. */
function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      done();
    });
  });
}

describe("--dry-run against `flotilla sim` with kubectl", { timeout: 180_000 }, () => {
  let sim: ChildProcess | undefined;
  const kubeconfig = join(home, "sim", "kubeconfig");
  const kubectl = (args: string[], input: string) =>
    runCommand(KUBECTL, ["--cache-dir", join(home, "cache"), ...args], {
      env: { ...env, KUBECONFIG: kubeconfig },
      input,
      timeoutMs: 30_000,
    });

  before(async () => {
    const child = spawn(process.execPath, [flotillaBin(), "sim", "--kubeconfig", kubeconfig], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    sim = child;
    let out = "";
    let err = "";
    child.stderr.on("data", (c: Buffer) => {
      err += c;
    });
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`flotilla sim did not start in 30 s: ${err}`)), 30_000);
      child.stdout.on("data", (c: Buffer) => {
        out += c;
        if (out.includes(`kubeconfig: ${kubeconfig}\n`)) {
          clearTimeout(timer);
          ready();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(new Error(`flotilla sim exited with ${code}: ${err}`));
      });
    });
  });
  after(async () => {
    if (sim && sim.exitCode === null && sim.signalCode === null) sim.kill("SIGTERM");
    if (sim) await exited(sim, 15_000);
  });

  test("from the example's folder: YAML passes `kubectl apply --dry-run=server -f -` and `kubectl diff -f -`", async () => {
    const planned = await flotilla(["run", "flow.ts", "--dry-run", "-n", "default"], EXAMPLE_DIR, {
      KUBECONFIG: kubeconfig,
    });
    assert.equal(planned.code, 0, planned.stderr);
    const docs = parseAllDocuments(planned.stdout).map((d) => d.toJS() as Loose);
    assert.deepEqual(
      docs.map((o) => o.kind),
      ["Secret", "Job", "Pod", "Pod"],
    );
    const [secret, job, worker] = docs as [Loose, Loose, Loose];
    // the path as the image holds it: relative to the project root, not to the shell's folder
    const env0 = job.spec.template.spec.containers[0].env as Loose[];
    assert.equal(
      env0.find((e) => e.name === "FLOTILLA_FLOW_MODULE")?.value,
      "examples/seed-custom-worker/flow.ts",
    );
    assert.equal(
      worker.spec.containers[0].env.find((e: Loose) => e.name === "FLOTILLA_FLOW_MODULE")?.value,
      "examples/seed-custom-worker/flow.ts",
    );
    // parameters travel in the Secret, never as a plain env value
    assert.deepEqual(env0.find((e) => e.name === "FLOTILLA_PARAMETERS")?.valueFrom?.secretKeyRef, {
      name: secret.metadata.name,
      key: "parameters",
    });
    assert.equal(secret.data, undefined, "no Secret value, not even base64");
    assert.deepEqual(Object.keys(secret.stringData).sort(), ["parameters", "password"]);
    for (const v of Object.values(secret.stringData)) assert.match(String(v), /^<.*>$/);
    for (const o of docs) {
      assert.equal(o.metadata.ownerReferences, undefined, `${o.kind}: no owner reference with a made-up uid`);
    }
    assert.match(
      secret.metadata.annotations["flotilla.io/added-at-launch"],
      /ownerReferences: the runner Job/,
    );
    assert.match(worker.metadata.annotations["flotilla.io/added-at-launch"], /created by the runner pod/);
    assert.match(planned.stderr, /dask-worker args translated/, "the merge warnings are shown");

    // as a user does first: the printed RBAC (the worker pods' own ServiceAccount among it), applied
    const printed = await flotilla(["rbac", "-n", "default"], EXAMPLE_DIR, { KUBECONFIG: kubeconfig });
    assert.equal(printed.code, 0, printed.stderr);
    const rbacApplied = await kubectl(["apply", "-f", "-"], printed.stdout);
    assert.equal(rbacApplied.code, 0, rbacApplied.stderr);
    assert.match(rbacApplied.stdout, /serviceaccount\/flotilla-worker created/);

    const applied = await kubectl(["apply", "--dry-run=server", "-f", "-"], planned.stdout);
    assert.equal(applied.code, 0, applied.stderr);
    for (const line of [
      `secret/${secret.metadata.name} created (server dry run)`,
      `job.batch/${job.metadata.name} created (server dry run)`,
      `pod/${worker.metadata.name} created (server dry run)`,
    ]) {
      assert.ok(applied.stdout.includes(line), `${line} in:\n${applied.stdout}`);
    }
    // kubectl diff exits 1 when there are differences (everything is new here), >1 on an error
    const diff = await kubectl(["diff", "-f", "-"], planned.stdout);
    assert.equal(diff.code, 1, diff.stderr);
    assert.match(diff.stdout, new RegExp(`\\+  name: ${job.metadata.name}`));
    // nothing was created by either
    const left = await kubectl(["get", "jobs,secrets,pods", "-o", "name"], "");
    assert.equal(left.code, 0, left.stderr);
    assert.doesNotMatch(left.stdout, /flotilla-/);
  });

  test("JSON (-o json) is a List of the same objects, which kubectl apply --dry-run=server accepts", async () => {
    const planned = await flotilla(
      ["run", "examples/seed-min-max/flow.ts", "--dry-run", "-o", "json", "--image", "example.com/f:1"],
      ROOT,
    );
    assert.equal(planned.code, 0, planned.stderr);
    const list = JSON.parse(planned.stdout) as { apiVersion: string; kind: string; items: Loose[] };
    assert.equal(list.apiVersion, "v1");
    assert.equal(list.kind, "List");
    assert.deepEqual(
      list.items.map((o) => o.kind),
      ["Secret", "Job", "Pod"],
    );
    assert.equal(list.items[0]!.data, undefined);
    // kubectl validates a `kind: List` itself, against /openapi/v2 in protobuf, then sends each item
    const applied = await kubectl(["apply", "--dry-run=server", "-f", "-"], planned.stdout);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(
      applied.stdout,
      /^secret\/\S+ created \(server dry run\)\njob\.batch\/\S+ created \(server dry run\)\npod\/\S+ created \(server dry run\)\n$/,
    );
  });
});

describe("which image and which path", { timeout: 120_000 }, () => {
  const src = (p: string) => pathToFileURL(resolve(ROOT, "src", p)).href;
  const flowSource = (environment: string, storage = "") => `
import { Flow, task${storage ? ", DockerStorage" : ""} } from ${JSON.stringify(src("index.ts"))};
import { KubeClusterEnvironment } from ${JSON.stringify(src("kubernetes/index.ts"))};
const hello = task("hello", async () => "hi");
export const flow = Flow.build("paths", () => hello(), {
  environment: new KubeClusterEnvironment(${environment}),${storage}
});
`;
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "flotilla-paths-"));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  test("a flow file in no npm project is an error that says so, and nothing is planned", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "flow.mts"), flowSource(`{ image: "example.com/f:1" }`));
    const r = await flotilla(["run", "flow.mts", "--dry-run"], dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /flow file flow\.mts is outside any npm project: no package\.json in its folder or above/,
    );
    assert.match(r.stderr, /npm init -y/);
    assert.equal(r.stdout, "");
  });

  test("from a subfolder of the project: the path is relative to the project root", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "package.json"), '{"name":"paths-project"}');
    mkdirSync(join(dir, "flows", "daily"), { recursive: true });
    writeFileSync(join(dir, "flows", "daily", "flow.mts"), flowSource(`{ image: "example.com/f:1" }`));
    for (const [cwd, file] of [
      [join(dir, "flows", "daily"), "flow.mts"],
      [join(dir, "flows"), "daily/flow.mts"],
      [dir, "flows/daily/flow.mts"],
    ] as const) {
      const r = await flotilla(["run", file, "--dry-run", "-o", "json"], cwd);
      assert.equal(r.code, 0, r.stderr);
      const job = (JSON.parse(r.stdout) as { items: Loose[] }).items.find((o) => o.kind === "Job")!;
      const value = job.spec.template.spec.containers[0].env.find(
        (e: Loose) => e.name === "FLOTILLA_FLOW_MODULE",
      )?.value;
      assert.equal(value, "flows/daily/flow.mts", `from ${cwd}`);
    }
  });

  test("no storage, no image: the error names --image, DockerStorage and --sim", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "package.json"), '{"name":"paths-project"}');
    writeFileSync(join(dir, "flow.mts"), flowSource("{}"));
    const r = await flotilla(["run", "flow.mts", "--dry-run"], dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /flow "paths": no image to run on Kubernetes/);
    assert.match(r.stderr, /--image/);
    assert.match(r.stderr, /DockerStorage/);
    assert.match(r.stderr, /--sim/);
  });

  test("no storage, no image option, a worker spec naming one: runner and workers run it, with a note", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "package.json"), '{"name":"paths-project"}');
    writeFileSync(
      join(dir, "worker.yaml"),
      "kind: Pod\nspec:\n  containers:\n    - name: flotilla\n      image: registry.example.com/team/flow:7\n",
    );
    writeFileSync(join(dir, "flow.mts"), flowSource(`{ workerSpecFile: "worker.yaml" }`));
    const r = await flotilla(["run", "flow.mts", "--dry-run", "-o", "json"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /has no storage and no image option: runner and workers run the image of worker\.yaml/,
    );
    const items = (JSON.parse(r.stdout) as { items: Loose[] }).items;
    const job = items.find((o) => o.kind === "Job")!;
    assert.equal(job.spec.template.spec.containers[0].image, "registry.example.com/team/flow:7");
  });
});
