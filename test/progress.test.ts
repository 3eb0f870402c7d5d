// Progress as a user sees it: plain lines in logs (not a TTY), one redrawn status line on a TTY.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Progress } from "../src/cli/progress.ts";

function capture(tty: boolean) {
  let out = "";
  const stream = {
    isTTY: tty,
    columns: 200,
    write: (s: string) => {
      out += s;
      return true;
    },
  };
  let now = 0;
  const progress = new Progress({ stream, tty, now: () => now });
  return { progress, out: () => out, tick: (ms: number) => (now += ms) };
}

describe("progress", { timeout: 30_000 }, () => {
  it("not a TTY: plain lines for finished tasks, maps and worker changes; no escape codes", () => {
    const { progress, out } = capture(false);
    progress.onEvent({ type: "workers", count: 1, pending: 0, reason: "min" });
    progress.onEvent({ type: "workers", count: 1, pending: 0, reason: "same count again" });
    progress.onEvent({
      type: "taskFinished",
      slug: "extract",
      mapIndex: -1,
      state: { type: "Success", result: 1 },
    });
    progress.onEvent({ type: "mapped", slug: "double", children: 2 });
    progress.onEvent({
      type: "taskFinished",
      slug: "double",
      mapIndex: 0,
      state: { type: "Success", result: 1 },
    });
    progress.onEvent({
      type: "taskFinished",
      slug: "double",
      mapIndex: 1,
      state: { type: "Failed", message: "boom" },
    });
    progress.logStream.write("[load] a log line\n");
    progress.stop();
    assert.equal(
      out(),
      [
        "workers: 1 running",
        "extract Success",
        "double: mapped over 2 elements",
        "double[1] Failed: boom",
        "double: 2/2 mapped runs finished",
        "[load] a log line",
        "",
      ].join("\n"),
    );
  });

  it("on a TTY: a status line with a bar per mapped task, cleared before log lines and at the end", () => {
    const { progress, out, tick } = capture(true);
    progress.onEvent({ type: "mapped", slug: "double", children: 4 });
    progress.onEvent({ type: "taskStarted", slug: "double", mapIndex: 0, attempt: 1 });
    progress.onEvent({
      type: "taskFinished",
      slug: "double",
      mapIndex: 0,
      state: { type: "Success", result: 1 },
    });
    tick(1500);
    progress.logStream.write("WARN [double[1]] retrying\n");
    // The log line, then the status line drawn below it.
    assert.match(
      out(),
      /WARN \[double\[1\]\] retrying\n\r\x1b\[2K1\.5s · double \[#####-+\] 1\/4 · 1 Success$/,
    );
    progress.logStream.write("another\n");
    assert.match(out(), /1 Success\r\x1b\[2Kanother\n/, "the status line is cleared before a log line");
    progress.stop();
    assert.ok(out().endsWith("\r\x1b[2K"), "the status line is cleared before the summary");
  });
});
