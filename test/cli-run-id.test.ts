// Run ids as users type them (the 8 characters every log line shows), and the run-facing -o
// options, through the real bin against kube-sim; resolveRunId's cases directly.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { resolveRunId } from "../src/core/run-id.ts";
import { KubeSim } from "../src/testing/index.ts";
import { assertUserError, cli } from "./helpers/cli.ts";

const ids = [
  "7f88e4ba-200c-4c6c-b173-0913398c29fb",
  "7f88e4bb-0000-4c6c-b173-0913398c29fb",
  "0a1b2c3d-1111-4c6c-b173-0913398c29fb",
];

describe("resolveRunId", { timeout: 10_000 }, () => {
  it("the full id, or a unique prefix, names one run", () => {
    assert.equal(resolveRunId(ids[0]!, ids), ids[0]);
    assert.equal(resolveRunId("0a1b2c3d", ids), ids[2]);
  });
  it("an ambiguous prefix lists the candidates on one line", () => {
    assert.throws(
      () => resolveRunId("7f88e4b", ids, ' in namespace "default"'),
      (e: Error) => {
        assert.equal(e.message.split("\n").length, 1);
        assert.match(
          e.message,
          /run id prefix 7f88e4b matches 2 runs in namespace "default": 7f88e4ba-.*, 7f88e4bb-.*; give more characters/,
        );
        return true;
      },
    );
  });
  it("a prefix that matches nothing says so", () => {
    assert.throws(() => resolveRunId("ffff", ids), /no run ffff: no run id starts with it/);
  });
});

describe("runs and doctor from the CLI (kube-sim)", { timeout: 120_000 }, () => {
  let sim: KubeSim;
  before(async () => {
    sim = await KubeSim.start({});
  });
  after(() => sim?.stop());

  it("runs get with a prefix that matches no run: one error line, exit 2", async () => {
    const r = await cli(["runs", "get", "deadbeef", "--kubeconfig", sim.kubeconfigPath]);
    assertUserError(
      r,
      2,
      /no run deadbeef in namespace "default" \(context kube-sim\): no run id starts with it/,
    );
  });
  it("doctor -o json prints every check, missing ones included", async () => {
    const r = await cli(["doctor", "-o", "json", "--kubeconfig", sim.kubeconfigPath]);
    const doc = JSON.parse(r.stdout) as {
      actor: string;
      checks: { permission: string; allowed: boolean }[];
      missing: string[];
    };
    assert.equal(doc.actor, "launcher");
    assert.ok(doc.checks.length > 0);
    assert.equal(r.code, doc.missing.length > 0 ? 1 : 0, r.stderr);
  });
});
