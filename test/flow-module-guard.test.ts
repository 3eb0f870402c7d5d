// A flow module that starts a run when it is imported is refused, with the file and the fix
// (isMain), by every process that imports flow modules: `flotilla run`, the image health check and
// a cluster worker (all three load it through the same loader). isMain itself: true for the
// script node started, false for an import.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { isMain } from "../src/index.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = path.join(root, "bin/flotilla.js");
const fixture = "test/fixtures/runs-on-import.ts";

function flotilla(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } },
      (error, _stdout, stderr) => {
        if (error && typeof error.code !== "number") reject(error);
        else resolve({ code: typeof error?.code === "number" ? error.code : 0, stderr });
      },
    );
  });
}

function assertRefused(r: { code: number; stderr: string }) {
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, /runs-on-import\.ts starts a run of flow "runs-on-import" when it is imported/);
  assert.match(r.stderr, /isMain\(import\.meta\)/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
}

describe("flow modules that start a run on import", { timeout: 120_000 }, () => {
  it("flotilla run refuses it, naming the file and the isMain guard", async () => {
    assertRefused(await flotilla(["run", fixture]));
  });

  it("the image health check refuses it", async () => {
    assertRefused(await flotilla(["healthcheck", fixture]));
  });

  it("isMain is true for the script node started (this test file), false for another module", () => {
    assert.equal(isMain(import.meta), true);
    assert.equal(isMain({ url: new URL("./fixtures/runs-on-import.ts", import.meta.url).href }), false);
    assert.equal(
      isMain({ url: "file:///elsewhere.js", main: true }),
      true,
      "Node 24's import.meta.main wins",
    );
  });
});
