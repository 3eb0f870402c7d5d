// Faults of `flotilla run --sim`, as a user meets them: SIGTERM does what Ctrl-C does — the run is
// cancelled, the summary printed, the CLI exits 1 — and every pod process and the embedded kube-sim
// are stopped, with no kube-sim-* or flotilla-broker-* folder left in the CLI's TMPDIR.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { assertNothingLeft, cleanupClis, startCli } from "./helpers/fault-cli.ts";

after(cleanupClis);

describe("flotilla run --sim faults", { timeout: 300_000 }, () => {
  test("SIGTERM while workers run: cancelled, summary, exit 1, every pod and the simulator stopped, no temp folder left", async (t) => {
    const cli = await startCli([
      "run",
      "test/fixtures/kube-flows/slow.ts",
      "--sim",
      "--param",
      "n=2",
      "--param",
      "sleepMs=120000",
    ]);
    // the runner reports its workers (relayed to the CLI): the run is under way on its pods
    await cli.waitFor(/workers: [1-9]/, 180_000);
    const t0 = Date.now();
    cli.child.kill("SIGTERM");
    assert.equal(await cli.exit(120_000), 1, cli.stderr());
    t.diagnostic(`SIGTERM to exit of flotilla run --sim: ${Date.now() - t0} ms`);
    assert.match(cli.stderr(), /SIGTERM: cancelling the run/);
    assert.match(cli.stdout(), /Flow run "kube-slow" Failed: run cancelled/);
    // the launch was shown step by step, and the summary gives the time the user waited
    assert.match(cli.stderr(), /Job flotilla-kube-slow-\w+ created in namespace default/);
    assert.match(cli.stderr(), /runner pod \S+ scheduled/);
    assert.match(cli.stderr(), /runner pod \S+: broker ready/);
    assert.match(cli.stdout(), /Waited \d+(\.\d)? s in all/);
    await assertNothingLeft(cli);
  });
});
