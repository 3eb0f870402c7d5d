// The runner's termination message stays within the kubelet's 4 KB however many tasks failed, and
// API errors are translated into messages naming the verb, resource, namespace and fix.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { FlowRunState } from "../src/core/states.ts";
import { translateApiError } from "../src/kubernetes/errors.ts";
import {
  decodeTermination,
  encodeTermination,
  summarize,
  TERMINATION_MESSAGE_MAX_BYTES,
} from "../src/kubernetes/termination.ts";

const state = (failures: number, messageLength: number): FlowRunState => ({
  type: "Failed",
  message: "Some reference tasks failed.",
  flow: "f",
  runId: "r",
  startedAt: 1,
  finishedAt: 2,
  taskRuns: Object.fromEntries(
    Array.from({ length: failures }, (_, i) => [
      `task-${i}`,
      { state: { type: "Failed", message: "x".repeat(messageLength) }, attempts: 1 },
    ]),
  ),
});

test("a small state round-trips with every task's state type", { timeout: 30_000 }, () => {
  const s = decodeTermination(encodeTermination(summarize(state(2, 20))))!;
  assert.equal(s.type, "Failed");
  assert.deepEqual(s.counts, { Failed: 2 });
  assert.deepEqual(s.tasks, {
    "task-0": { s: "Failed", a: 1, d: null },
    "task-1": { s: "Failed", a: 1, d: null },
  });
  assert.equal(s.failed[0]!.message, "x".repeat(20));
});

test("attempts, durations and a mapped task's children by state travel in the message", {
  timeout: 30_000,
}, () => {
  const mapped: FlowRunState = {
    type: "Success",
    message: "All reference tasks succeeded.",
    flow: "f",
    runId: "r",
    startedAt: 1,
    finishedAt: 900,
    taskRuns: {
      load: {
        state: { type: "Success", result: "secret-ish result" },
        attempts: 3,
        startedAt: 100,
        finishedAt: 350,
      },
      double: {
        state: {
          type: "Mapped",
          children: [
            { state: { type: "Success", result: 1 }, attempts: 1, startedAt: 10, finishedAt: 20 },
            { state: { type: "Skipped", message: "no data" }, attempts: 2, startedAt: 15, finishedAt: 40 },
          ],
        },
        attempts: 0,
      },
    },
  };
  const text = encodeTermination(summarize(mapped));
  assert.doesNotMatch(text, /secret-ish/, "results never leave the runner");
  assert.deepEqual(decodeTermination(text)!.tasks, {
    load: { s: "Success", a: 3, d: 250 },
    double: { s: "Mapped", a: 3, d: 30, c: { Success: 1, Skipped: 1 } },
  });
});

test("a huge failure stays within 4 KB, still valid JSON with the counts", { timeout: 30_000 }, () => {
  for (const [n, len] of [
    [1, 100_000],
    [500, 2_000],
    [5_000, 10],
  ] as const) {
    const text = encodeTermination(summarize(state(n, len)));
    assert.ok(
      Buffer.byteLength(text) <= TERMINATION_MESSAGE_MAX_BYTES,
      `${n}x${len}: ${Buffer.byteLength(text)} bytes`,
    );
    const s = decodeTermination(text)!;
    assert.equal(s.type, "Failed");
  }
});

test("not ours: undefined", { timeout: 30_000 }, () => {
  assert.equal(decodeTermination("Error: boom"), undefined);
  assert.equal(decodeTermination(undefined), undefined);
});

test("403: names the verb, the resource, the namespace and flotilla rbac", { timeout: 30_000 }, () => {
  const err = Object.assign(new Error("HTTP-Code: 403"), {
    code: 403,
    body: JSON.stringify({
      kind: "Status",
      reason: "Forbidden",
      message: 'pods is forbidden: User "x" cannot create resource "pods"',
    }),
  });
  const e = translateApiError(err, { verb: "create", resource: "pods", namespace: "team", name: "w1" });
  assert.equal(e.code, "FLOTILLA_KUBERNETES");
  assert.match(
    e.message,
    /create pods "w1" in namespace "team" is forbidden \(403\): missing permission "create" on "pods"/,
  );
  assert.match(e.hint ?? "", /flotilla rbac -n team \| kubectl apply -f -/);
});

test("422 and network errors say what to do", { timeout: 30_000 }, () => {
  const invalid = translateApiError(
    { code: 422, body: '{"message":"spec.containers[0].foo: unknown field"}' },
    { verb: "create", resource: "jobs.batch", namespace: "ns" },
  );
  assert.match(invalid.message, /rejected as invalid \(422\): spec\.containers\[0\]\.foo: unknown field/);
  const down = translateApiError(new Error("connect ECONNREFUSED 127.0.0.1:6443"), {
    verb: "list",
    resource: "pods",
    namespace: "ns",
  });
  assert.match(down.message, /list pods in namespace "ns" failed: connect ECONNREFUSED/);
  assert.match(down.hint ?? "", /kubectl cluster-info/);
});
