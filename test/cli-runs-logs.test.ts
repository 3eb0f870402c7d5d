// `flotilla runs` as kubectl and argo users type it, through the real bin: `runs list -A` and
// `-l` over the runner Jobs' labels (kube-sim, runs in two namespaces); `runs logs` readable by
// default, raw JSON lines with -o json, `--tail N`, and `-f` following a runner that is still
// writing until it ends (kube-sim) or until a server's run reaches a final state (`--server`);
// the same state names in `runs list` and `runs get`; bad input is one line and exit 2. The pure
// parts (runState, the line formats, --tail) directly.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { formatRunnerLine, formatServerLine, LineSplitter, parseTail } from "../src/cli/log-lines.ts";
import { connect, type KubeClients } from "../src/kubernetes/client.ts";
import { runLabels } from "../src/kubernetes/names.ts";
import { runState } from "../src/kubernetes/runs.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { KubeSim } from "../src/testing/index.ts";
import { assertOneLineError, assertUserError, bin, cli, root } from "./helpers/cli.ts";

const dir = mkdtempSync(path.join(tmpdir(), "flotilla-runs-logs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The bin as a child whose output is read while it runs (for -f); every wait has a deadline. */
function start(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: undefined, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout!.on("data", (d) => {
    stdout += d;
    for (const w of waiters) w();
  });
  child.stderr!.on("data", (d) => (stderr += d));
  const closed = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return {
    get stdout() {
      return stdout;
    },
    /** Resolves once stdout matches `re`; rejects after `ms`. */
    until(re: RegExp, ms = 120_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!re.test(stdout)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${re} in ${ms} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    /** The exit code and output once it exits; rejects (and kills it) after `ms`. */
    async exit(ms = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`flotilla ${args.join(" ")} still running after ${ms} ms; stdout:\n${stdout}`));
        }, ms);
      });
      try {
        const code = await Promise.race([closed, late]);
        return { code, stdout, stderr };
      } finally {
        clearTimeout(timer);
      }
    },
    kill: () => child.kill("SIGKILL"),
    /** Send `signal` (a Ctrl-C is SIGINT). */
    signal: (signal: NodeJS.Signals) => child.kill(signal),
  };
}

describe("runs: the pure parts", { timeout: 10_000 }, () => {
  const job = (status: k8s.V1JobStatus = {}, meta: Partial<k8s.V1ObjectMeta> = {}): k8s.V1Job => ({
    metadata: { name: "flotilla-x-12345678", labels: runLabels("x", "12345678-aaaa", "runner"), ...meta },
    status,
  });
  const pod = (state: k8s.V1ContainerState, phase = "Running"): k8s.V1Pod => ({
    metadata: { name: "flotilla-x-12345678-abcde" },
    status: {
      phase,
      containerStatuses: [
        { name: "flotilla", image: "i", imageID: "", ready: false, restartCount: 0, state },
      ],
    },
  });

  it("runState names a run's state as the server and the summary do", () => {
    assert.equal(runState(job({ active: 1 }), undefined).status, "Pending");
    assert.equal(
      runState(job({ active: 1 }), pod({ waiting: { reason: "ContainerCreating" } }, "Pending")).status,
      "Pending",
    );
    assert.equal(runState(job({ active: 1 }), pod({ running: {} })).status, "Running");
    assert.equal(runState(job({ succeeded: 1 }), undefined).status, "Success", "never Succeeded");
    const summary = (type: string) =>
      JSON.stringify({
        v: 2,
        type,
        message: `all ${type}`,
        flow: "x",
        runId: "r",
        counts: {},
        failed: [],
        startedAt: 0,
      });
    assert.deepEqual(
      runState(
        job({ failed: 1 }),
        pod({ terminated: { exitCode: 1, message: summary("Failed") } }, "Failed"),
      ),
      { status: "Failed", message: "all Failed" },
    );
    assert.equal(
      runState(
        job({ succeeded: 1 }),
        pod({ terminated: { exitCode: 0, message: summary("Success") } }, "Succeeded"),
      ).status,
      "Success",
    );
    const crashed = runState(
      job({ failed: 1 }),
      pod({ terminated: { exitCode: 137, reason: "OOMKilled" } }, "Failed"),
    );
    assert.equal(crashed.status, "Crashed");
    assert.match(
      crashed.message ?? "",
      /the runner exited with code 137 \(OOMKilled\) without a final state/,
    );
    const stuck = runState(
      job({ active: 1 }),
      pod({ waiting: { reason: "ImagePullBackOff", message: "no such image" } }, "Pending"),
    );
    assert.equal(stuck.status, "Stuck");
    assert.match(stuck.message ?? "", /ImagePullBackOff.*flotilla runs cancel 12345678-aaaa/);
    assert.equal(
      runState(job({ active: 1 }, { deletionTimestamp: new Date() }), pod({ running: {} })).status,
      "Cancelling",
    );
  });

  it("a runner's JSON line is printed readable; other lines as they are", () => {
    const t = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    assert.equal(
      formatRunnerLine(
        JSON.stringify({
          level: 30,
          time: t,
          msg: "loaded",
          task: "load",
          mapIndex: 3,
          worker: "w1",
          rows: 40,
        }),
      ),
      "2026-01-02T03:04:05Z [load[3] @w1] loaded rows=40",
    );
    assert.equal(
      formatRunnerLine(JSON.stringify({ level: 50, time: t, msg: "boom" })),
      "2026-01-02T03:04:05Z ERROR boom",
    );
    assert.equal(formatRunnerLine("    at main (file.ts:1:1)"), "    at main (file.ts:1:1)");
    assert.equal(formatRunnerLine("{not json"), "{not json");
    assert.equal(
      formatServerLine({ ts: t, level: "warn", message: "slow", slug: "load" }),
      "2026-01-02T03:04:05Z WARN [load] slow",
    );
  });

  it("--tail is a number of lines, -1 for all", () => {
    assert.equal(parseTail("-1"), undefined);
    assert.equal(parseTail("0"), 0);
    assert.equal(parseTail("20"), 20);
    for (const bad of ["abc", "-2", "1.5", ""])
      assert.throws(() => parseTail(bad), /--tail .*expected a number of lines/);
  });

  it("lines split across chunks are whole", () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push("a\nb"), ["a"]);
    assert.deepEqual(s.push("c\n"), ["bc"]);
    assert.deepEqual(s.push("d"), []);
    assert.deepEqual(s.end(), ["d"]);
  });
});

