// The leak scan on Kubernetes: the tasks of the local leak scan (print four secrets in many forms,
// pass them to task runs on other workers, return them, quote them in a failure) run on kube-sim with
// a runner and two workers that read the secrets from the Kubernetes Secret "leak-secrets". No form of
// any secret (raw, JSON-escaped once and twice, \u-escaped, base64, base64url, URL-encoded) may appear
// in what `flotilla run` prints, in anything any container printed (runner, broker, workers, deleted
// pods included), in any version of any object the API server stored during the run (events, pods,
// Jobs, per-run Secrets, termination messages) or in `kubectl get <every kind> -A -o yaml` after it:
// only in leak-secrets itself. And `flotilla run --sim` with the secrets in the launcher's own
// environment carries them nowhere.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import type { KubeSim, SimRecording } from "../src/testing/index.ts";
import { applyRbac, startFlotillaSim } from "./helpers/kube-sim.ts";
import { noLeakAssertion } from "./helpers/leak-scan.ts";
import { kubectlPath } from "./helpers/system.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const NS = "leak";
const IMAGE = "example.com/flotilla-leak:dev";
const SECRETS: Record<string, string> = {
  a: "plain-token-5f3a9c1e",
  b: 'quo"te\\back\\slash-77',
  c: "nön-äscii-pässwörd-✓-é",
  d: "spaces & <tags> / ?q=1",
};

const assertNoLeak = noLeakAssertion(SECRETS, { noun: "secret ", before: 120 });

const run = promisify(execFile);
const home = mkdtempSync(path.join(tmpdir(), "secrets-leak-kube-"));
let sim: KubeSim;
let recording: SimRecording;
let launcherKubeconfig: string;

before(async () => {
  sim = await startFlotillaSim(IMAGE, { namespaces: [NS], watchHistory: 100_000 });
  recording = sim.record();
  const kc = sim.kubeConfig();
  await kc.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: "leak-secrets" }, stringData: SECRETS },
  });
  await applyRbac(kc, NS, { launcher: "launcher" });
  launcherKubeconfig = (await sim.serviceAccountKubeconfig(NS, "launcher")).path;
});

after(async () => {
  recording?.stop();
  await sim?.stop();
  rmSync(home, { recursive: true, force: true });
});

function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 240_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "bin/flotilla.js"), ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flotilla ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(kubectlPath(), ["--cache-dir", path.join(home, "cache"), ...args], {
    env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: sim.kubeconfigPath },
    timeout: 30_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** an object version as recorded, with leak-secrets' own data (the one place the values belong) taken out */
function withoutLeakSecretsData(json: string): string {
  const o = JSON.parse(json) as { kind?: string; metadata?: { name?: string }; data?: unknown };
  if (o.metadata?.name === "leak-secrets" && (o.kind === "Secret" || o.data !== undefined)) {
    delete o.data;
    return JSON.stringify(o);
  }
  return json;
}

const FLOW = "test/fixtures/kube-flows/secret-leak.ts";

describe("no secret leaks from a run on Kubernetes", { timeout: 600_000 }, () => {
  for (const [output, logFormat] of [
    ["table", "pretty"],
    ["json", "json"],
  ] as const) {
    test(`flotilla run on kube-sim, --output ${output}, --log-format ${logFormat}: CLI, every container's output, every object version`, async () => {
      const r = await cli([
        "run",
        FLOW,
        "--kubeconfig",
        launcherKubeconfig,
        "-n",
        NS,
        "--image",
        IMAGE,
        "--output",
        output,
        "--log-format",
        logFormat,
      ]);
      const printed = r.stdout + r.stderr;
      assert.equal(r.code, 1, printed); // the `fail` task quotes the secrets
      assert.match(printed, /\[redacted\]/, `the secrets were printed (and scrubbed):\n${printed}`);
      assertNoLeak("flotilla run's stdout", r.stdout);
      assertNoLeak("flotilla run's stderr", r.stderr);

      const containers = recording.output();
      const runners = containers.filter(
        (c) => c.pod.startsWith("flotilla-secret-leak-") && c.container === "flotilla",
      );
      assert.ok(runners.length > 0, containers.map((c) => `${c.pod}/${c.container}`).join(", "));
      // every task that printed them ran and printed, on the runner or a worker
      const everything = containers.map((c) => c.text).join("\n");
      const uses = (everything.match(/use\d logger/g) ?? []).length;
      console.log(
        `# ${containers.length} containers recorded, ${uses} 'use' logger lines, ${recording.objects().length} object versions`,
      );
      assert.ok(uses >= 4, `the mapped tasks logged:\n${everything.slice(0, 4000)}`);
      for (const c of containers) assertNoLeak(`container ${c.namespace}/${c.pod}/${c.container}`, c.text);
      for (const o of recording.objects()) assertNoLeak("a stored object version", withoutLeakSecretsData(o));

      const kinds = "pods,jobs,secrets,configmaps,events,serviceaccounts,roles,rolebindings,services";
      const yaml = await kubectl("get", kinds, "-A", "-o", "json");
      const items = (JSON.parse(yaml) as { items: unknown[] }).items.map((i) =>
        withoutLeakSecretsData(JSON.stringify(i)),
      );
      assert.ok(items.length > 0);
      assertNoLeak("kubectl get <every kind> -A", items.join("\n"));
      // the pods that are left (the finished runner) through kubectl logs, every container
      for (const pod of JSON.parse(await kubectl("-n", NS, "get", "pods", "-o", "json")).items) {
        for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
          const logs = await kubectl("-n", NS, "logs", pod.metadata.name, "-c", c.name).catch((e) => {
            throw new Error(`kubectl logs ${pod.metadata.name} -c ${c.name} failed: ${e.stderr ?? e}`);
          });
          assertNoLeak(`kubectl logs ${pod.metadata.name} -c ${c.name}`, logs);
        }
      }
    });
  }

  test("flotilla run --sim with the secrets in the launcher's environment carries them nowhere", async () => {
    const env: NodeJS.ProcessEnv = { LEAK_SECRET_NAMES: "LEAK_A,LEAK_B,LEAK_C,LEAK_D" };
    for (const [k, v] of Object.entries(SECRETS)) env[`FLOTILLA_SECRET_LEAK_${k.toUpperCase()}`] = v;
    const r = await cli(["run", "test/fixtures/faults-secret-console.ts", "--sim", "--output", "json"], env);
    const printed = r.stdout + r.stderr;
    // the pods have no such variables (a cluster's pods get secrets from Kubernetes Secrets): the run
    // fails on the first read, naming the secret and where it looked, never a value
    assert.equal(r.code, 1, printed);
    assert.match(printed, /LEAK_A/, printed);
    assertNoLeak("flotilla run --sim's stdout", r.stdout);
    assertNoLeak("flotilla run --sim's stderr", r.stderr);
  });
});
