// kube-sim enforces ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) as an API server does:
// `flotilla rbac --admission-policy | kubectl apply -f -` confines the pods the runner's account may
// create to worker pods (refusals name the policy, the binding and the failed rule, through kubectl
// and client-node alike), leaves everyone else alone, and a whole Flotilla run passes under it.
// Also: Warn bindings, messageExpression, failurePolicy Ignore/Fail, namespaceSelector, UPDATE.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import type { KubeSim } from "../src/testing/index.ts";
import { apiError, applyRbac, startFlotillaSim, TEST_IMAGES } from "./helpers/kube-sim.ts";
import { kubectlPath } from "./helpers/system.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const NS = "vap";
const IMAGE = "example.com/flotilla-vap:dev";
const POLICY = `flotilla-runner-pods.${NS}`;
const home = mkdtempSync(path.join(tmpdir(), "kube-sim-vap-"));
let sim: KubeSim;

before(async () => {
  sim = await startFlotillaSim(IMAGE, { namespaces: [NS, "other"], extraImages: TEST_IMAGES });
});
after(async () => {
  await sim?.stop();
  rmSync(home, { recursive: true, force: true });
});

function cli(
  args: string[],
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "bin/flotilla.js"), ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flotilla ${args.join(" ")} did not finish\n${stdout}\n${stderr}`));
    }, 180_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function kubectl(
  kubeconfig: string,
  input: string | undefined,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      kubectlPath(),
      ["--cache-dir", path.join(home, "cache"), ...args],
      { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const workerPod = (name: string, owner: k8s.V1Pod, extra: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod => ({
  metadata: {
    name,
    labels: {
      "app.kubernetes.io/managed-by": "flotilla",
      "flotilla.io/component": "worker",
      "flotilla.io/flow-run-id": "r1",
    },
    ownerReferences: [
      {
        apiVersion: "v1",
        kind: "Pod",
        name: owner.metadata!.name!,
        uid: owner.metadata!.uid!,
        controller: true,
      },
    ],
  },
  spec: {
    serviceAccountName: "flotilla-worker",
    automountServiceAccountToken: false,
    restartPolicy: "Never",
    containers: [{ name: "c", image: "busybox:1", args: ["sleep 30"] }],
    ...extra,
  },
});

function without(pod: k8s.V1Pod, field: "ownerReferences" | "labels"): k8s.V1Pod {
  delete pod.metadata?.[field];
  return pod;
}

describe("flotilla rbac --admission-policy, enforced", { timeout: 300_000 }, () => {
  let runner: k8s.KubeConfig;
  let runnerKubeconfig: string;
  let owner: k8s.V1Pod;

  before(async () => {
    const core = sim.kubeConfig().makeApiClient(k8s.CoreV1Api);
    await applyRbac(sim.kubeConfig(), NS, { launcher: "launcher" });
    const printed = await cli(["rbac", "--admission-policy", "-n", NS]);
    assert.equal(printed.code, 0, printed.stderr);
    const applied = await kubectl(sim.kubeconfigPath, printed.stdout, "apply", "-f", "-");
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(
      applied.stdout,
      new RegExp(
        `validatingadmissionpolicy.admissionregistration.k8s.io/${POLICY.replace(".", "\\.")} created`,
      ),
    );
    assert.match(
      applied.stdout,
      /validatingadmissionpolicybinding\.admissionregistration\.k8s\.io\/\S+ created/,
    );
    const sa = await sim.serviceAccountKubeconfig(NS, "flotilla-runner");
    runner = sa.kubeConfig;
    runnerKubeconfig = sa.path;
    owner = await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: "owner" },
        spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox:1", args: ["sleep 60"] }] },
      },
    });
  });

  test("the runner's account may create a worker pod, and nothing else", async () => {
    const core = runner.makeApiClient(k8s.CoreV1Api);
    const ok = await core.createNamespacedPod({ namespace: NS, body: workerPod("w-ok", owner) });
    assert.equal(ok.metadata?.name, "w-ok");

    for (const [name, pod, rule] of [
      [
        "w-default-sa",
        workerPod("w-default-sa", owner, { serviceAccountName: "default" }),
        /only create pods under the workers' ServiceAccount flotilla-worker/,
      ],
      ["w-token", workerPod("w-token", owner, { automountServiceAccountToken: true }), /mount no API token/],
      ["w-no-owner", without(workerPod("w-no-owner", owner), "ownerReferences"), /owned by the runner pod/],
      ["w-no-labels", without(workerPod("w-no-labels", owner), "labels"), /carry the worker labels/],
    ] as [string, k8s.V1Pod, RegExp][]) {
      const e = await apiError(() => core.createNamespacedPod({ namespace: NS, body: pod }));
      assert.equal(e.httpCode, 403, JSON.stringify(e));
      assert.equal(e.reason, "Forbidden");
      assert.match(
        e.message,
        new RegExp(
          `^pods "${name}" is forbidden: ValidatingAdmissionPolicy '${POLICY}' with binding '${POLICY}' denied request: `,
        ),
      );
      assert.match(e.message, rule);
      assert.equal(
        sim.objects("pods", NS).find((p) => p.metadata.name === name),
        undefined,
      );
    }
    // kubectl prints the server's refusal as it would from a real cluster
    const byKubectl = await kubectl(
      runnerKubeconfig,
      undefined,
      "-n",
      NS,
      "run",
      "sneaky",
      "--image=busybox:1",
      "--restart=Never",
    );
    assert.equal(byKubectl.code, 1);
    assert.match(
      byKubectl.stderr,
      new RegExp(
        `Error from server \\(Forbidden\\): pods "sneaky" is forbidden: ValidatingAdmissionPolicy '${POLICY}'`,
      ),
    );
  });

  test("everyone else is untouched: the admin, and other namespaces", async () => {
    const admin = sim.kubeConfig().makeApiClient(k8s.CoreV1Api);
    const pod: k8s.V1Pod = {
      metadata: { name: "plain" },
      spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox:1", args: ["true"] }] },
    };
    assert.equal((await admin.createNamespacedPod({ namespace: NS, body: pod })).metadata?.name, "plain");
    assert.equal(
      (await admin.createNamespacedPod({ namespace: "other", body: pod })).metadata?.name,
      "plain",
    );
  });

  test("a Flotilla run passes under the policy (its runner creates only conforming worker pods)", async () => {
    const launcher = await sim.serviceAccountKubeconfig(NS, "launcher");
    const r = await cli([
      "run",
      "test/fixtures/kube-flows/slow.ts",
      "--kubeconfig",
      launcher.path,
      "-n",
      NS,
      "--image",
      IMAGE,
      "--param",
      "n=3",
      "--param",
      "sleepMs=100",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /Success/);
  });
});

describe("ValidatingAdmissionPolicy semantics", { timeout: 60_000 }, () => {
  const policies = () => sim.kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);
  const core = () => sim.kubeConfig().makeApiClient(k8s.CoreV1Api);

  async function policy(
    name: string,
    spec: Partial<k8s.V1ValidatingAdmissionPolicySpec>,
    binding: Partial<k8s.V1ValidatingAdmissionPolicyBindingSpec> = {},
  ): Promise<() => Promise<void>> {
    await policies().createValidatingAdmissionPolicy({
      body: {
        metadata: { name },
        spec: {
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: [""],
                apiVersions: ["v1"],
                operations: ["CREATE", "UPDATE"],
                resources: ["configmaps"],
              },
            ],
          },
          ...spec,
        },
      },
    });
    await policies().createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name },
        spec: {
          policyName: name,
          validationActions: ["Deny"],
          matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "other" } } },
          ...binding,
        },
      },
    });
    return async () => {
      await policies().deleteValidatingAdmissionPolicyBinding({ name });
      await policies().deleteValidatingAdmissionPolicy({ name });
    };
  }

  test("validation reason and messageExpression; the default reason is Invalid (422); variables", async () => {
    const done = await policy("small-cm", {
      variables: [{ name: "keys", expression: "has(object.data) ? object.data.size() : 0" }],
      validations: [
        {
          expression: "variables.keys <= 2",
          messageExpression: "'too many keys: ' + string(variables.keys)",
        },
        {
          expression: "object.metadata.name != 'forbidden'",
          reason: "Forbidden",
          message: "that name is taken",
        },
      ],
    });
    try {
      const big = await apiError(() =>
        core().createNamespacedConfigMap({
          namespace: "other",
          body: { metadata: { name: "big" }, data: { a: "1", b: "2", c: "3" } },
        }),
      );
      assert.equal(big.httpCode, 422);
      assert.equal(big.reason, "Invalid");
      assert.match(big.message, /denied request: too many keys: 3$/);
      const named = await apiError(() =>
        core().createNamespacedConfigMap({ namespace: "other", body: { metadata: { name: "forbidden" } } }),
      );
      assert.equal(named.httpCode, 403);
      assert.match(named.message, /denied request: that name is taken$/);
      // UPDATE is held to the same rules
      await core().createNamespacedConfigMap({
        namespace: "other",
        body: { metadata: { name: "grows" }, data: { a: "1" } },
      });
      const grown = await apiError(() =>
        core().patchNamespacedConfigMap(
          { name: "grows", namespace: "other", body: { data: { b: "2", c: "3" } } },
          k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        ),
      );
      assert.equal(grown.httpCode, 422);
      assert.match(grown.message, /^configmaps "grows" is forbidden: .*too many keys: 3$/);
      // the namespaceSelector: the same ConfigMap elsewhere is fine
      await core().createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: "big" }, data: { a: "1", b: "2", c: "3" } },
      });
    } finally {
      await done();
    }
  });

  test("Warn bindings warn and admit; an expression that fails follows failurePolicy (Ignore admits, Fail refuses)", async () => {
    const warn = await policy(
      "warn-only",
      { validations: [{ expression: "false", message: "just saying" }] },
      { validationActions: ["Warn"] },
    );
    try {
      const res = await fetch(`${sim.url}/api/v1/namespaces/other/configmaps`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ metadata: { name: "warned" } }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 201);
      assert.match(
        res.headers.get("warning") ?? "",
        /Validation failed for ValidatingAdmissionPolicy 'warn-only' with binding 'warn-only': just saying/,
      );
    } finally {
      await warn();
    }
    const ignore = await policy("broken-ignore", {
      failurePolicy: "Ignore",
      validations: [{ expression: "object.data.nope == 'x'" }],
    });
    try {
      await core().createNamespacedConfigMap({
        namespace: "other",
        body: { metadata: { name: "ignored" }, data: {} },
      });
    } finally {
      await ignore();
    }
    const fail = await policy("broken-fail", {
      failurePolicy: "Fail",
      validations: [{ expression: "object.data.nope == 'x'" }],
    });
    try {
      const e = await apiError(() =>
        core().createNamespacedConfigMap({
          namespace: "other",
          body: { metadata: { name: "failed" }, data: {} },
        }),
      );
      assert.equal(e.httpCode, 422);
      assert.match(e.message, /denied request: expression 'object\.data\.nope == 'x'' resulted in error/);
    } finally {
      await fail();
    }
  });
});
