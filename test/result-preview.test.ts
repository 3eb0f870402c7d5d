// Results of any size in the summary: small ones whole, big, binary and non-JSON ones as a bounded
// preview with their type and size, never serialised whole (a 300 MB result must not crash the CLI).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { previewValue } from "../src/core/preview.ts";
import { cli } from "./helpers/cli.ts";

const cliRun = (args: string[], timeoutMs: number) => cli(args, { timeoutMs });

describe("result previews", { timeout: 120_000 }, () => {
  it("a small value is whole and equals JSON.stringify", () => {
    for (const v of [
      1,
      'a"b\\c',
      null,
      true,
      [1, undefined, () => 1],
      { a: 1, b: undefined, d: new Date(0) },
    ]) {
      const p = previewValue(v);
      assert.equal(p.complete, true);
      assert.equal(p.json, JSON.stringify(v));
    }
  });

  it("a long string: type, size, a cut preview and the reason, in bounded time", () => {
    const s = "y".repeat(50_000_000);
    const p = previewValue(s, { previewChars: 20 });
    assert.deepEqual(
      { ...p },
      {
        type: "string",
        size: 50_000_000,
        unit: "characters",
        complete: false,
        json: `"${"y".repeat(19)}…`,
        reason: "too big to print (over 10,000 characters of JSON)",
      },
    );
  });

  it("a big array stops at the budget; binary, bigint and circular values say why", () => {
    const p = previewValue(Array.from({ length: 100_000 }, (_, i) => i));
    assert.equal(p.type, "array");
    assert.equal(p.size, 100_000);
    assert.equal(p.unit, "items");
    assert.match(p.json, /^\[0,1,2,3,.*…$/);
    assert.equal(previewValue(new Uint8Array(10)).reason, "binary data, 10 bytes");
    assert.equal(previewValue({ n: 1n }).reason, "object holds a bigint, which is not JSON");
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    assert.match(previewValue(loop).reason ?? "", /circular reference/);
    assert.equal(previewValue(() => 1).reason, "function is not JSON");
  });

  it("redaction runs before the cut, so a secret across the cut is not half shown", () => {
    const secret = "s3cr3t-value-0123456789";
    const p = previewValue(`${"a".repeat(15)}${secret}${"b".repeat(20_000)}`, {
      previewChars: 20,
      redact: (t) => t.replaceAll(secret, "[redacted]"),
    });
    assert.equal(p.json, `"${"a".repeat(15)}[red…`);
  });

  it("flotilla run --output json with a 300 MB result succeeds and says it is too big to print", async (t) => {
    const r = await cliRun(["run", "test/fixtures/faults-big-result.ts", "--output", "json"], 90_000);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { state: string; tasks: Record<string, unknown>[] };
    assert.equal(doc.state, "Success");
    const byTask = Object.fromEntries(doc.tasks.map((x) => [x.task, x])) as Record<
      string,
      { resultPreview?: { size?: number; reason?: string }; result?: unknown }
    >;
    assert.deepEqual(byTask.huge?.resultPreview, {
      type: "string",
      size: 300 * 2 ** 20,
      unit: "characters",
      preview: `"${"x".repeat(199)}…`,
      reason: "too big to print (over 10,000 characters of JSON)",
    });
    assert.equal(byTask.many?.resultPreview?.size, 1_000_000);
    assert.equal(byTask.bytes?.resultPreview?.reason, "binary data, 4,096 bytes");
    assert.deepEqual(byTask.small?.result, { ok: true, n: 3 });
    assert.ok(r.stdout.length < 20_000, `the summary is ${r.stdout.length} characters`);
    t.diagnostic(`summary of a 300 MB result: ${r.stdout.length} characters`);

    const table = await cliRun(["run", "test/fixtures/faults-big-result.ts"], 90_000);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^huge\s+Success\s+1\s/m);
  });
});
