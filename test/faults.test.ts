// The fault matrix: one case per fault a user meets, each asserting the exit code, the summary and
// what is left behind (processes, temp folders). Every CLI runs with its own TMPDIR, so a
// flotilla-broker-* folder left there is this run's; every process it started is found in /proc
// while it runs and must be gone (or a zombie nobody reaps) after.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(root, "bin/flotilla.js");
const dirs: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Cli {
  child: ChildProcess;
  tmp: string;
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr matches, rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or 128 + signal), rejects after timeoutMs. */
  exit(timeoutMs?: number): Promise<number>;
  /** Every process started under it (workers, broker, their children), seen so far. */
  descendants(): Set<number>;
}

async function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Cli> {
  const tmp = await mkdtemp(path.join(tmpdir(), "flotilla-faults-"));
  dirs.push(tmp);
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", TMPDIR: tmp, ...env },
  });
  children.push(child);
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => {
    err += d;
    for (const w of waiters) w();
  });
  const seen = new Set<number>();
  const sample = setInterval(() => {
    for (const p of descendantsOf(child.pid!)) seen.add(p);
  }, 100);
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => {
      clearInterval(sample);
      for (const w of waiters) w();
      resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : signal === "SIGTERM" ? 15 : 2));
    }),
  );
  return {
    child,
    tmp,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(err)) done(resolve);
          else if (child.exitCode !== null || child.signalCode !== null)
            done(() => reject(new Error(`exited before ${pattern}: ${err}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${pattern} in ${timeoutMs} ms: ${err}`))),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    exit(timeoutMs = 90_000) {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        exited.finally(() => clearTimeout(timer)),
        new Promise<number>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not exit in ${timeoutMs} ms: ${err}`)), timeoutMs);
        }),
      ]);
    },
    descendants: () => seen,
  };
}

/** Process ids whose parent chain leads to `pid` (from /proc). */
function descendantsOf(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p && !out.includes(c)) out.push(c), walk(c);
  };
  walk(pid);
  return out;
}

/** Processes still running (zombies, already dead and waiting for a reaper, do not count). */
function stillRunning(pids: Iterable<number>): number[] {
  return [...pids].filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  });
}

/** The process count and temp folders a run leaves, asserted empty; waits (bounded) for exits. */
async function assertNothingLeft(cli: Cli): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (stillRunning(cli.descendants()).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  const left = stillRunning(cli.descendants()).map((p) => {
    try {
      return `${p}: ${readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ")}`;
    } catch {
      return String(p);
    }
  });
  assert.deepEqual(left, [], "no process of the run is left");
  const folders = existsSync(cli.tmp)
    ? readdirSync(cli.tmp).filter((f) => /^(flotilla-broker|kube-sim)-/.test(f))
    : [];
  assert.deepEqual(folders, [], "no flotilla-broker-* or kube-sim-* folder is left");
}

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
    dirs.push(path.dirname(pids));
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
    dirs.push(path.dirname(pids));
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
    dirs.push(markerDir);
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
