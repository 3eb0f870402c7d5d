// Running a flow programmatically: flow.run(), LocalEnvironment, cancellation, fatal executor errors.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { silentLogger } from "../src/engine/logging.ts";
import { type Executor, Flow, LocalEnvironment, LocalExecutor, task } from "../src/index.ts";
import { within } from "./helpers/deadline.ts";

const logger = silentLogger();

describe("running a flow", { timeout: 60_000 }, () => {
  it("flow.run() returns every task run's state and result", async () => {
    const add = task("add", (a: number, b: number) => a + b);
    const flow = Flow.build("sum", ({ param }) => add(add(param("a", 1), 2), 3));
    const state = await within(flow.run({ parameters: { a: 10 }, logger }), 30_000, "flow sum");
    assert.equal(state.type, "Success");
    assert.deepEqual(state.taskRuns.add?.state, { type: "Success", result: 12 });
    assert.deepEqual(state.taskRuns["add-2"]?.state, { type: "Success", result: 15 });
    assert.equal(state.flow, "sum");
    assert.ok(state.finishedAt! >= state.startedAt);
  });

  it("LocalExecutor runs at most `concurrency` task runs at once", async () => {
    let active = 0;
    let peak = 0;
    const work = task("work", async (_x: number) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setImmediate(r));
      active--;
    });
    const flow = Flow.build("conc", ({ param }) =>
      work.map(
        param<number[]>(
          "xs",
          Array.from({ length: 50 }, (_, i) => i),
        ),
      ),
    );
    const state = await within(
      flow.run({ executor: new LocalExecutor({ concurrency: 4 }), logger }),
      30_000,
      "flow conc",
    );
    assert.equal(state.type, "Success");
    assert.equal(peak, 4);
  });

  it("a cancelled run ends Failed, and running tasks see their signal abort", async () => {
    let sawAbort = false;
    let started!: () => void;
    const startedP = new Promise<void>((r) => {
      started = r;
    });
    const wait = task("wait", async () => {
      const { context } = await within(import("../src/index.ts"), 10_000, "import flotilla");
      const signal = context().signal;
      started();
      await within(
        new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve())),
        30_000,
        "the task's abort signal",
      );
      sawAbort = true;
    });
    const flow = Flow.build("cancel", () => wait());
    const handle = await within(new LocalEnvironment().execute(flow, { logger }), 30_000, "execute");
    await within(startedP, 30_000, "the task's start");
    await within(handle.cancel(), 30_000, "cancel");
    const state = await within(handle.wait(), 30_000, "the cancelled run's end");
    assert.equal(state.type, "Failed");
    assert.match(state.message, /cancelled/);
    assert.equal(sawAbort, true);
  });

  it("an executor that fails while starting fails the run with its error (never 'Running')", async () => {
    const failing: Executor = {
      kind: "test",
      async start(ctx) {
        ctx.onFatal({ name: "Error", message: "broker at redis://127.0.0.1:1 is unreachable" });
        return { submit() {}, async close() {} };
      },
    };
    const flow = Flow.build("fatal", () => task("t", () => 1)());
    const state = await within(flow.run({ executor: failing, logger }), 30_000, "flow fatal");
    assert.equal(state.type, "Failed");
    assert.equal(state.message, "broker at redis://127.0.0.1:1 is unreachable");
  });

  it("an executor that cannot start at all rejects flow.run with its error", async () => {
    const broken: Executor = {
      kind: "test",
      async start() {
        throw new Error("redis-server is not installed");
      },
    };
    const flow = Flow.build("nostart", () => task("t", () => 1)());
    await assert.rejects(
      within(flow.run({ executor: broken, logger }), 30_000, "flow nostart"),
      /redis-server is not installed/,
    );
  });
});
