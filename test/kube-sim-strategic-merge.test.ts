// Strategic merge patch on kube-sim as kubectl sends it (`kubectl patch --type strategic`), asserting
// what a real API server answers: which lists are atomic (tolerations) and which merge by their key
// (containers, env, secrets, a ValidatingAdmissionPolicy's matchConditions: the OpenAPI's
// x-kubernetes-patch-strategy / -merge-key), the `$patch: delete|replace`, `$retainKeys`,
// `$deleteFromPrimitiveList` and `$setElementOrder` directives, the order of a merged list, and the
// errors of a malformed patch (400), a missing merge key (500, apimachinery's plain error).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { KubeSim } from "../src/testing/index.ts";
import { kubectlPath } from "./helpers/system.ts";

// biome-ignore lint/suspicious/noExplicitAny: reading arbitrary Kubernetes objects back
type Loose = Record<string, any>;

const KUBECTL = kubectlPath();
const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), "kube-sim-smp-"));
let sim: KubeSim;

before(async () => {
  sim = await KubeSim.start({ capacity: { cpu: "4", memory: "16Gi" } });
});
after(async () => {
  await sim.stop();
  rmSync(home, { recursive: true, force: true });
});

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

let manifests = 0;
async function apply(obj: Loose): Promise<void> {
  const file = join(home, `m${manifests++}.json`);
  writeFileSync(file, JSON.stringify(obj));
  const res = await kubectl("create", "-f", file);
  assert.equal(res.code, 0, res.stderr);
}

/** `kubectl patch <what> --type strategic -p <patch> -o json`: the patched object */
async function patch(what: string[], body: unknown): Promise<Loose> {
  const res = await kubectl(
    "patch",
    ...what,
    "--type",
    "strategic",
    "-p",
    JSON.stringify(body),
    "-o",
    "json",
  );
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as Loose;
}

/** the same, expected to fail: kubectl's error line */
async function patchFails(what: string[], body: unknown): Promise<string> {
  const res = await kubectl("patch", ...what, "--type", "strategic", "-p", JSON.stringify(body));
  assert.notEqual(res.code, 0, res.stdout);
  return res.stderr.trim();
}

const names = (list: Loose[] | undefined) => (list ?? []).map((x) => x.name);

