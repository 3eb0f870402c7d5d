// kubectl against kube-sim: discovery, server-side validation (OpenAPI v3), Table printing, apply,
// logs, auth can-i (SSAR), create token (TokenRequest over protobuf) and delete.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { KubeSim } from "../src/testing/index.ts";
import { TEST_IMAGES } from "./helpers/kube-sim.ts";

const KUBECTL = "/usr/bin/kubectl";
const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), "kube-sim-kubectl-"));
let sim: KubeSim;

before(async () => {
  sim = await KubeSim.start({ images: TEST_IMAGES });
});
after(() => sim.stop());

/** kubectl with a fresh HOME and cache dir, so no discovery cache leaks between runs */
async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(KUBECTL, ["--cache-dir", join(home, "cache"), ...args], {
      env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: sim.kubeconfigPath },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : 1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    };
  }
}

test("kubectl apply/get/logs/auth can-i/create token/delete", async (t) => {
  if (!existsSync(KUBECTL)) {
    t.skip("kubectl is not installed at /usr/bin/kubectl");
    return;
  }
  const manifest = join(home, "pod.yaml");
  writeFileSync(
    manifest,
    [
      "apiVersion: v1",
      "kind: Pod",
      "metadata:",
      "  name: kc",
      "spec:",
      "  restartPolicy: Never",
      "  containers:",
      "  - name: main",
      "    image: busybox:1",
      '    args: ["echo hello from kubectl"]',
      "",
    ].join("\n"),
  );
  const applied = await kubectl("apply", "-f", manifest);
  assert.equal(applied.stdout.trim(), "pod/kc created", applied.stderr);
  await sim.waitFor("pods", "default", "kc", (p) => p?.status?.phase === "Succeeded");

  const get = await kubectl("get", "pods");
  assert.match(
    get.stdout,
    /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nkc\s+0\/1\s+Completed\s+0\s+\d+s\n$/,
    get.stderr,
  );
  assert.equal((await kubectl("logs", "kc")).stdout, "hello from kubectl\n");
  assert.equal((await kubectl("apply", "-f", manifest)).stdout.trim(), "pod/kc unchanged");

  const typo = join(home, "typo.yaml");
  writeFileSync(
    typo,
    ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: t", "dataa: {}", ""].join("\n"),
  );
  const rejected = await kubectl("apply", "-f", typo);
  assert.notEqual(rejected.code, 0);
  assert.match(rejected.stderr, /unknown field "dataa"/);

  assert.equal((await kubectl("auth", "can-i", "create", "pods")).stdout.trim(), "yes");
  assert.equal(
    (await kubectl("create", "serviceaccount", "bot")).stdout.trim(),
    "serviceaccount/bot created",
  );
  const token = (await kubectl("create", "token", "bot")).stdout.trim();
  assert.match(token, /^kube-sim\./);
  const denied = await kubectl("--token", token, "auth", "can-i", "create", "pods");
  assert.equal(denied.stdout.trim(), "no");
  assert.equal(denied.code, 1);
  const forbidden = await kubectl("--token", token, "get", "pods");
  assert.match(
    forbidden.stderr,
    /pods is forbidden: User "system:serviceaccount:default:bot" cannot list resource "pods" in API group "" in the namespace "default"/,
  );

  assert.equal((await kubectl("delete", "-f", manifest)).stdout.trim(), 'pod "kc" deleted');
  assert.equal(sim.objects("pods", "default").length, 0);
});
