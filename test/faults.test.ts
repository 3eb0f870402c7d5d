// The fault matrix: one case per fault a user meets, each asserting the exit code, the summary and
// what is left behind (processes, temp folders). Every CLI runs with its own TMPDIR, so a
// flotilla-broker-* folder left there is this run's; every process it started is found in /proc
// while it runs and must be gone (or a zombie nobody reaps) after.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { assertNothingLeft, cleanupClis, startCli, stillRunning, trackDir } from "./helpers/fault-cli.ts";

after(cleanupClis);

describe("fault matrix", { timeout: 600_000 }, () => {
  test("a task that never settles: the CLI waits (no exit 13); SIGTERM cancels, the summary shows it Running, exit 1", async () => {
    const cli = await startCli(["run", "test/fixtures/faults-never-settles.ts"]);
    await cli.waitFor(/quick Success/);
    // the run is not over: the CLI used to end here with exit 13 and no message
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(cli.child.exitCode, null, `the CLI ended by itself: ${cli.stderr()}`);
    cli.child.kill("SIGTERM");
    assert.equal(await cli.exit(), 1);
    assert.match(cli.stderr(), /SIGTERM: cancelling the run/);
    assert.match(cli.stdout(), /^stuck\s+Running\s+1\s/m);
    assert.match(cli.stdout(), /^quick\s+Success\s/m);
    assert.match(cli.stdout(), /Flow run "never-settles" Failed: the run was cancelled/);
    await assertNothingLeft(cli);
  });

  test("SIGTERM to flotilla run --workers with a task in a CPU loop: exit 1, summary, worker SIGKILLed after the grace", async (t) => {
    const pids = path.join(await mkdtemp(path.join(tmpdir(), "flotilla-faults-pids-")), "pids");
    trackDir(path.dirname(pids));
    const cli = await startCli(["run", "test/fixtures/faults-cpu-loop.ts", "--workers", "1:1"], {
      FAULTS_PID_FILE: pids,
    });
    await cli.waitFor(/workers: 1 running/);
    const deadline = Date.now() + 30_000;
    while (!existsSync(pids) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(pids), "the task started");
    const worker = Number(readFileSync(pids, "utf8").trim());
    const t0 = Date.now();
    cli.child.kill("SIGTERM");
    assert.equal(await cli.exit(), 1);
    t.diagnostic(`SIGTERM to exit with a CPU-bound worker: ${Date.now() - t0} ms`);
    assert.match(cli.stdout(), /Flow run "cpu-loop" Failed: the run was cancelled/);
    assert.deepEqual(stillRunning([worker]), [], "the CPU-bound worker is gone");
    await assertNothingLeft(cli);
  });

  test("two Ctrl-C to flotilla run --workers with a task in a CPU loop: exit 130 at once, nothing left", async (t) => {
    const pids = path.join(await mkdtemp(path.join(tmpdir(), "flotilla-faults-pids-")), "pids");
    trackDir(path.dirname(pids));
    const cli = await startCli(["run", "test/fixtures/faults-cpu-loop.ts", "--workers", "1:1"], {
      FAULTS_PID_FILE: pids,
    });
    await cli.waitFor(/workers: 1 running/);
    const deadline = Date.now() + 30_000;
    while (!existsSync(pids) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const worker = Number(readFileSync(pids, "utf8").trim());
    const t0 = Date.now();
    cli.child.kill("SIGINT");
    await cli.waitFor(/SIGINT: cancelling the run/);
    cli.child.kill("SIGINT");
    assert.equal(await cli.exit(), 130);
    t.diagnostic(`second Ctrl-C to exit: ${Date.now() - t0} ms`);
    assert.match(cli.stderr(), /SIGINT again: stopping now/);
    await assertNothingLeft(cli);
    assert.deepEqual(stillRunning([worker]), [], "the CPU-bound worker is gone");
  });

  test("a worker that runs out of memory is reported as that; its task run is retried on a new worker", async () => {
    const markerDir = await mkdtemp(path.join(tmpdir(), "flotilla-faults-oom-"));
    trackDir(markerDir);
    const cli = await startCli(
      ["run", "test/fixtures/faults-oom-once.ts", "--workers", "1:1", "--output", "json"],
      {
        FAULTS_OOM_MARKER: path.join(markerDir, "hit"),
        NODE_OPTIONS: "--max-old-space-size=128",
      },
    );
    assert.equal(await cli.exit(180_000), 0, cli.stderr());
    assert.match(cli.stderr(), /exited: ran out of memory \(JavaScript heap out of memory\)/);
    const doc = JSON.parse(cli.stdout()) as { state: string; tasks: { task: string; attempts: number }[] };
    assert.equal(doc.state, "Success");
    assert.equal(doc.tasks[0]?.attempts, 2, "the attempt lost with the worker is counted");
    await assertNothingLeft(cli);
  });

  test("the broker dies mid-run: the run fails naming the broker, exit 1, no worker or broker left", async () => {
    const cli = await startCli(["run", "test/fixtures/faults-never-settles.ts", "--workers", "1:1"]);
    await cli.waitFor(/workers: 1 running/);
    const redis = [...cli.descendants()].find((p) => {
      try {
        return /redis-server/.test(readFileSync(`/proc/${p}/cmdline`, "utf8"));
      } catch {
        return false;
      }
    });
    assert.ok(redis !== undefined, "found the run's redis-server");
    process.kill(redis, "SIGKILL");
    assert.equal(await cli.exit(), 1);
    assert.match(cli.stdout(), /Flow run "never-settles" Failed: lost the broker/);
    await assertNothingLeft(cli);
  });

  test("an error raised while loading a flow file reaches the user whole: every field, did-you-mean, file:line:col", async () => {
    const cli = await startCli(["run", "test/fixtures/faults-bad-env.ts"]);
    assert.equal(await cli.exit(), 1);
    const err = cli.stderr();
    assert.match(
      err,
      /cannot load flow file test\/fixtures\/faults-bad-env\.ts: .*invalid options \(at test\/fixtures\/faults-bad-env\.ts:\d+:\d+\)/,
    );
    assert.match(err, /maxWorkers: must be >= 0/);
    assert.match(err, /Unrecognized key: "minWorkrs" \(did you mean "minWorkers"\?\)/);
    await assertNothingLeft(cli);
  });

  test("a folder given as a flow file says it is a folder (exit 2)", async () => {
    const cli = await startCli(["run", "test/fixtures"]);
    assert.equal(await cli.exit(), 2);
    assert.match(cli.stderr(), /flow file test\/fixtures is a folder, not a file/);
  });

  test("flotilla sim --kubeconfig <a folder> exits 2 at once, starting nothing", async () => {
    const cli = await startCli(["sim", "--kubeconfig", "test/fixtures"]);
    assert.equal(await cli.exit(30_000), 2);
    assert.match(cli.stderr(), /--kubeconfig test\/fixtures: is a folder, not a file/);
    await assertNothingLeft(cli);
  });
});