describe("runs on Kubernetes (kube-sim)", { timeout: 600_000 }, () => {
  let sim: KubeSim;
  let admin: KubeClients;
  const IMAGE = "example.com/runner-logs:1";
  const script = path.join(dir, "runner.mjs");
  // a runner that writes pino-like lines, waits (for a file, when told) and ends
  writeFileSync(
    script,
    `import { existsSync, watch } from "node:fs";
const line = (msg, extra = {}) => process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), msg, ...extra }) + "\\n");
line("run started");
line("extracted", { task: "extract", rows: 3 });
const release = process.env.RELEASE;
if (release) {
  line("waiting");
  await new Promise((resolve) => {
    const w = watch(${JSON.stringify(dir)}, () => existsSync(release) && (w.close(), resolve()));
    if (existsSync(release)) { w.close(); resolve(); }
  });
}
line("loaded", { task: "load", mapIndex: 1 });
process.exit(Number(process.env.EXIT ?? 0));
`,
  );
  const ids = {
    a: "a1b2c3d4-0000-4000-8000-000000000001",
    b: "b1b2c3d4-0000-4000-8000-000000000002",
    follow: "f0f0f0f0-0000-4000-8000-000000000003",
    crash: "c0c0c0c0-0000-4000-8000-000000000004",
  };

  async function createRun(
    namespace: string,
    flow: string,
    runId: string,
    extra: Record<string, string> = {},
    env: k8s.V1EnvVar[] = [],
  ) {
    const labels = { ...runLabels(flow, runId, "runner"), ...extra };
    await admin.batch.createNamespacedJob({
      namespace,
      body: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: `flotilla-${flow}-${runId.slice(0, 8)}`, labels },
        spec: {
          backoffLimit: 0,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              containers: [{ name: "flotilla", image: IMAGE, command: ["node", script], env }],
            },
          },
        },
      },
    });
  }
  const jobDone = (namespace: string, name: string) =>
    sim.waitFor("jobs", namespace, name, (j) => Boolean(j?.status?.succeeded || j?.status?.failed), 120_000);
  const k = () => ["--kubeconfig", sim.kubeconfigPath];

  before(async () => {
    sim = await KubeSim.start({
      namespaces: ["team-a", "team-b"],
      images: {
        [IMAGE]: { entrypoint: [process.execPath], commands: { node: [process.execPath] }, cwd: dir },
      },
    });
    admin = connect({ kubeConfig: sim.kubeConfig() });
    await createRun("team-a", "etl", ids.a, { team: "data" });
    await createRun("team-b", "report", ids.b, { team: "web" });
    await createRun("team-a", "crash", ids.crash, {}, [{ name: "EXIT", value: "3" }]);
    await Promise.all([
      jobDone("team-a", `flotilla-etl-${ids.a.slice(0, 8)}`),
      jobDone("team-b", `flotilla-report-${ids.b.slice(0, 8)}`),
      jobDone("team-a", `flotilla-crash-${ids.crash.slice(0, 8)}`),
    ]);
  });
  after(() => sim?.stop());

  it("runs list -A: every namespace, NAMESPACE first; -l filters by the Jobs' labels", async () => {
    const all = await cli(["runs", "list", "-A", ...k()]);
    assert.equal(all.code, 0, all.stderr);
    const [header, ...rows] = all.stdout.trimEnd().split("\n");
    assert.match(header!, /^NAMESPACE\s+RUN\s+FLOW\s+STATE\s+STARTED$/);
    assert.ok(
      rows.some((r) => /^team-a\s+a1b2c3d4-\S+\s+etl\s+Success\s/.test(r)),
      all.stdout,
    );
    assert.ok(
      rows.some((r) => /^team-b\s+b1b2c3d4-\S+\s+report\s+Success\s/.test(r)),
      all.stdout,
    );

    const data = await cli(["runs", "list", "-A", "-l", "team=data", "-o", "json", ...k()]);
    assert.equal(data.code, 0, data.stderr);
    const docs = JSON.parse(data.stdout) as { runId: string; namespace: string; status: string }[];
    assert.deepEqual(
      docs.map((d) => [d.runId, d.namespace, d.status]),
      [[ids.a, "team-a", "Success"]],
    );
    const notWeb = await cli([
      "runs",
      "list",
      "-n",
      "team-a",
      "--selector",
      "team!=web",
      "-o",
      "name",
      ...k(),
    ]);
    assert.deepEqual(notWeb.stdout.trim().split("\n").sort(), [ids.a, ids.crash].sort());

    const one = await cli(["runs", "list", "-n", "team-b", ...k()]);
    assert.doesNotMatch(one.stdout, /NAMESPACE|a1b2c3d4/);
    assert.match(one.stdout, /b1b2c3d4/);
  });

  it("runs list and runs get say the same state; a runner that ends without a final state is Crashed", async () => {
    const list = JSON.parse((await cli(["runs", "list", "-n", "team-a", "-o", "json", ...k()])).stdout) as {
      runId: string;
      status: string;
    }[];
    for (const r of list) {
      const got = await cli(["runs", "get", r.runId.slice(0, 8), "-n", "team-a", "-o", "json", ...k()]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal((JSON.parse(got.stdout) as { status: string }).status, r.status, r.runId);
    }
    const crash = await cli(["runs", "get", "c0c0c0c0", "-n", "team-a", ...k()]);
    assert.match(crash.stdout, /c0c0c0c0-\S+\s+crash\s+Crashed/);
    assert.match(crash.stdout, /the runner exited with code 3 .*without a final state/);
  });

  it("runs logs: readable lines; raw JSON lines with -o json; --tail N the last N", async () => {
    const r = await cli(["runs", "logs", "a1b2", "-n", "team-a", ...k()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^\S+Z run started\n\S+Z \[extract\] extracted rows=3\n\S+Z \[load\[1\]\] loaded\n$/,
    );
    const json = await cli(["runs", "logs", "a1b2", "-n", "team-a", "-o", "json", ...k()]);
    const lines = json.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string });
    assert.deepEqual(
      lines.map((l) => l.msg),
      ["run started", "extracted", "loaded"],
    );
    const tail = await cli(["runs", "logs", "a1b2", "-n", "team-a", "--tail", "1", ...k()]);
    assert.match(tail.stdout, /^\S+Z \[load\[1\]\] loaded\n$/);
  });

  it("runs logs -f prints lines as the runner writes them and ends when the run does", async () => {
    const release = path.join(dir, "release-follow");
    await createRun("team-a", "follow", ids.follow, {}, [{ name: "RELEASE", value: release }]);
    const f = start(["runs", "logs", "f0f0f0f0", "-f", "-n", "team-a", ...k()]);
    try {
      await f.until(/waiting\n/);
      assert.doesNotMatch(f.stdout, /loaded/);
      const running = await cli(["runs", "get", "f0f0f0f0", "-n", "team-a", "-o", "json", ...k()]);
      assert.equal((JSON.parse(running.stdout) as { status: string }).status, "Running");
      writeFileSync(release, "");
      const done = await f.exit();
      assert.equal(done.code, 0, done.stderr);
      assert.match(
        done.stdout,
        /run started\n.*\[extract\] extracted rows=3\n.*waiting\n.*\[load\[1\]\] loaded\n$/,
      );
    } finally {
      f.kill();
    }
    const after = await cli(["runs", "list", "-n", "team-a", ...k()]);
    assert.match(after.stdout, /f0f0f0f0-\S+\s+follow\s+Success/);
  });

  it("bad input: one line, exit 2", async () => {
    assertOneLineError(
      await cli(["runs", "logs", "a1b2", "--tail", "lots", "-n", "team-a", ...k()]),
      2,
      /--tail lots: expected a number of lines/,
    );
    assertUserError(
      await cli(["runs", "list", "-A", "-n", "team-a", ...k()]),
      2,
      /-A and -n: give one of them/,
    );
    assertUserError(
      await cli(["runs", "logs", "a1b2", "-f", "--pod-running-timeout", "soon", "-n", "team-a", ...k()]),
      2,
      /--pod-running-timeout soon: expected a duration/,
    );
    assertUserError(
      await cli(["runs", "logs", "a1b2", "--pod-running-timeout", "5s", "-n", "team-a", ...k()]),
      2,
      /--pod-running-timeout does nothing without -f/,
    );
    assertOneLineError(await cli(["runs", "logs", "a1b2", "-o", "yaml", ...k()]), 2, /yaml/);
  });
});

