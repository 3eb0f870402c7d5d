// kube-sim where fakes most often differ from a real API server, driven by @kubernetes/client-node and
// raw HTTP as clients send it: query-parameter parsing, server-side defaults, nodes, patches.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { KubeSim } from "../src/testing/index.ts";

let sim: KubeSim;
let core: k8s.CoreV1Api;

before(async () => {
  sim = await KubeSim.start({ capacity: { cpu: "4", memory: "16Gi" } });
  core = sim.kubeConfig().makeApiClient(k8s.CoreV1Api);
});
after(() => sim.stop());

/** raw request as the admin, with a deadline */
async function request(
  path: string,
  init: { method?: string; body?: string; contentType?: string } = {},
): Promise<{ status: number; text: string; contentType: string }> {
  const res = await fetch(`${sim.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
      ...(init.contentType ? { "Content-Type": init.contentType } : {}),
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text(), contentType: res.headers.get("content-type") ?? "" };
}

describe("kube-sim fidelity", { timeout: 60_000 }, () => {
  describe("query parameters as the API server converts them", () => {
    before(async () => {
      await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "q1" } } });
    });

    for (const value of ["true", "True", "TRUE", "1", "t", "yes", ""]) {
      test(`watch=${JSON.stringify(value)} is a watch (only absent, "0" and "false" in any case are false)`, async () => {
        const res = await request(
          `/api/v1/namespaces/default/configmaps?watch=${encodeURIComponent(value)}&timeoutSeconds=1`,
        );
        assert.equal(res.status, 200);
        const events = res.text
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as { type: string; object: { metadata: { name: string } } });
        assert.deepEqual(
          events.map((e) => `${e.type} ${e.object.metadata.name}`),
          ["ADDED q1"],
        );
      });
    }

    for (const value of ["false", "False", "FALSE", "0"]) {
      test(`watch=${value} is a list`, async () => {
        const res = await request(`/api/v1/namespaces/default/configmaps?watch=${value}`);
        assert.equal(res.status, 200);
        const list = JSON.parse(res.text) as { kind: string; items: unknown[] };
        assert.equal(list.kind, "ConfigMapList");
      });
    }

    test("an integer parameter that is not base-10 digits is 400 with Go's ParseInt error", async () => {
      for (const value of ["abc", "1e1", "0x10", " 5", "1.5"]) {
        const res = await request(`/api/v1/namespaces/default/configmaps?limit=${encodeURIComponent(value)}`);
        assert.equal(res.status, 400, value);
        const status = JSON.parse(res.text) as { reason: string; message: string };
        assert.equal(status.reason, "BadRequest");
        assert.equal(status.message, `strconv.ParseInt: parsing ${JSON.stringify(value)}: invalid syntax`);
      }
      const ok = await request("/api/v1/namespaces/default/configmaps?limit=%2B1");
      assert.equal(ok.status, 200);
    });
  });

  describe("JSON Patch (RFC 6902) as the API server applies it", () => {
    const patch = (name: string, ops: unknown) =>
      request(`/api/v1/namespaces/default/configmaps/${name}`, {
        method: "PATCH",
        contentType: "application/json-patch+json",
        body: JSON.stringify(ops),
      });
    before(async () => {
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "jp", finalizers: ["a/x", "b/y", "c/z"] }, data: { a: "1", b: "2" } },
      });
    });
    after(async () => {
      await patch("jp", [{ op: "remove", path: "/metadata/finalizers" }]);
    });

    test("test compares by value (key order does not matter), then the next operations apply", async () => {
      const res = await patch("jp", [
        { op: "test", path: "/data", value: { b: "2", a: "1" } },
        { op: "replace", path: "/data/a", value: "3" },
      ]);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(JSON.parse(res.text).data, { a: "3", b: "2" });
    });

    test("a failed test, a missing path or an index like 1e0 is the API server's generic 422", async () => {
      for (const ops of [
        [{ op: "test", path: "/data/a", value: "nope" }],
        [{ op: "replace", path: "/data/missing", value: "x" }],
        [{ op: "remove", path: "/metadata/finalizers/1e0" }],
        [{ op: "remove", path: "/metadata/finalizers/ 1" }],
        [{ op: "frobnicate", path: "/data" }],
      ]) {
        const res = await patch("jp", ops);
        assert.equal(res.status, 422, JSON.stringify(ops));
        assert.equal(
          res.text,
          `${JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Failure",
            message: "the server rejected our request due to an error in our request",
            reason: "Invalid",
            details: {},
            code: 422,
          })}\n`,
        );
      }
      const cm = await core.readNamespacedConfigMap({ namespace: "default", name: "jp" });
      assert.deepEqual(cm.metadata?.finalizers, ["a/x", "b/y", "c/z"], "nothing applied");
    });

    test("array indexes are read as Go's Atoi reads them: 01 is 1, -1 is the last", async () => {
      const res = await patch("jp", [
        { op: "remove", path: "/metadata/finalizers/01" },
        { op: "replace", path: "/metadata/finalizers/-1", value: "d/w" },
      ]);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(JSON.parse(res.text).metadata.finalizers, ["a/x", "d/w"]);
    });

    test("a body that is not a list of operations is 400", async () => {
      const res = await patch("jp", { op: "add" });
      assert.equal(res.status, 400);
      assert.equal(
        JSON.parse(res.text).message,
        "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
      );
    });
  });

  describe("nodes", () => {
    test("the node is listable and readable by name, with the capacity the sim was given", async () => {
      const list = await core.listNode();
      assert.deepEqual(
        list.items.map((n) => n.metadata?.name),
        ["kube-sim-node"],
      );
      const node = await core.readNode({ name: "kube-sim-node" });
      assert.equal(node.kind, "Node");
      assert.equal(node.status?.capacity?.cpu, "4");
      assert.equal(node.status?.allocatable?.memory, "16Gi");
      assert.equal(node.metadata?.labels?.["kubernetes.io/hostname"], "kube-sim-node");
      const ready = node.status?.conditions?.find((c) => c.type === "Ready");
      assert.equal(ready?.status, "True");
      assert.equal(node.status?.nodeInfo?.kubeletVersion, "v1.32.4");
      const missing = await request("/api/v1/nodes/nope");
      assert.equal(missing.status, 404);
      assert.equal(JSON.parse(missing.text).message, 'nodes "nope" not found');
    });

    test("a scheduled pod names that node", async () => {
      await core.createNamespacedPod({
        namespace: "default",
        body: {
          metadata: { name: "bound" },
          spec: { containers: [{ name: "c", image: "nope.example/none:1" }] },
        },
      });
      const pod = await sim.waitFor("pods", "default", "bound", (p) => Boolean(p?.spec?.nodeName));
      await core.readNode({ name: pod.spec.nodeName });
      await core.deleteNamespacedPod({ namespace: "default", name: "bound", gracePeriodSeconds: 0 });
    });
  });
});
