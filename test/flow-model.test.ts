// The flow model: both APIs build the same graph; every validation error is clear.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FlotillaError, Flow, flowFingerprint, Parameter, task, unmapped } from "../src/index.ts";

const getValue = task("get-value", async () => "Example!");
const outputValue = task("output-value", async (value: string) => value.length);

describe("flow APIs", () => {
  it("the imperative API (setUpstream + bind, as in the seed) and the builder give the same graph", () => {
    const imperative = new Flow("seed");
    outputValue.setUpstream(getValue, { flow: imperative });
    outputValue.bind({ value: getValue }, { flow: imperative });

    const functional = Flow.build("seed", () => outputValue(getValue()));

    const shape = (f: Flow) => ({
      nodes: f.sorted().map((n) => n.slug),
      edges: f.edges,
      reference: f.referenceTasks.map((n) => n.slug),
    });
    assert.deepEqual(shape(imperative), shape(functional));
    assert.deepEqual(imperative.edges, [
      { upstream: "get-value", downstream: "output-value", key: "value", mapped: false },
    ]);
    assert.equal(flowFingerprint(imperative), flowFingerprint(functional));
  });

  it("addTask and addEdge with a key build the same graph as bind", () => {
    const a = new Flow("f");
    a.addTask(getValue);
    a.addTask(outputValue);
    a.addEdge(getValue, outputValue, { key: "value" });
    const b = new Flow("f");
    outputValue.bind({ value: getValue }, { flow: b });
    assert.deepEqual(a.edges, b.edges);
    assert.deepEqual(
      a.sorted().map((n) => n.slug),
      b.sorted().map((n) => n.slug),
    );
  });

  it("records map fan-out with unmapped constants and a fan-in, with typed references", async () => {
    const double = task("double", (x: number, k: number) => x * k);
    const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const flow = Flow.build("map", ({ param }) => {
      const xs = param<number[]>("xs", [1, 2, 3]);
      return sum(double.map(xs, unmapped(10)));
    });
    assert.deepEqual(
      flow.nodes.map((n) => [n.slug, n.inputs.map((b) => `${b?.kind}:${b?.mapped}`)]),
      [
        ["double", ["param:true", "const:false"]],
        ["sum", ["task:false"]],
      ],
    );
    const state = await flow.run();
    assert.equal(state.type, "Success");
    assert.deepEqual(state.taskRuns.sum?.state, { type: "Success", result: 60 });
  });

  it("calling a task twice in a builder makes two task runs with distinct slugs", () => {
    const inc = task("inc", (x: number) => x + 1);
    const flow = Flow.build("twice", () => inc(inc(1)));
    assert.deepEqual(
      flow.nodes.map((n) => n.slug),
      ["inc", "inc-2"],
    );
  });

  it("repeated calls take the next free suffix, skipping a slug another task already holds", () => {
    const inc = task("inc", (x: number) => x + 1);
    const taken = task("other", (x: number) => x, { slug: "inc-3" });
    const flow = Flow.build("suffixes", () => inc(inc(taken(inc(inc(1))))));
    assert.deepEqual(
      flow.nodes.map((n) => n.slug),
      ["inc", "inc-2", "inc-3", "inc-4", "inc-5"],
    );
    const order = flow.nodes.map((n) => n.task.taskName);
    assert.deepEqual(order, ["inc", "inc", "other", "inc", "inc"]);
  });

  it("20,000 calls of one task build a flow (linear slug search); the time is printed, not asserted", (t) => {
    const inc = task("inc", (x: number) => x + 1);
    const t0 = performance.now();
    const flow = Flow.build("many", () => {
      let x = inc(0);
      for (let i = 1; i < 20_000; i++) x = inc(x);
      return x;
    });
    t.diagnostic(`20,000 task calls built in ${Math.round(performance.now() - t0)} ms`);
    assert.equal(flow.nodes.length, 20_000);
    assert.equal(flow.nodes.at(-1)?.slug, "inc-20000");
    assert.equal(new Set(flow.nodes.map((n) => n.slug)).size, 20_000);
  });

  it("parameters: defaults, required, unknown names at run time", () => {
    const show = task("show", (x: unknown) => x);
    const flow = Flow.build("params", ({ param }) => {
      show(param("a", 1));
      show(param("b"));
    });
    assert.deepEqual(flow.resolveParameters({ b: 2 }), { a: 1, b: 2 });
    assert.throws(() => flow.resolveParameters({}), /flow "params" needs the parameter "b"/);
    assert.throws(
      () => flow.resolveParameters({ b: 1, c: 2 }),
      (e: unknown) =>
        e instanceof FlotillaError &&
        e.code === "FLOTILLA_PARAMETER_UNKNOWN" &&
        /has no parameter "c"; its parameters are: a, b/.test(e.message),
    );
  });

  it("Parameter objects work with the imperative API", async () => {
    const flow = new Flow("p");
    const n = new Parameter("n", { default: 4 });
    flow.addParameter(n);
    const sq = task("sq", (x: number) => x * x);
    sq.bind({ x: n }, { flow });
    assert.equal((await flow.run({ parameters: { n: 5 } })).taskRuns.sq?.state.type, "Success");
    assert.deepEqual((await flow.run()).taskRuns.sq?.state, { type: "Success", result: 16 });
  });
});