describe("runs logs over --server", { timeout: 300_000 }, () => {
  let server: RunningServer;
  const home = path.join(dir, "home");
  before(async () => {
    server = await startServer({ port: 0, home, database: path.join(home, "flotilla.db") });
  });
  after(() => server?.close());
  const env = () => ({ FLOTILLA_HOME: home, FLOTILLA_API_URL: "" });
  const api = async <T>(p: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server.url}${p}`, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    assert.ok(res.ok, `${p}: ${res.status} ${await res.clone().text()}`);
    return (res.status === 204 ? undefined : await res.json()) as T;
  };
  const log = (message: string, slug?: string) => ({
    ts: Date.now(),
    level: "info",
    message,
    ...(slug ? { slug } : {}),
  });

  it("-f prints the lines kept so far, then new ones, and ends when the run is in a final state; --tail N starts from the last N", async () => {
    const run = await api<{ id: string }>("/api/runs", {
      flowName: "follow-me",
      parameters: {},
      state: "Running",
    });
    await api(`/api/runs/${run.id}/report`, { logs: [log("one"), log("two", "extract")] });
    const f = start(["runs", "logs", run.id.slice(0, 8), "-f", "--tail", "1", "--server", server.url], env());
    try {
      await f.until(/\[extract\] two\n/);
      assert.doesNotMatch(f.stdout, /one/, "--tail 1");
      await api(`/api/runs/${run.id}/report`, { logs: [log("three", "load")] });
      await f.until(/\[load\] three\n/);
      await api(`/api/runs/${run.id}/report`, { logs: [log("four")] });
      await api(`/api/runs/${run.id}/state`, { state: "Success" });
      const done = await f.exit();
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /^\S+Z \[extract\] two\n\S+Z \[load\] three\n\S+Z four\n$/);
    } finally {
      f.kill();
    }
    const json = await cli(["runs", "logs", run.id, "-o", "json", "--server", server.url], { env: env() });
    assert.deepEqual(
      json.stdout
        .trimEnd()
        .split("\n")
        .map((l) => (JSON.parse(l) as { message: string }).message),
      ["one", "two", "three", "four"],
    );
  });

  it("-f stopped by Ctrl-C (SIGINT) while the run goes on: the lines so far, exit 130", async () => {
    const run = await api<{ id: string }>("/api/runs", {
      flowName: "follow-me",
      parameters: {},
      state: "Running",
    });
    await api(`/api/runs/${run.id}/report`, { logs: [log("before the stop")] });
    const f = start(["runs", "logs", run.id.slice(0, 8), "-f", "--server", server.url], env());
    try {
      await f.until(/before the stop\n/);
      f.signal("SIGINT");
      const done = await f.exit(30_000);
      assert.equal(done.code, 130, done.stderr);
      assert.match(done.stdout, /^\S+Z before the stop\n$/);
    } finally {
      f.kill();
    }
  });

  it("-A and -l with --server are errors naming what to use instead", async () => {
    assertUserError(
      await cli(["runs", "list", "-A", "--server", server.url], { env: env() }),
      2,
      /-A does nothing with --server/,
    );
    assertUserError(
      await cli(["runs", "list", "-l", "a=b", "--server", server.url], { env: env() }),
      2,
      /-l does nothing with --server/,
    );
  });
});
