// Spec files: loaded at construction, relative to the flow file or as a URL; YAML, kind, schema
// and unknown-field errors name file:line:col and the field.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Pod } from "kubernetes-models/v1";
import { FlotillaError } from "../src/core/errors.ts";
import { KubeClusterEnvironment } from "../src/kubernetes/environment.ts";
import { callerDirectory, parseSpec, WORKER_SPEC_RULE } from "../src/kubernetes/spec-files.ts";

const parse = (yaml: string) =>
  parseSpec(yaml, "w.yaml", WORKER_SPEC_RULE, (o) => new Pod(o as never).validate()).value;
const fails = (yaml: string, re: RegExp) =>
  assert.throws(
    () => parse(yaml),
    (e: unknown) => e instanceof FlotillaError && e.code === "FLOTILLA_SPEC_INVALID" && re.test(e.message),
  );

describe("spec files", { timeout: 30_000 }, () => {
  test("a relative path resolves against the calling module's directory (this test file)", () => {
    const env = new KubeClusterEnvironment({ schedulerSpecFile: "fixtures/kube-specs/scheduler.yaml" });
    assert.equal(env.specs.scheduler!.job.metadata!.labels!.team, "data");
    assert.match(env.baseDirectory, /[\\/]test$/);
  });

  test("a URL is taken as is", () => {
    const env = new KubeClusterEnvironment({
      workerSpecFile: new URL("../examples/seed-custom-worker/worker_spec.yaml", import.meta.url),
    });
    assert.equal(env.specs.worker!.replicas, 2);
    assert.equal(env.specs.worker!.pod.apiVersion, "v1", "missing apiVersion accepted when kind matches");
  });

  test("callerDirectory skips frames inside src/kubernetes", () => {
    const stack =
      "Error\n    at new X (file:///p/src/kubernetes/environment.ts:10:5)\n    at file:///home/u/proj/flows/etl.ts:3:1";
    assert.equal(callerDirectory(stack), "/home/u/proj/flows");
  });

  test("unknown fields are named with line:col", () => {
    assert.throws(
      () => new KubeClusterEnvironment({ workerSpecFile: "fixtures/kube-specs/typo-worker.yaml" }),
      (e: unknown) =>
        e instanceof FlotillaError &&
        /typo-worker\.yaml:5:7: unknown field "spec\.containers\[0\]\.imagePullPolicyy"/.test(e.message),
    );
  });

  test("a missing file names it and how relative paths resolve", () => {
    assert.throws(
      () => new KubeClusterEnvironment({ workerSpecFile: "nope.yaml" }),
      /nope\.yaml: cannot read.*\n?/,
    );
  });

  test("wrong kind, wrong apiVersion, bad YAML, schema errors", () => {
    fails("apiVersion: batch/v1\nkind: Job\n", /w\.yaml:2:1: kind must be "Pod".*got "Job"/);
    fails("apiVersion: apps/v1\nkind: Pod\nspec: { containers: [{ name: a }] }\n", /apiVersion must be "v1"/);
    fails("kind: Pod\nspec:\n  containers: [\n  x: : y\n", /w\.yaml:\d+:\d+: invalid YAML/);
    fails(
      "kind: Pod\nspec:\n  containers:\n    - name: a\n      resources: { limits: { cpu: lots } }\n",
      /w\.yaml:5:\d+: spec\.containers\[0\]\.resources\.limits\.cpu must match format "quantity"/,
    );
    fails(
      "kind: Pod\nspec:\n  containers:\n    - name: a\n      imagePullPolicy: Sometimes\n",
      /must be one of "Always", "IfNotPresent", "Never"/,
    );
    fails("kind: Pod\nspec:\n  restartPolicy: Never\n", /spec\.containers is required/);
    fails("kind: Pod\n---\nkind: Pod\n", /exactly one YAML document, found 2/);
  });

  test("spec.replicas must be a non-negative integer", () => {
    assert.throws(
      () => new KubeClusterEnvironment({ workerSpecFile: "fixtures/kube-specs/bad-replicas.yaml" }),
      /bad-replicas\.yaml: spec\.replicas must be a non-negative integer, got -1/,
    );
  });
});
