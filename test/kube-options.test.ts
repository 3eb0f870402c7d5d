// KubeClusterEnvironment options: defaults, validation errors naming the field, warnings.

import assert from "node:assert/strict";
import { test } from "node:test";
import { FlotillaError } from "../src/core/errors.ts";
import { KubeClusterEnvironment } from "../src/kubernetes/environment.ts";

const invalid = (options: object, re: RegExp) =>
  assert.throws(
    () => new KubeClusterEnvironment(options as never),
    (e: unknown) => e instanceof FlotillaError && e.code === "FLOTILLA_OPTIONS_INVALID" && re.test(e.message),
  );

test("the seed's defaults: 1..2 workers, no private registry, DOCKER_REGISTRY_CREDENTIALS", {
  timeout: 30_000,
}, () => {
  const { options, warnings } = new KubeClusterEnvironment();
  assert.equal(options.minWorkers, 1);
  assert.equal(options.maxWorkers, 2);
  assert.equal(options.privateRegistry, false);
  assert.equal(options.dockerSecret, "DOCKER_REGISTRY_CREDENTIALS");
  assert.equal(options.brokerImage, "redis:7.0.15-alpine");
  assert.equal(options.serviceAccountName, "flotilla-runner");
  assert.deepEqual(warnings, []);
});

test("invalid options are named, all at once", { timeout: 30_000 }, () => {
  invalid({ minWorkers: 1.5 }, /minWorkers: must be an integer/);
  invalid({ maxWorkers: 0 }, /maxWorkers: must be >= 1/);
  invalid({ minWorkers: 3, maxWorkers: 2 }, /minWorkers \(3\) must be <= maxWorkers \(2\)/);
  invalid(
    { idleTimeoutMs: -1, workerStartTimeoutMs: -5 },
    /workerStartTimeoutMs: must be > 0\n {2}idleTimeoutMs: must be >= 0/,
  );
  invalid(
    { workerResources: { requests: { cpu: "lots" } } },
    /workerResources\.requests\.cpu: must be a Kubernetes quantity/,
  );
  invalid({ namespace: "Team_A" }, /namespace: must be a DNS-1123 label/);
  invalid({ maxWorker: 3 }, /Unrecognized key.*maxWorker.*did you mean "maxWorkers"/i);
});

test("minWorkers == maxWorkers is a fixed-size cluster; 0 minimum allowed", { timeout: 30_000 }, () => {
  assert.equal(new KubeClusterEnvironment({ minWorkers: 3, maxWorkers: 3 }).options.maxWorkers, 3);
  assert.equal(new KubeClusterEnvironment({ minWorkers: 0 }).options.minWorkers, 0);
});

test("dockerSecret without privateRegistry is a warning, not an error", { timeout: 30_000 }, () => {
  const env = new KubeClusterEnvironment({ dockerSecret: "MY_CREDS" });
  assert.match(env.warnings.join(), /dockerSecret "MY_CREDS" is ignored because privateRegistry is false/);
});
