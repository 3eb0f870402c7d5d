// The CLI as a user meets it: exit codes, summaries, and one clear line for each user error.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { cli as flotilla } from "./helpers/cli.ts";

/** `flotilla ...args` with `extraEnv`. */
const cli = (args: string[], timeoutMs = 30_000, extraEnv: NodeJS.ProcessEnv = {}) =>
  flotilla(args, { env: extraEnv, timeoutMs });

/** Pids of live processes started with TMPDIR=dir (Linux /proc; elsewhere none can be seen). */
async function processesWithTmp(dir: string): Promise<number[]> {
  const pids = await readdir("/proc").catch(() => [] as string[]);
  const found: number[] = [];
  for (const pid of pids.filter((p) => /^\d+$/.test(p))) {
    const environ = await readFile(`/proc/${pid}/environ`, "latin1").catch(() => "");
    if (environ.split("\0").includes(`TMPDIR=${dir}`)) found.push(Number(pid));
  }
  return found;
}

/** A user error: exit 2 (or 1), one "error:" line, no stack trace. */
function assertUserError(r: { code: number | null; stderr: string }, code: number, pattern: RegExp) {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace without --debug");
  assert.equal(r.stderr.match(/^error:/gm)?.length, 1, r.stderr);
}

describe("flotilla run", () => {
  it("runs a flow, prints the summary table and exits 0", async () => {
    const r = await cli(["run", "examples/hello.ts", "--param", "name=tests"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TASK\s+STATE\s+ATTEMPTS\s+DURATION$/m);
    assert.match(r.stdout, /^greet\s+Success\s+1\s/m);
    assert.match(r.stdout, /Flow run "hello" Success/);
    assert.match(r.stderr, /HELLO, TESTS!/);
  });

  it("exits 1 on a failed run and names the failed task", async () => {
    const r = await cli(["run", "test/fixtures/cli-failing.ts"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^bad\s+Failed: the warehouse is down\s+1/m);
    assert.match(r.stdout, /Flow run "failing" Failed: Some reference tasks failed: bad \(Failed\)/);
  });

  it("never prints a secret a failed task quoted, in the table or in JSON", async () => {
    const token = "tok-5ecret-value-9f3a";
    for (const format of ["table", "json"]) {
      const r = await cli(["run", "test/fixtures/cli-secret-failing.ts", "--output", format], 30_000, {
        FLOTILLA_SECRET_API_TOKEN: token,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /the API refused token \[redacted\]/);
      assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token), `${format} output leaked the secret`);
    }
  });

  it("--output json prints a document for scripts", async () => {
    const r = await cli(["run", "examples/etl.ts", "--param", "records=30", "--output", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.state, "Success");
    const report = doc.tasks.find((t: { task: string }) => t.task === "report");
    assert.deepEqual(report.result.rows, 30);
    const load = doc.tasks.find((t: { task: string }) => t.task === "load");
    assert.deepEqual(load.children, { Success: 2 });
    assert.equal(load.attempts, 3, "batch 0 fails once and is retried");
  });

  it("--workers runs the flow on worker processes: exit 0, the same results, nothing of it left", async () => {
    // the run's own temp folder: its broker's and workers' files land there, and only there
    const tmp = await mkdtemp(path.join(tmpdir(), "flotilla-cli-workers-"));
    try {
      const r = await cli(
        ["run", "examples/etl.ts", "--param", "records=30", "--workers", "2:2", "--output", "json"],
        120_000,
        { TMPDIR: tmp },
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.state, "Success");
      assert.equal(doc.tasks.find((t: { task: string }) => t.task === "report").result.rows, 30);
      assert.deepEqual(doc.tasks.find((t: { task: string }) => t.task === "load").children, { Success: 2 });
      assert.match(r.stderr, /\[report @w\d+-/, "task logs carry the worker that ran them");
      assert.match(r.stderr, /workers: 0 running/, "every worker retired before exit");
      // flotilla-code-cache-<uid> is V8's code cache of the queue library, kept across runs in the
      // temp folder as Node's own compile cache is: not a file of this run
      const left = (await readdir(tmp)).filter(
        (name) =>
          (name.startsWith("flotilla") || name.startsWith("kube-sim")) &&
          !name.startsWith("flotilla-code-cache-"),
      );
      assert.deepEqual(left, [], "no broker or worker folder left");
      assert.deepEqual(await processesWithTmp(tmp), [], "no broker or worker process left");
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("--params-file and --param (which wins)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "flotilla-cli-"));
    const file = path.join(dir, "p.json");
    await writeFile(file, JSON.stringify({ name: "from-file" }));
    const r = await cli(["run", "examples/hello.ts", "--params-file", file, "--output", "json"]);
    assert.equal(JSON.parse(r.stdout).tasks[0].result, "Hello, from-file!");
    const r2 = await cli([
      "run",
      "examples/hello.ts",
      "--params-file",
      file,
      "--param",
      "name=argv",
      "--output",
      "json",
    ]);
    assert.equal(JSON.parse(r2.stdout).tasks[0].result, "Hello, argv!");
  });
});

describe("user errors: one clear message, no stack trace", () => {
  it("missing flow file", async () => {
    assertUserError(await cli(["run", "nope.ts"]), 2, /error: flow file not found: nope\.ts/);
  });
  it("a module that exports no flow", async () => {
    assertUserError(await cli(["run", "test/fixtures/cli-no-flow.ts"]), 2, /exports no Flow/);
  });
  it("a syntax error in the flow file names the file and line", async () => {
    assertUserError(
      await cli(["run", "test/fixtures/cli-syntax-error.ts"]),
      1,
      /cannot load flow file test\/fixtures\/cli-syntax-error\.ts: syntax error at test\/fixtures\/cli-syntax-error\.ts:3:12: Unexpected ";"/,
    );
  });
  it("a flow module that throws while loading", async () => {
    assertUserError(
      await cli(["run", "test/fixtures/cli-throws-at-load.ts"]),
      1,
      /cannot load flow file .*: cannot reach the config service \(at test\/fixtures\/cli-throws-at-load\.ts:3:7\)/,
    );
  });
  it("two flows and no --flow lists them", async () => {
    const r = await cli(["run", "test/fixtures/cli-two-flows.ts"]);
    assertUserError(r, 2, /exports 2 flows: "first" \(export first\), "second" \(export second\)/);
    assert.match(r.stderr, /choose one with --flow NAME/);
    assert.equal((await cli(["run", "test/fixtures/cli-two-flows.ts", "--flow", "second"])).code, 0);
  });
  it("--flow naming no flow", async () => {
    assertUserError(
      await cli(["run", "test/fixtures/cli-two-flows.ts", "--flow", "third"]),
      2,
      /has no flow named "third"/,
    );
  });
  it("a --param without '='", async () => {
    assertUserError(
      await cli(["run", "examples/hello.ts", "--param", "name"]),
      2,
      /--param name: expected key=value/,
    );
  });
  it("an unknown parameter", async () => {
    assertUserError(
      await cli(["run", "examples/hello.ts", "--param", "nmae=x"]),
      2,
      /flow "hello" has no parameter "nmae"; its parameters are: name/,
    );
  });
  it("a --params-file that is not JSON", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "flotilla-cli-"));
    const file = path.join(dir, "bad.json");
    await writeFile(file, "{ name: ");
    assertUserError(
      await cli(["run", "examples/hello.ts", "--params-file", file]),
      2,
      /bad\.json: not valid JSON/,
    );
  });
  it("bad --workers", async () => {
    assertUserError(
      await cli(["run", "examples/hello.ts", "--workers", "4:1"]),
      2,
      /--workers 4:1: expected MIN:MAX/,
    );
  });
  it("an unknown option is a usage error (exit 2)", async () => {
    const r = await cli(["run", "examples/hello.ts", "--frobnicate"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--frobnicate'/);
  });
  it("--debug shows the stack trace", async () => {
    const r = await cli(["run", "test/fixtures/cli-throws-at-load.ts", "--debug"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^\s+at /m);
  });
});

describe("flotilla describe", () => {
  it("prints text, mermaid, dot and json", async () => {
    const text = await cli(["describe", "examples/etl.ts"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Flow "etl"/);
    assert.match(
      text.stdout,
      /load {2}rows\[\] <- batches, batch\[\] <- indexes {2}\[mapped, retries 2 every 100 ms\]/,
    );
    const mermaid = await cli(["describe", "examples/etl.ts", "--format", "mermaid"]);
    assert.match(mermaid.stdout, /^flowchart TD$/m);
    assert.match(mermaid.stdout, /t_batches -->\|map rows\| t_load/);
    const dot = await cli(["describe", "examples/hello.ts", "--format", "dot"]);
    assert.match(dot.stdout, /"greet" -> "shout" \[label="greeting"\];/);
    const json = JSON.parse((await cli(["describe", "examples/hello.ts", "--format", "json"])).stdout);
    assert.deepEqual(
      json.tasks.map((t: { slug: string }) => t.slug),
      ["greet", "shout"],
    );
  });
  it("rejects an unknown format", async () => {
    assertUserError(
      await cli(["describe", "examples/hello.ts", "--format", "png"]),
      2,
      /--format png is not known/,
    );
  });
});
