// The cluster serializer (src/cluster/serializer.ts): each kind of value a task may pass or return.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeBatch,
  decodeRun,
  encodeBatch,
  encodeMessage,
  encodeRun,
  type WorkerMessage,
} from "../src/cluster/protocol.ts";
import { deserialize, jsonExact, serialize } from "../src/cluster/serializer.ts";
import { ErrorCode, FlotillaError } from "../src/core/errors.ts";
import { within } from "./helpers/deadline.ts";

const roundTrip = <T>(v: T): T => deserialize(serialize(v)) as T;

describe("serializer", { timeout: 30_000 }, () => {
  it("keeps Date", () => assert.deepEqual(roundTrip(new Date(1234)), new Date(1234)));
  it("keeps Map", () =>
    assert.deepEqual(
      roundTrip(
        new Map<unknown, unknown>([
          ["a", 1],
          [2, { b: 3 }],
        ]),
      ),
      new Map<unknown, unknown>([
        ["a", 1],
        [2, { b: 3 }],
      ]),
    ));
  it("keeps Set", () => assert.deepEqual(roundTrip(new Set([1, "x"])), new Set([1, "x"])));
  it("keeps BigInt", () => assert.equal(roundTrip(12345678901234567890n), 12345678901234567890n));
  it("keeps typed arrays", () => {
    const out = roundTrip({ f: new Float64Array([1.5, 2]), u: new Uint16Array([7]) });
    assert.ok(out.f instanceof Float64Array);
    assert.deepEqual([...out.f], [1.5, 2]);
    assert.ok(out.u instanceof Uint16Array);
  });
  it("keeps Buffer", () => {
    const out = roundTrip(Buffer.from("hello"));
    assert.ok(Buffer.isBuffer(out));
    assert.equal(out.toString(), "hello");
  });
  it("keeps Error name, message, stack, cause and code", () => {
    const err = new FlotillaError(ErrorCode.Broker, "outer", { cause: new TypeError("inner") });
    const out = roundTrip({ err }).err as Error & { code?: string };
    assert.ok(out instanceof Error);
    assert.equal(out.name, "FlotillaError");
    assert.equal(out.message, "outer");
    assert.equal(out.code, ErrorCode.Broker);
    assert.equal(out.stack, err.stack);
    assert.ok(out.cause instanceof Error);
    assert.equal((out.cause as Error).name, "TypeError");
    assert.equal((out.cause as Error).message, "inner");
  });
  it("keeps nested structures and cycles", () => {
    const a: { self?: unknown; list: unknown[] } = { list: [1, new Map([[1, new Set([new Date(0)])]])] };
    a.self = a;
    const out = roundTrip(a);
    assert.equal(out.self, out);
    assert.deepEqual(out.list[1], new Map([[1, new Set([new Date(0)])]]));
  });
  it("refuses a function, naming where it is", () => {
    assert.throws(
      () => serialize({ rows: [1, { fn: () => 1 }] }),
      (e: unknown) =>
        e instanceof FlotillaError &&
        e.code === ErrorCode.Serialization &&
        /value\.rows\[1\]\.fn is a function/.test(e.message),
    );
  });
  it("refuses a socket-like object, naming its class", async () => {
    const { Socket } = await within(import("node:net"), 10_000, "import node:net");
    assert.throws(() => serialize({ s: new Socket() }), /value\.s is a Socket/);
  });
});

describe("the wire's JSON path", { timeout: 30_000 }, () => {
  // Values JSON carries exactly, and values it would change (undefined, -0, NaN, holes, extra
  // array properties, class instances, big arrays...): each must arrive as structured clone brings it.
  const sparse: unknown[] = [1];
  sparse[2] = 3;
  const tagged = Object.assign([1, 2], { extra: "kept" });
  const bare = Object.assign(Object.create(null) as object, { a: 1 });
  const values: [string, unknown, boolean][] = [
    ["a number", 42, true],
    ["a string with a lone surrogate and quotes", 'a"\ud800"b\n', true],
    ["null, booleans, nested objects and small arrays", { a: null, b: [true, false, { c: "x" }] }, true],
    ["an object without prototype", bare, true],
    ["-0", -0, false],
    ["NaN", Number.NaN, false],
    ["Infinity", Number.POSITIVE_INFINITY, false],
    ["undefined in an array", [1, undefined], false],
    ["an undefined property", { a: undefined }, false],
    ["a hole", sparse, false],
    ["an array with a named property", tagged, false],
    ["a Date", new Date(5), false],
    ["a Map", new Map([[1, 2]]), false],
    ["a BigInt", 5n, false],
    ["a large array", Array.from({ length: 1000 }, (_, i) => i), false],
    ["a deep nest", JSON.parse(`${"[".repeat(40)}1${"]".repeat(40)}`), false],
  ];
  for (const [what, value, exact] of values) {
    it(`${what}: ${exact ? "JSON" : "structured clone"}, and it arrives as structured clone brings it`, () => {
      assert.equal(jsonExact([value]), exact);
      const clone = deserialize(serialize([value]));
      const run = encodeRun({ slug: "t", mapIndex: 3, attempt: 2, args: [value] });
      assert.equal(run.j !== undefined, exact, "JSON-encoded arguments");
      const back = decodeRun(JSON.parse(JSON.stringify(run)));
      assert.deepStrictEqual(back, { slug: "t", mapIndex: 3, attempt: 2, args: clone });
      const message: WorkerMessage = {
        t: "result",
        result: {
          slug: "t",
          mapIndex: -1,
          state: { type: "Success", result: value },
          attempts: 1,
          startedAt: 1,
          finishedAt: 2,
          worker: "w",
        },
      };
      const [got] = decodeBatch(encodeBatch([encodeMessage(message)]));
      assert.deepStrictEqual(got, deserialize(serialize(message)));
    });
  }
  it("a cycle takes structured clone", () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    assert.equal(jsonExact(a), false);
    const run = encodeRun({ slug: "t", mapIndex: -1, attempt: 1, args: [a] });
    const [back] = decodeRun(run).args as [Record<string, unknown>];
    assert.equal(back.self, back);
  });
});
