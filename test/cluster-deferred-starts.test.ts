// DeferredStarts: a worker's taskStarted events are held back briefly; a task run that finishes
// within the delay hands its start to its result; every start reaches the runner exactly once and
// before any later message about the same task run.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DeferredStarts } from "../src/cluster/deferred-starts.ts";
import type { RunEvent } from "../src/core/executor.ts";

type Started = Extract<RunEvent, { type: "taskStarted" }>;
const start = (mapIndex: number, attempt = 1): Started => ({
  type: "taskStarted",
  slug: "t",
  mapIndex,
  attempt,
});

function harness(delayMs: number) {
  let clock = 0;
  const timers: { fn: () => void; at: number }[] = [];
  const sent: Started[] = [];
  const starts = new DeferredStarts({
    delayMs,
    send: (e) => sent.push(e),
    now: () => clock,
    setTimer: (fn, ms) => timers.push({ fn, at: clock + ms }),
  });
  const advance = (ms: number) => {
    clock += ms;
    for (let t = timers.findIndex((x) => x.at <= clock); t >= 0; t = timers.findIndex((x) => x.at <= clock)) {
      timers.splice(t, 1)[0]!.fn();
    }
  };
  return { starts, sent, advance };
}

describe("deferred task starts", { timeout: 30_000 }, () => {
  it("a task run that finishes within the delay sends its start with its result, not on its own", () => {
    const h = harness(100);
    h.starts.started(start(0));
    h.advance(50);
    assert.equal(h.starts.take("t", 0), 1);
    h.advance(200);
    assert.deepEqual(h.sent, []);
  });
  it("a task run still running after the delay sends its start on its own, once", () => {
    const h = harness(100);
    h.starts.started(start(0));
    h.advance(60);
    h.starts.started(start(1));
    h.advance(40);
    assert.deepEqual(h.sent, [start(0)]);
    h.advance(60);
    assert.deepEqual(h.sent, [start(0), start(1)]);
    assert.equal(h.starts.take("t", 0), undefined);
  });
  it("a retry sends the failed attempt's start first; the next attempt is held again", () => {
    const h = harness(100);
    h.starts.started(start(0, 1));
    h.starts.flushKey("t", 0);
    h.starts.started(start(0, 2));
    assert.deepEqual(h.sent, [start(0, 1)]);
    assert.equal(h.starts.take("t", 0), 2);
  });
  it("flushAll sends every held start (before a task's log line, or on drain); delay 0 sends at once", () => {
    const h = harness(100);
    h.starts.started(start(0));
    h.starts.started(start(1));
    h.starts.flushAll();
    assert.deepEqual(h.sent, [start(0), start(1)]);
    const z = harness(0);
    z.starts.started(start(5));
    assert.deepEqual(z.sent, [start(5)]);
    assert.equal(z.starts.take("t", 5), undefined);
  });
});
