// The flow runner state machine, driven by hand: every trigger, skips, mapping rules, fan-in and
// the final-state rule, without an executor.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FlowRunner, type RunnerCommand } from "../src/engine/flow-runner.ts";
import type { FinalTaskState, TaskRunRequest, TaskRunResult } from "../src/index.ts";
import { Flow, type Task, type Trigger, task, unmapped } from "../src/index.ts";

type Outcome = Exclude<FinalTaskState, { type: "Mapped" }>;
const ok = (result: unknown): Outcome => ({ type: "Success", result });
const failed: Outcome = { type: "Failed", message: "boom" };
const skipped: Outcome = { type: "Skipped", message: "nothing to do" };

/** Drive a runner: `decide` gives each submitted task run's outcome. */
function drive(flow: Flow, decide: (r: TaskRunRequest) => Outcome, parameters: Record<string, unknown> = {}) {
  const runner = new FlowRunner(flow, {
    runId: "r1",
    parameters: flow.resolveParameters(parameters),
    now: () => 0,
  });
  const submitted: TaskRunRequest[] = [];
  let commands: RunnerCommand[] = runner.start();
  const queue: TaskRunRequest[] = [];
  for (;;) {
    for (const c of commands) if (c.type === "submit") queue.push(...c.runs);
    if (commands.some((c) => c.type === "finish")) break;
    const next = queue.shift();
    if (next === undefined) break;
    submitted.push(next);
    const result: TaskRunResult = { ...next, state: decide(next), attempts: 1, startedAt: 0, finishedAt: 0 };
    commands = runner.handle(result);
  }
  return { state: runner.state, submitted };
}

const noop = (name: string, options: Parameters<typeof task>[2] = {}): Task<[unknown?], unknown> =>
  task(name, (_x?: unknown) => undefined, options);

function wire(trigger: Trigger | undefined, upstream: Outcome[], skipOnUpstreamSkip = true) {
  const flow = new Flow("trigger");
  const down = noop("down", { ...(trigger ? { trigger } : {}), skipOnUpstreamSkip });
  const outcomes = new Map<string, Outcome>();
  upstream.forEach((o, i) => {
    const up = noop(`up${i}`);
    flow.addEdge(up, down);
    outcomes.set(`up${i}`, o);
  });
  return drive(flow, (r) => outcomes.get(r.slug) ?? ok("ran"));
}

describe("triggers", { timeout: 30_000 }, () => {
  const cases: [Trigger, Outcome[], string][] = [
    ["allSuccessful", [ok(1), ok(2)], "Success"],
    ["allSuccessful", [ok(1), failed], "TriggerFailed"],
    ["allSuccessful", [ok(1), skipped], "Skipped"],
    ["allFinished", [failed, failed], "Success"],
    ["allFinished", [ok(1), failed], "Success"],
    ["anyFailed", [ok(1), failed], "Success"],
    ["anyFailed", [ok(1), ok(2)], "TriggerFailed"],
    ["anySuccessful", [failed, ok(1)], "Success"],
    ["anySuccessful", [failed, failed], "TriggerFailed"],
  ];
  for (const [trigger, ups, expected] of cases) {
    it(`${trigger} with upstream ${ups.map((u) => u.type).join("+")} -> ${expected}`, () => {
      const { state } = wire(trigger, ups);
      assert.equal(state.taskRuns.down?.state.type, expected);
    });
  }

  it("the default trigger is allSuccessful, and a TriggerFailed propagates down", () => {
    const flow = new Flow("chain");
    const [a, b, c] = [noop("a"), noop("b"), noop("c")];
    flow.addEdge(a, b);
    flow.addEdge(b, c);
    const { state, submitted } = drive(flow, (r) => (r.slug === "a" ? failed : ok(1)));
    assert.deepEqual(
      Object.values(state.taskRuns).map((r) => r.state.type),
      ["Failed", "TriggerFailed", "TriggerFailed"],
    );
    assert.deepEqual(
      submitted.map((r) => r.slug),
      ["a"],
    );
    assert.equal(state.type, "Failed");
    assert.match(state.message, /Some reference tasks failed: c \(TriggerFailed\)/);
  });

  it("skipOnUpstreamSkip: false lets a task run after a skipped upstream", () => {
    assert.equal(wire("allSuccessful", [skipped], false).state.taskRuns.down?.state.type, "Success");
    assert.equal(wire("allSuccessful", [skipped], true).state.taskRuns.down?.state.type, "Skipped");
  });

  it("a skipped reference task still counts as success for the flow", () => {
    const { state } = wire(undefined, [skipped]);
    assert.equal(state.type, "Success");
  });
});

