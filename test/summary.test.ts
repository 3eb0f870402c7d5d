// The run summary's DURATION column as a user reads it: a mapped task's duration runs from its
// first child's start to its last child's end, and is "-" (never negative) while a started child
// has not finished, as for any unfinished task; the JSON summary says null there.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderTable, summarizeTasks } from "../src/cli/summary.ts";
import type { FlowRunState, TaskRunRecord } from "../src/core/states.ts";

const T0 = 1_700_000_000_000;
const ok = (start: number, end: number): TaskRunRecord => ({
  state: { type: "Success", result: 1 },
  attempts: 1,
  startedAt: T0 + start,
  finishedAt: T0 + end,
});
const running = (start: number): TaskRunRecord => ({
  state: { type: "Running", attempt: 1 },
  attempts: 1,
  startedAt: T0 + start,
});
const pending: TaskRunRecord = { state: { type: "Pending" }, attempts: 0 };

function run(children: TaskRunRecord[], type: FlowRunState["type"] = "Failed"): FlowRunState {
  return {
    type,
    message: type === "Success" ? "All tasks succeeded" : "cancelled",
    flow: "etl",
    runId: "7f88e4ba-200c-4c6c-b173-0913398c29fb",
    taskRuns: {
      extract: ok(0, 40),
      transform: { state: { type: "Mapped", children }, attempts: 0 },
    },
    startedAt: T0,
    finishedAt: T0 + 5_000,
  };
}

/** The DURATION cell of a task's row in the table. */
function durationCell(state: FlowRunState, task: string): string {
  const row = renderTable(state)
    .split("\n")
    .find((l) => l.startsWith(`${task} `));
  assert.ok(row, `a row for ${task}`);
  return row
    .trim()
    .split(/\s{2,}/)
    .at(-1)!;
}

describe("summary durations", { timeout: 10_000 }, () => {
  it("a finished mapped task: first child's start to last child's end", () => {
    const state = run([ok(100, 300), ok(120, 1_350)], "Success");
    assert.equal(summarizeTasks(state).find((t) => t.task === "transform")?.durationMs, 1_250);
    assert.equal(durationCell(state, "transform"), "1.25 s");
  });

  it("a mapped task with a child still running (the run failed or was cancelled): '-', never negative", () => {
    for (const children of [[running(100)], [ok(100, 300), running(200)], [running(100), pending]]) {
      const state = run(children);
      const t = summarizeTasks(state).find((s) => s.task === "transform");
      assert.equal(t?.durationMs, null, JSON.stringify(children));
      const cell = durationCell(state, "transform");
      assert.equal(cell, "-", renderTable(state));
    }
  });

  it("a mapped task none of whose children started: '-'", () => {
    const state = run([pending, pending]);
    assert.equal(summarizeTasks(state).find((s) => s.task === "transform")?.durationMs, null);
    assert.equal(durationCell(state, "transform"), "-");
  });
});