describe("strategic merge patch through kubectl", { timeout: 120_000 }, () => {
  before(async () => {
    await apply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "smp", labels: { app: "smp", tier: "x" } },
      spec: {
        // no node matches: the pod stays unscheduled, so no kubelet status change between kubectl's
        // GET and PATCH makes a no-op patch print "patched" instead of "patched (no change)"
        nodeSelector: { "flotilla.test/pool": "none" },
        tolerations: [{ key: "a", operator: "Exists", effect: "NoSchedule" }],
        containers: [
          { name: "one", image: "nope.example/one:1", env: [{ name: "A", value: "1" }] },
          { name: "two", image: "nope.example/two:1", env: [{ name: "B", value: "2" }] },
        ],
      },
    });
    await apply({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "smp-sa", finalizers: ["example.com/a"] },
      secrets: [{ name: "s1" }, { name: "s2" }, { name: "s3" }],
    });
    await apply({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "smp-cm" },
      data: { a: "1", b: "2", c: "3" },
    });
  });

  test("tolerations are atomic: a patch's list replaces the live one (adding one keeps the patch's order; dropping one is the pod's 422)", async () => {
    const live = JSON.parse((await kubectl("get", "pod", "smp", "-o", "json")).stdout) as Loose;
    // the pod's own toleration plus the two DefaultTolerationSeconds added at creation
    assert.deepEqual(
      (live.spec.tolerations as Loose[]).map((t) => t.key),
      ["a", "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"],
    );
    const added = { key: "b", operator: "Exists", effect: "NoExecute", tolerationSeconds: 5 };
    const pod = await patch(["pod", "smp"], { spec: { tolerations: [added, ...live.spec.tolerations] } });
    assert.deepEqual(pod.spec.tolerations, [added, ...live.spec.tolerations]);
    const err = await patchFails(["pod", "smp"], {
      spec: { tolerations: [{ key: "c", operator: "Exists" }] },
    });
    assert.match(
      err,
      /spec\.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds/,
    );
  });

  test("containers merge by name: one container's image changes, the other is untouched, env merges by name", async () => {
    const pod = await patch(["pod", "smp"], {
      spec: { containers: [{ name: "two", image: "nope.example/two:2", env: [{ name: "B", value: "2" }] }] },
    });
    assert.deepEqual(names(pod.spec.containers), ["one", "two"]);
    assert.equal(pod.spec.containers[0].image, "nope.example/one:1");
    assert.equal(pod.spec.containers[1].image, "nope.example/two:2");
    assert.deepEqual(pod.spec.containers[1].env, [{ name: "B", value: "2" }]);
    // env merged by name: the same list without B's siblings is no change, where an atomic
    // replacement would have dropped A (and a pod refuses any env change)
    const same = await kubectl(
      "patch",
      "pod",
      "smp",
      "--type",
      "strategic",
      "-p",
      JSON.stringify({ spec: { containers: [{ name: "one", env: [{ name: "A", value: "1" }] }] } }),
    );
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout.trim(), "pod/smp patched (no change)");
    const changed = await patchFails(["pod", "smp"], {
      spec: { containers: [{ name: "one", env: [{ name: "A2", value: "x" }] }] },
    });
    assert.match(
      changed,
      /Pod "smp" is invalid: spec: Forbidden: pod updates may not change fields other than/,
    );
  });

  test("$patch: delete and replace on list items and maps; $deleteFromPrimitiveList on a set", async () => {
    let sa = await patch(["serviceaccount", "smp-sa"], { secrets: [{ name: "s2", $patch: "delete" }] });
    assert.deepEqual(names(sa.secrets), ["s1", "s3"]);
    sa = await patch(["serviceaccount", "smp-sa"], {
      secrets: [{ $patch: "replace" }, { name: "r1" }, { name: "r2" }],
    });
    assert.deepEqual(names(sa.secrets), ["r1", "r2"]);
    sa = await patch(["serviceaccount", "smp-sa"], {
      metadata: { finalizers: ["example.com/b"] },
    });
    // merged as a set; the new item goes first (no $setElementOrder: apimachinery keeps only the live
    // items' relative order)
    assert.deepEqual(sa.metadata.finalizers, ["example.com/b", "example.com/a"]);
    sa = await patch(["serviceaccount", "smp-sa"], {
      metadata: { "$deleteFromPrimitiveList/finalizers": ["example.com/b"] },
    });
    assert.deepEqual(sa.metadata.finalizers, ["example.com/a"]);
    sa = await patch(["serviceaccount", "smp-sa"], {
      metadata: { "$deleteFromPrimitiveList/finalizers": ["example.com/a"] },
    });
    assert.equal(sa.metadata.finalizers, undefined, "an emptied list is omitted");

    let cm = await patch(["configmap", "smp-cm"], { data: { $patch: "replace", x: "9" } });
    assert.deepEqual(cm.data, { x: "9" });
    const pod = await patch(["pod", "smp"], { metadata: { labels: { $patch: "delete" } } });
    assert.equal(pod.metadata.labels, undefined);
    cm = await patch(["configmap", "smp-cm"], { data: { a: "1", b: "2", c: "3" } });
    assert.deepEqual(cm.data, { a: "1", b: "2", c: "3", x: "9" });
  });

  test("$retainKeys keeps only the keys it names; a patched key it does not name is 400", async () => {
    const cm = await patch(["configmap", "smp-cm"], { data: { $retainKeys: ["a", "b"], b: "22" } });
    assert.deepEqual(cm.data, { a: "1", b: "22" });
    const err = await patchFails(["configmap", "smp-cm"], { data: { $retainKeys: ["a"], b: "3" } });
    assert.equal(err, "Error from server (BadRequest): invalid patch format of retainKeys");
  });

  test("a merged list is ordered as the server orders it: patched items in the patch's order, the others where they were; $setElementOrder wins", async () => {
    await patch(["serviceaccount", "smp-sa"], {
      secrets: [{ $patch: "replace" }, { name: "a" }, { name: "b" }, { name: "c" }],
    });
    let sa = await patch(["serviceaccount", "smp-sa"], { secrets: [{ name: "c" }, { name: "a" }] });
    assert.deepEqual(names(sa.secrets), ["b", "c", "a"]);
    sa = await patch(["serviceaccount", "smp-sa"], { secrets: [{ name: "d" }, { name: "b" }] });
    assert.deepEqual(names(sa.secrets), ["d", "b", "c", "a"]);
    sa = await patch(["serviceaccount", "smp-sa"], {
      "$setElementOrder/secrets": [{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d" }, { name: "e" }],
      secrets: [{ name: "e" }],
    });
    assert.deepEqual(names(sa.secrets), ["a", "b", "c", "d", "e"]);
  });

  test("an item without the list's merge key is the API server's plain error (500)", async () => {
    const err = await patchFails(["serviceaccount", "smp-sa"], { secrets: [{ namespace: "x" }] });
    assert.equal(err, "Error from server: map: map[namespace:x] does not contain declared merge key: name");
  });

  test("a ValidatingAdmissionPolicy's matchConditions and variables merge by name (the generated table, not only the kinds Flotilla writes)", async () => {
    await apply({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: "smp-policy" },
      spec: {
        matchConstraints: {
          resourceRules: [
            { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] },
          ],
        },
        matchConditions: [{ name: "m1", expression: "true" }],
        variables: [{ name: "v1", expression: "1" }],
        validations: [{ expression: "true" }],
      },
    });
    const policy = await patch(["validatingadmissionpolicy", "smp-policy"], {
      spec: {
        matchConditions: [{ name: "m2", expression: "true" }],
        variables: [{ name: "v1", expression: "2" }],
        validations: [{ expression: "1 == 1" }],
      },
    });
    // a new item goes before the live ones it was not compared with, as apimachinery's mergeSortedSlice puts it
    assert.deepEqual(names(policy.spec.matchConditions), ["m2", "m1"]);
    assert.deepEqual(policy.spec.variables, [{ name: "v1", expression: "2" }]);
    assert.deepEqual(
      policy.spec.validations,
      [{ expression: "1 == 1" }],
      "validations have no strategy: atomic",
    );
  });
});