describe("mapping", { timeout: 30_000 }, () => {
  const range = task("range", (n: number) => Array.from({ length: n }, (_, i) => i));
  const double = task("double", (x: number, k: number) => x * k);
  const inc = task("inc", (x: number) => x + 1);
  const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));
  const run = (r: TaskRunRequest): Outcome => {
    const node = { range, double, inc, sum }[r.slug.replace(/-\d+$/, "") as "range"] as unknown as Task<
      unknown[],
      unknown
    >;
    return ok(node.fn(...r.args));
  };

  it("passes unmapped constants whole to every child", () => {
    const flow = Flow.build("m", ({ param }) => sum(double.map(range(param("n", 3)), unmapped(10))));
    const { state, submitted } = drive(flow, run);
    assert.deepEqual(
      submitted.filter((r) => r.slug === "double").map((r) => r.args),
      [
        [0, 10],
        [1, 10],
        [2, 10],
      ],
    );
    assert.deepEqual(state.taskRuns.sum?.state, { type: "Success", result: 30 });
  });

  it("mapped children get element i; a fan-in sees the list of child results", () => {
    const flow = Flow.build("m", () => sum(inc.map(range(4))));
    const { state, submitted } = drive(flow, run);
    assert.deepEqual(
      submitted.filter((r) => r.slug === "inc").map((r) => [r.mapIndex, r.args]),
      [
        [0, [0]],
        [1, [1]],
        [2, [2]],
        [3, [3]],
      ],
    );
    assert.deepEqual(state.taskRuns.sum?.state, { type: "Success", result: 10 });
    assert.equal(state.taskRuns.inc?.state.type, "Mapped");
  });

  it("map over a map pairs child i with child i, and a failed child only stops its own branch", () => {
    const flow = Flow.build("mm", () => sum(inc.map(inc.map(range(3)))));
    const { state } = drive(flow, (r) => (r.slug === "inc" && r.mapIndex === 1 ? failed : run(r)));
    const second = state.taskRuns["inc-2"]?.state;
    assert.equal(second?.type, "Mapped");
    if (second?.type !== "Mapped") return;
    assert.deepEqual(
      second.children.map((c) => c.state.type),
      ["Success", "TriggerFailed", "Success"],
    );
    assert.equal(state.taskRuns.sum?.state.type, "TriggerFailed");
    assert.equal(state.type, "Failed");
  });

  it("an empty list maps to zero children and the fan-in gets []", () => {
    const flow = Flow.build("empty", () => sum(inc.map(range(0))));
    const { state } = drive(flow, run);
    assert.deepEqual(state.taskRuns.sum?.state, { type: "Success", result: 0 });
  });

  it("mapping over a value that is not a list fails the mapped task with its input's name", () => {
    const one = task("one", () => 42);
    const flow = Flow.build("bad", () => inc.map(one() as never));
    const { state } = drive(flow, (r) => (r.slug === "one" ? ok(42) : run(r)));
    const s = state.taskRuns.inc?.state;
    assert.equal(s?.type, "Failed");
    assert.match(
      s?.type === "Failed" ? s.message : "",
      /cannot map "inc" over its input "x": it is number, not an array/,
    );
  });

  it("mapping over a failed upstream ends TriggerFailed without children", () => {
    const flow = Flow.build("bad-up", () => inc.map(range(3)));
    const { state, submitted } = drive(flow, () => failed);
    assert.equal(state.taskRuns.inc?.state.type, "TriggerFailed");
    assert.equal(submitted.length, 1);
  });

  it("inputs of different lengths map over the shortest, as zip does", () => {
    const pair = task("pair", (a: number, b: string) => `${a}${b}`);
    const flow = Flow.build("zip", ({ param }) => pair.map(param("a", [1, 2, 3]), param("b", ["x", "y"])));
    const { submitted } = drive(flow, () => ok(null));
    assert.equal(submitted.length, 2);
  });
});

describe("final state", { timeout: 30_000 }, () => {
  it("Success when all reference tasks succeed even if a non-reference task failed", () => {
    const a = noop("a");
    const cleanup = noop("cleanup", { trigger: "allFinished" });
    const flow = new Flow("ref");
    flow.addEdge(a, cleanup);
    const { state } = drive(flow, (r) => (r.slug === "a" ? failed : ok(1)));
    assert.equal(state.type, "Success");
    flow.setReferenceTasks(a, cleanup);
    assert.equal(drive(flow, (r) => (r.slug === "a" ? failed : ok(1))).state.type, "Failed");
  });

  it("duplicate and unknown results are ignored (at-least-once delivery)", () => {
    const a = noop("a");
    const b = noop("b");
    const flow = new Flow("dup");
    flow.addEdge(a, b);
    const runner = new FlowRunner(flow, { runId: "r", parameters: {} });
    runner.start();
    const result = { slug: "a", mapIndex: -1, state: ok(1), attempts: 1, startedAt: 0, finishedAt: 0 };
    assert.equal(runner.handle(result).length, 1);
    assert.deepEqual(runner.handle(result), []);
    assert.deepEqual(runner.handle({ ...result, slug: "nope" }), []);
  });

  it("a fatal executor error fails the run with its message", () => {
    const flow = new Flow("fatal");
    flow.addTask(noop("a"));
    const runner = new FlowRunner(flow, { runId: "r", parameters: {} });
    runner.start();
    const [cmd] = runner.fail(new Error("broker lost"));
    assert.equal(cmd?.type, "finish");
    assert.equal(runner.state.type, "Failed");
    assert.equal(runner.state.message, "broker lost");
  });
});
