// The task runner: attempts, retries with their delay, timeouts, signals, and the task context.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { runTask, type TaskRunnerEnv } from "../src/engine/task-runner.ts";
import type { RunEvent } from "../src/index.ts";
import { context, createLogger, getLogger, signals, task } from "../src/index.ts";
import { registerSecret } from "../src/secrets/index.ts";

function env(extra: Partial<TaskRunnerEnv> = {}) {
  const lines: string[] = [];
  const events: RunEvent[] = [];
  const sleeps: number[] = [];
  let clock = 1000;
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const e: TaskRunnerEnv = {
    runId: "run-1",
    flow: "f",
    logger: createLogger({ format: "json", stream }),
    onEvent: (ev) => events.push(ev),
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
    ...extra,
  };
  return { env: e, lines, events, sleeps };
}
const request = (args: unknown[] = []) => ({ slug: "t", mapIndex: -1, args, attempt: 1 });

describe("task runner", () => {
  it("scrubs a secret the task read from its failure message, error and stack", async () => {
    const token = "runner-test-5ecret-7c1d";
    const leaky = task("t", () => {
      registerSecret(token); // what Secret.get() does
      throw new Error(`refused token ${token}`, { cause: new Error(`inner ${token}`) });
    });
    const r = await runTask(leaky, request(), env().env);
    assert.equal(r.state.type, "Failed");
    assert.ok(
      r.state.type === "Failed" && r.state.message === "refused token [redacted]",
      JSON.stringify(r.state),
    );
    assert.ok(!JSON.stringify(r).includes(token), "the result leaked the secret");
  });

  it("returns Success with the function's result, sync or async", async () => {
    assert.deepEqual(
      (
        await runTask(
          task("t", (x: number) => x * 2),
          request([21]),
          env().env,
        )
      ).state,
      {
        type: "Success",
        result: 42,
      },
    );
    assert.deepEqual(
      (
        await runTask(
          task("t", async () => "ok"),
          request(),
          env().env,
        )
      ).state,
      {
        type: "Success",
        result: "ok",
      },
    );
  });

  it("retries a failing task with its delay, counting attempts, then succeeds", async () => {
    let calls = 0;
    const flaky = task(
      "t",
      () => {
        if (++calls < 3) throw new Error(`fail ${calls}`);
        return "third time";
      },
      { retries: 3, retryDelayMs: 250 },
    );
    const h = env();
    const result = await runTask(flaky, request(), h.env);
    assert.deepEqual(result.state, { type: "Success", result: "third time" });
    assert.equal(result.attempts, 3);
    assert.deepEqual(h.sleeps, [250, 250]);
    const retrying = h.events.filter((e) => e.type === "taskRetrying");
    assert.equal(retrying.length, 2);
    assert.deepEqual(
      retrying.map((e) => (e.type === "taskRetrying" ? [e.state.attempt, e.state.message] : [])),
      [
        [1, "fail 1"],
        [2, "fail 2"],
      ],
    );
    assert.ok(h.lines.some((l) => l.includes("attempt 1 of 4 failed; retrying in 250 ms")));
  });

  it("ends Failed with the last error once retries are spent", async () => {
    const bad = task(
      "t",
      () => {
        throw new TypeError("bad input");
      },
      { retries: 1 },
    );
    const result = await runTask(bad, request(), env().env);
    assert.equal(result.attempts, 2);
    assert.equal(result.state.type, "Failed");
    if (result.state.type !== "Failed") return;
    assert.equal(result.state.message, "TypeError: bad input");
    assert.equal(result.state.error?.name, "TypeError");
    assert.match(result.state.error?.stack ?? "", /task-runner\.test\.ts/);
  });

  it("a resumed task run (attempt 2 after a lost worker) counts from there", async () => {
    let calls = 0;
    const t = task(
      "t",
      () => {
        calls++;
        throw new Error("x");
      },
      { retries: 2 },
    );
    const result = await runTask(t, { ...request(), attempt: 2 }, env().env);
    assert.equal(result.attempts, 3);
    assert.equal(calls, 2);
  });

  it("times out an attempt, aborts its signal, and retries it", async () => {
    let aborted = 0;
    let calls = 0;
    const slow = task(
      "t",
      () => {
        calls++;
        const signal = context().signal;
        return new Promise((resolve) => {
          signal.addEventListener("abort", () => {
            aborted++;
            resolve("late");
          });
        });
      },
      { timeoutMs: 30, retries: 1 },
    );
    const result = await runTask(slow, request(), env({ sleep: undefined }).env);
    assert.deepEqual(result.state, { type: "TimedOut", message: "timed out after 30 ms", timeoutMs: 30 });
    assert.equal(result.attempts, 2);
    assert.equal(calls, 2);
    assert.equal(aborted, 2);
  });

  it("signals choose the state: skip, fail (no retry), retryLater (with its own delay)", async () => {
    const skip = await runTask(
      task("t", () => signals.skip("no data today"), { retries: 3 }),
      request(),
      env().env,
    );
    assert.deepEqual(skip.state, { type: "Skipped", message: "no data today" });
    assert.equal(skip.attempts, 1);

    const fail = await runTask(
      task("t", () => signals.fail("invalid config"), { retries: 3 }),
      request(),
      env().env,
    );
    assert.equal(fail.state.type, "Failed");
    assert.equal(fail.attempts, 1);

    let n = 0;
    const h = env();
    const later = await runTask(
      task("t", () => (++n < 2 ? signals.retryLater("not ready", { delayMs: 5000 }) : "ready"), {
        retries: 1,
      }),
      request(),
      h.env,
    );
    assert.deepEqual(later.state, { type: "Success", result: "ready" });
    assert.deepEqual(h.sleeps, [5000]);
  });

  it("gives the task its context and a logger whose lines name the task run", async () => {
    const h = env();
    const t = task("t", () => {
      const c = context();
      getLogger().info({ rows: 3 }, "loaded");
      return [c.runId, c.slug, c.mapIndex, c.attempt];
    });
    const result = await runTask(t, { slug: "t", mapIndex: 4, args: [], attempt: 1 }, h.env);
    assert.deepEqual(result.state, { type: "Success", result: ["run-1", "t", 4, 1] });
    const line = JSON.parse(h.lines.find((l) => l.includes("loaded"))!);
    assert.equal(line.task, "t");
    assert.equal(line.mapIndex, 4);
    assert.equal(line.rows, 3);
  });

  it("reports the task's start and its duration from the injected clock", async () => {
    const h = env();
    const result = await runTask(
      task("t", () => 1),
      request(),
      h.env,
    );
    assert.equal(result.startedAt, 1000);
    assert.equal(h.events[0]?.type, "taskStarted");
  });
});