describe("validation errors", () => {
  it("names the cycle", () => {
    const a = task("a", () => 1);
    const b = task("b", () => 2);
    const c = task("c", () => 3);
    const flow = new Flow("cyclic");
    flow.addEdge(a, b);
    flow.addEdge(b, c);
    flow.addEdge(c, a);
    assert.throws(
      () => flow.validate(),
      (e: unknown) =>
        e instanceof FlotillaError && e.code === "FLOTILLA_FLOW_CYCLE" && /a -> b -> c -> a/.test(e.message),
    );
  });

  it("a task cannot depend on itself", () => {
    const a = task("a", () => 1);
    assert.throws(() => new Flow("self").addEdge(a, a), /cannot depend on itself/);
  });

  it("rejects two different tasks with the same slug and says how to fix it", () => {
    const one = task("load", () => 1);
    const two = task("load", () => 2);
    const flow = new Flow("dup");
    flow.addTask(one);
    assert.throws(
      () => flow.addTask(two),
      (e: unknown) =>
        e instanceof FlotillaError &&
        e.code === "FLOTILLA_DUPLICATE_SLUG" &&
        /slug "load"/.test(e.message) &&
        /slug: "\.\.\."/.test(e.hint ?? ""),
    );
  });

  it("rejects a bind key the function cannot take, listing the ones it can", () => {
    const flow = new Flow("bind");
    assert.throws(
      () => outputValue.bind({ valeu: getValue }, { flow }),
      (e: unknown) =>
        e instanceof FlotillaError &&
        e.code === "FLOTILLA_BIND_INVALID" &&
        e.message === 'output-value.bind: the task function has no parameter "valeu"; it takes (value)',
    );
  });

  it("reads parameter names of arrows, functions, defaults and destructuring", () => {
    assert.deepEqual(task("t", (a: number, b: number = 2) => a + b).paramNames, ["a", "b"]);
    assert.deepEqual(
      task("t", function named(x: number) {
        return x;
      }).paramNames,
      ["x"],
    );
    assert.deepEqual(task("t", async (x: unknown) => x).paramNames, ["x"]);
    assert.deepEqual(task("t", ({ a }: { a: number }, b: number) => a + b).paramNames, [undefined, "b"]);
    assert.deepEqual(task("t", ({ a }: { a: number }) => a, { params: ["cfg"] }).paramNames, ["cfg"]);
  });

  it("rejects bad task options", () => {
    assert.throws(() => task("t", () => 1, { retries: -1 }), /retries must be a whole number >= 0, got -1/);
    assert.throws(() => task("t", () => 1, { timeoutMs: 0 }), /timeoutMs must be > 0/);
    // @ts-expect-error an unknown trigger
    assert.throws(() => task("t", () => 1, { trigger: "sometimes" }), /unknown trigger "sometimes"/);
    assert.throws(() => task("t", () => 1, { slug: "bad slug" }), /slug "bad slug" may hold only/);
  });

  it("calling a task outside a builder says how to wire it", () => {
    assert.throws(
      () => getValue(),
      (e: unknown) =>
        e instanceof FlotillaError &&
        /outside Flow.build/.test(e.message) &&
        /setUpstream\/bind/.test(e.hint ?? ""),
    );
  });

  it("passing a task instead of its result in a builder is an error", () => {
    assert.throws(
      () => Flow.build("oops", () => outputValue(getValue as never)),
      /task "get-value" was passed to "output-value" without being called/,
    );
  });

  it("an empty flow is invalid", () => {
    assert.throws(() => Flow.build("empty", () => {}), /flow "empty" has no tasks/);
  });

  it("a flow with a cycle fails at run time before anything runs", async () => {
    let ran = false;
    const a = task("a", () => {
      ran = true;
    });
    const b = task("b", () => 1);
    const flow = new Flow("cycle-run");
    flow.addEdge(a, b);
    flow.addEdge(b, a);
    await assert.rejects(flow.run(), /has a cycle: (a -> b -> a|b -> a -> b)/);
    assert.equal(ran, false);
  });
});
