// Worker lifecycle with a real redis-server and real worker processes: a retired worker finishes
// the task runs it has (never interrupted), takes no new one and exits 0; a LocalCluster grows
// with the backlog and shrinks back when it is gone, as the `workers` events show; a second SIGTERM
// forces a draining worker out at once.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { connectBroker } from "../src/cluster/broker.ts";
import { startLocalBroker } from "../src/cluster/local-broker.ts";
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import { PROTOCOL_VERSION, type RunSettings } from "../src/cluster/protocol.ts";
import { keys } from "../src/cluster/run-channel.ts";
import type { RunEvent } from "../src/core/executor.ts";
import { flowFingerprint } from "../src/core/fingerprint.ts";
import { silentLogger } from "../src/engine/logging.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { within } from "./helpers/deadline.ts";
import { testBroker } from "./helpers/redis.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/cluster-lifecycle.ts", import.meta.url));
const FLOTILLA_BIN = fileURLToPath(new URL("../bin/flotilla.js", import.meta.url));

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function exitOf(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => reject(new Error(`worker still running after ${ms} ms`)), ms);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

interface Marker {
  x: number;
  pid: number;
  phase: "start" | "end";
  at: number;
}

describe("cluster worker lifecycle", { timeout: 60_000 }, () => {
  it("retiring a worker under load never interrupts its running task runs; it then exits 0", async () => {
    const broker = await testBroker();
    const dir = mkdtempSync(path.join(tmpdir(), "flotilla-retire-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const markers = path.join(dir, "markers.jsonl");
    const runId = `retire-${process.pid}-${Date.now()}`;
    const startWorker = (id: string) => {
      const child = spawn(
        process.execPath,
        [
          FLOTILLA_BIN,
          "worker",
          "--broker",
          broker.url,
          "--flow-module",
          FIXTURE,
          "--flow",
          "retire-under-load",
          "--run-id",
          runId,
          "--worker-id",
          id,
          "--concurrency",
          "2",
        ],
        {
          env: { ...process.env, FLOTILLA_BROKER_PASSWORD: broker.password },
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      child.stderr?.resume();
      children.push(child);
      return child;
    };
    const retired = startWorker("worker-a");
    const other = startWorker("worker-b");
    const redis = await connectBroker(broker.endpoint);
    after(() => redis.disconnect());

    let retiredAt = 0;
    let retiredExitAt = 0;
    void exitOf(retired, 60_000).then(
      () => {
        retiredExitAt = Date.now();
      },
      () => {},
    );
    const flow = selectFlow(await loadFlowModule(FIXTURE), "retire-under-load");
    const state = await flow.run({
      parameters: { n: 8, markers, ms: 1000 },
      executor: new ClusterExecutor({ brokerUrl: broker.url, brokerPassword: broker.password }),
      logger: silentLogger(),
      runId,
      onEvent: (e: RunEvent) => {
        if (e.type === "taskStarted" && e.worker === "worker-a" && retiredAt === 0) {
          retiredAt = Date.now();
          // What the runner does to retire a worker: a drain request through the broker.
          void redis.sadd(keys(runId).retire, "worker-a");
        }
      },
    });

    assert.equal(state.type, "Success", state.message);
    const mapped = state.taskRuns.marked!.state;
    assert.equal(mapped.type, "Mapped");
    const runs = mapped.type === "Mapped" ? mapped.children : [];
    assert.equal(runs.length, 8);
    for (const r of runs) assert.equal(r.attempts, 1, "no task run was interrupted and re-run");
    const onRetired = runs.filter((r) => r.worker === "worker-a");
    assert.ok(onRetired.length >= 1, "the retired worker finished the task run it was running");

    // Every start has its end, in the same process: nothing was cut short.
    const lines = readFileSync(markers, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Marker);
    const retiredPid = retired.pid!;
    for (let x = 0; x < 8; x++) {
      const starts = lines.filter((m) => m.x === x && m.phase === "start");
      const ends = lines.filter((m) => m.x === x && m.phase === "end");
      assert.equal(starts.length, 1, `task run ${x} started once`);
      assert.equal(ends.length, 1, `task run ${x} ended once`);
      assert.equal(ends[0]!.pid, starts[0]!.pid);
    }
    const retiredRuns = lines.filter((m) => m.pid === retiredPid);
    assert.ok(
      retiredRuns.some((m) => m.phase === "end" && m.at > retiredAt),
      "it worked on after the retire request",
    );

    assert.equal(await exitOf(retired, 10_000), 0, "the retired worker exits 0");
    const lastEnd = Math.max(...retiredRuns.filter((m) => m.phase === "end").map((m) => m.at));
    assert.ok(retiredExitAt >= lastEnd, "it exited only after its last task run ended");

    other.kill("SIGTERM");
    assert.equal(await exitOf(other, 10_000), 0, "SIGTERM drains and exits 0");
  });

  it("a second SIGTERM forces a draining worker out at once (exit 143), its task run unfinished", async () => {
    const broker = await testBroker();
    const dir = await mkdtemp(path.join(tmpdir(), "flotilla-forced-"));
    const markers = path.join(dir, "markers.jsonl");
    const runId = `forced-${process.pid}-${Date.now()}`;
    const child = spawn(
      process.execPath,
      [
        ...[FLOTILLA_BIN, "worker", "--broker", broker.url, "--flow-module", FIXTURE],
        ...["--flow", "retire-under-load", "--run-id", runId, "--worker-id", "forced"],
      ],
      {
        env: { ...process.env, FLOTILLA_BROKER_PASSWORD: broker.password },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    children.push(child);
    let stderr = "";
    const draining = new Promise<void>((resolve) => {
      child.stderr?.on("data", (c: Buffer) => {
        stderr += c.toString();
        if (/draining: SIGTERM/.test(stderr)) resolve();
      });
    });
    const controller = new AbortController();
    let started!: () => void;
    const taskStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    try {
      const flow = selectFlow(await loadFlowModule(FIXTURE), "retire-under-load");
      // one task run that would take two minutes: a drain would wait for it
      const running = flow.run({
        parameters: { n: 1, markers, ms: 120_000 },
        executor: new ClusterExecutor({ brokerUrl: broker.url, brokerPassword: broker.password }),
        logger: silentLogger(),
        runId,
        signal: controller.signal,
        onEvent: (e: RunEvent) => {
          if (e.type === "taskStarted" && e.slug === "marked") started();
        },
      });
      await within(taskStarted, 30_000, "the task run's start on the worker");
      child.kill("SIGTERM");
      await within(draining, 15_000, `the worker's drain after the first SIGTERM (${stderr})`);
      child.kill("SIGTERM");
      assert.equal(await exitOf(child, 10_000), 143, stderr);
      assert.match(stderr, /SIGTERM again: stopping now/);
      const lines = readFileSync(markers, "utf8").trim().split("\n");
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as Marker).phase),
        ["start"],
        "the task run was cut short, not finished",
      );
      controller.abort();
      const state = await within(running, 30_000, "the cancelled run's end");
      assert.notEqual(state.type, "Success", state.message);
    } finally {
      controller.abort();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a LocalCluster grows with the backlog and shrinks back to minWorkers (workers events)", async () => {
    const flow = selectFlow(await loadFlowModule(FIXTURE), "scale-up-down");
    const events: Extract<RunEvent, { type: "workers" }>[] = [];
    let finishedAt = 0;
    const cluster = new LocalCluster({ minWorkers: 1, maxWorkers: 3, concurrency: 1, idleTimeoutMs: 300 });
    // The naps wait behind a gate opened once 3 workers run: on a loaded machine workers can take
    // longer to start than an ungated backlog lasts, and are then rightly cancelled before they run.
    const dir = await mkdtemp(path.join(tmpdir(), "flotilla-gate-"));
    const gate = path.join(dir, "open");
    try {
      const state = await flow.run({
        parameters: { n: 9, ms: 700, lingerMs: 3000, gate },
        executor: new ClusterExecutor({ cluster }),
        logger: silentLogger(),
        onEvent: (e) => {
          if (e.type === "workers") {
            events.push(e);
            if (e.count === 3) writeFileSync(gate, "");
          }
          if (e.type === "taskFinished" && e.slug === "linger") finishedAt = Date.now();
        },
      });
      assert.equal(state.type, "Success", state.message);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const counts = events.map((e) => e.count);
    const up = counts.indexOf(3);
    assert.ok(up >= 0, `reached 3 workers: ${counts.join(" ")}`);
    const down = counts.indexOf(1, up);
    assert.ok(down > up, `back to 1 worker after 3: ${counts.join(" ")}`);
    assert.ok(
      events.slice(up).some((e) => /scale down/.test(e.reason)),
      "the scale-down is a policy decision with its reason",
    );
    assert.ok(finishedAt > 0);
  });

  it("a worker that lost its broker exits 1 at the death timeout, not seconds later", async () => {
    const broker = await startLocalBroker();
    after(() => broker.stop());
    const runId = `death-${process.pid}-${Date.now()}`;
    const flow = selectFlow(await loadFlowModule(FIXTURE), "retire-under-load");
    const settings: RunSettings = {
      protocol: PROTOCOL_VERSION,
      runId,
      flow: flow.name,
      fingerprint: flowFingerprint(flow),
      lockDurationMs: 4000,
      stalledIntervalMs: 1000,
      maxStalledCount: 3,
      heartbeatMs: 200,
    };
    const redis = await connectBroker(broker.endpoint);
    await redis.hset(keys(runId).meta, "settings", JSON.stringify(settings));
    const deathTimeoutMs = 1000;
    const child = spawn(
      process.execPath,
      [
        ...[FLOTILLA_BIN, "worker", "--broker", broker.url, "--flow-module", FIXTURE],
        ...["--flow", "retire-under-load", "--run-id", runId, "--worker-id", "doomed"],
        ...["--death-timeout-ms", String(deathTimeoutMs)],
      ],
      {
        env: { ...process.env, FLOTILLA_BROKER_PASSWORD: broker.password },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    // The worker is up once it says so on the run's output stream.
    const reply = await redis.xread("COUNT", 1, "BLOCK", 15_000, "STREAMS", keys(runId).out, "0");
    redis.disconnect();
    assert.ok(reply !== null, `the worker never reported in: ${stderr}`);
    await broker.stop();
    const lostAt = Date.now();
    assert.equal(await exitOf(child, 15_000), 1, stderr);
    const tookMs = Date.now() - lostAt;
    // It notices within one heartbeat period of the timeout, then exits at once.
    // (Its clock runs from its last heartbeat answered, up to two periods before the broker went.)
    assert.ok(tookMs >= deathTimeoutMs - 2 * settings.heartbeatMs, `exited ${tookMs} ms after the broker`);
    assert.ok(tookMs < deathTimeoutMs + settings.heartbeatMs + 1000, `exited ${tookMs} ms after the broker`);
    assert.match(stderr, /has been unreachable for \d+ s \(death timeout 1000 ms\)/);
  });

  it("a worker waiting for a run exits 1 at the death timeout when the broker goes", async () => {
    const broker = await startLocalBroker();
    after(() => broker.stop());
    const child = spawn(
      process.execPath,
      [
        ...[FLOTILLA_BIN, "worker", "--broker", broker.url, "--flow-module", FIXTURE],
        ...["--flow", "retire-under-load", "--worker-id", "waiting", "--death-timeout-ms", "1000"],
      ],
      {
        env: { ...process.env, FLOTILLA_BROKER_PASSWORD: broker.password },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    // Connected: its connection shows in the broker's client list.
    const redis = await connectBroker(broker.endpoint);
    const deadline = Date.now() + 15_000;
    while (!String(await redis.client("LIST")).includes("flotilla-worker-waiting")) {
      assert.ok(Date.now() < deadline, `the worker never connected: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    redis.disconnect();
    await broker.stop();
    const lostAt = Date.now();
    assert.equal(await exitOf(child, 15_000), 1, stderr);
    assert.ok(Date.now() - lostAt < 2500, `exited ${Date.now() - lostAt} ms after the broker`);
    assert.match(stderr, /unreachable for 1000 ms \(death timeout\) before the run started/);
  });
});
