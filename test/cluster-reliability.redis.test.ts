// Reliability of cluster runs with a real redis-server and real worker processes: lost workers,
// lost broker, unserialisable results, workers running different code.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { connectBroker } from "../src/cluster/broker.ts";
import { startLocalBroker } from "../src/cluster/local-broker.ts";
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import { keys } from "../src/cluster/run-channel.ts";
import { runWorker } from "../src/cluster/worker.ts";
import type { RunEvent } from "../src/core/executor.ts";
import { createLogger, silentLogger } from "../src/engine/logging.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { testBroker } from "./helpers/redis.ts";
import { redisServerPath } from "./helpers/system.ts";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const FLOTILLA_BIN = fileURLToPath(new URL("../bin/flotilla.js", import.meta.url));

describe("cluster reliability", { timeout: 60_000 }, () => {
  it("re-runs the task run of a SIGKILLed worker on another worker, counted as an attempt", async () => {
    const flow = selectFlow(await loadFlowModule(fixture("cluster-reliability.ts")), "rel-sleepy");
    let killed: number | undefined;
    const runId = `rel-${Date.now()}`;
    const events: RunEvent[] = [];
    const cluster = new LocalCluster({ minWorkers: 2, maxWorkers: 2, concurrency: 2 });
    const executor = new ClusterExecutor({
      cluster,
      lockDurationMs: 1000,
      stalledIntervalMs: 500,
    });
    const state = await flow.run({
      parameters: { n: 4 },
      executor,
      logger: silentLogger(),
      onEvent: (e) => {
        events.push(e);
        if (
          e.type === "taskStarted" &&
          e.slug === "sleepy" &&
          killed === undefined &&
          e.worker !== undefined
        ) {
          killed = -1;
          // Find the worker's pid from its heartbeat, then kill it mid-task.
          void (async () => {
            const r = await connectBroker(cluster.broker!);
            const beat = JSON.parse((await r.hget(keys(runId).workers, e.worker!))!) as { pid: number };
            r.disconnect();
            killed = beat.pid;
            process.kill(beat.pid, "SIGKILL");
          })();
        }
      },
      runId,
    });
    assert.equal(state.type, "Success", state.message);
    const collect = state.taskRuns.collect!.state;
    assert.deepEqual(
      collect.type === "Success" && collect.result,
      [0, 1, 2, 3],
      "no result lost or duplicated",
    );
    const sleepy = state.taskRuns.sleepy!.state;
    assert.equal(sleepy.type, "Mapped");
    const children = sleepy.type === "Mapped" ? sleepy.children : [];
    const rerun = children.filter((c) => c.attempts === 2);
    assert.ok(rerun.length >= 1, "the lost task runs count an attempt");
    for (const c of children) {
      const r = c.state.type === "Success" ? (c.state.result as { pid: number }) : undefined;
      assert.notEqual(r?.pid, killed);
    }
  });

  it("fails the run with a clear Failed state naming the task when a result cannot be serialised", async () => {
    const flow = selectFlow(await loadFlowModule(fixture("cluster-reliability.ts")), "rel-bad-result");
    const state = await flow.run({
      executor: new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 1, maxWorkers: 1 }) }),
      logger: silentLogger(),
    });
    const s = state.taskRuns["returns-function"]!.state;
    assert.equal(s.type, "Failed");
    assert.match(
      s.type === "Failed" ? s.message : "",
      /task run "returns-function" returned a value that cannot be sent back to the runner: the result is a function$/,
    );
  });

  it("fails the run at once when a worker runs different code", async () => {
    const broker = await testBroker();
    const flow = selectFlow(await loadFlowModule(fixture("cluster-fingerprint-a.ts")), "fp");
    const url = `${broker.url}`;
    const runId = `fp-${Date.now()}`;
    const started = Date.now();
    const worker = runWorker({
      broker: broker.endpoint,
      flowModule: fixture("cluster-fingerprint-b.ts"),
      runId,
      workerId: "old-image-worker",
      stderr: { write: () => true },
    });
    const state = await flow.run({
      executor: new ClusterExecutor({ brokerUrl: url, brokerPassword: broker.password }),
      logger: silentLogger(),
      runId,
    });
    assert.equal(state.type, "Failed");
    assert.match(state.message, /worker old-image-worker runs different code than the flow runner/);
    assert.match(state.message, /fingerprint [0-9a-f]{16} in the worker and [0-9a-f]{16} in the runner/);
    assert.equal(state.error?.code, "FLOTILLA_FINGERPRINT_MISMATCH");
    assert.match(state.error?.hint ?? "", /same image/);
    assert.ok(Date.now() - started < 5000);
    assert.equal((await worker).exitCode, 3);
  });

  it("fails within 10 s, naming the broker, when the broker dies mid-run", async () => {
    const flow = selectFlow(await loadFlowModule(fixture("cluster-reliability.ts")), "rel-sleepy");
    const runId = `broker-${Date.now()}`;
    let t0 = 0;
    const cluster = new LocalCluster({ minWorkers: 1, maxWorkers: 1, workerDeathTimeoutMs: 2000 });
    const state = await flow.run({
      parameters: { n: 2 },
      executor: new ClusterExecutor({ cluster }),
      logger: process.env.DEBUG_REL ? createLogger({ level: "debug" }) : silentLogger(),
      runId,
      onEvent: (e) => {
        if (e.type === "taskStarted" && t0 === 0) {
          t0 = Date.now();
          void (async () => {
            const r = await connectBroker(cluster.broker!);
            const info = await r.info("server");
            r.disconnect();
            process.kill(Number(/process_id:(\d+)/.exec(info)![1]), "SIGKILL");
          })();
        }
      },
    });
    assert.equal(state.type, "Failed");
    assert.match(state.message, /broker at redis:\/\/127\.0\.0\.1:\d+/);
    assert.ok(Date.now() - t0 < 10_000, `failed after ${Date.now() - t0} ms`);
  });

  it("a worker whose broker was SIGKILLed exits at once on SIGTERM, a task run in progress and all", async () => {
    const broker = await startLocalBroker({ redisServer: redisServerPath() });
    const runId = `lost-${Date.now()}`;
    // a worker process as a pod runs it, with a death timeout longer than this test
    const worker = spawn(
      process.execPath,
      [
        FLOTILLA_BIN,
        "worker",
        "--broker",
        broker.url,
        "--flow-module",
        fixture("cluster-reliability.ts"),
        "--flow",
        "rel-hang",
        "--run-id",
        runId,
        "--worker-id",
        "lost-worker",
        "--death-timeout-ms",
        "600000",
      ],
      {
        env: { ...process.env, FLOTILLA_BROKER_PASSWORD: broker.password },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    worker.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
      worker.once("exit", (code) => resolve({ code, at: performance.now() })),
    );
    try {
      let signalledAt = 0;
      const flow = selectFlow(await loadFlowModule(fixture("cluster-reliability.ts")), "rel-hang");
      const state = await flow.run({
        executor: new ClusterExecutor({ brokerUrl: broker.url, brokerPassword: broker.password }),
        logger: silentLogger(),
        runId,
        onEvent: (e) => {
          if (e.type !== "taskStarted" || signalledAt !== 0) return;
          signalledAt = -1;
          void (async () => {
            const r = await connectBroker(broker.endpoint);
            const info = await r.info("server");
            r.disconnect();
            process.kill(Number(/process_id:(\d+)/.exec(info)![1]), "SIGKILL");
            await broker.exited;
            // what the kubelet does to a pod it deletes
            signalledAt = performance.now();
            worker.kill("SIGTERM");
          })();
        },
      });
      assert.equal(state.type, "Failed", "the runner lost its broker too");
      const exit = await Promise.race([
        exited,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`the worker is still running 30 s after SIGTERM:\n${stderr}`)),
            30_000,
          ).unref(),
        ),
      ]);
      console.log(`worker exited ${Math.round(exit.at - signalledAt)} ms after SIGTERM (code ${exit.code})`);
      assert.equal(exit.code, 1, stderr);
      assert.match(stderr, /broker at redis:\/\/127\.0\.0\.1:\d+/);
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
      await broker.stop();
    }
  });
});
