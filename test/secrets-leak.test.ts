// The leak scan: several secrets (one with quotes and backslashes, one non-ASCII, one with spaces,
// `&` and `<>`) are read by a task, printed by hand in many ways (console.*, direct writes, the
// task logger), passed to task runs on other workers, returned as results and quoted in a failure.
// No form of any of them (raw, JSON-escaped, twice JSON-escaped, \u-escaped, base64, base64url,
// URL-encoded) may appear in anything the CLI prints, locally or with --workers.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { noLeakAssertion } from "./helpers/leak-scan.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECRETS: Record<string, string> = {
  LEAK_A: "plain-token-5f3a9c1e",
  LEAK_B: 'quo"te\\back\\slash-77',
  LEAK_C: "nön-äscii-pässwörd-✓-é",
  LEAK_D: "spaces & <tags> / ?q=1",
};

const assertNoLeak = noLeakAssertion(SECRETS);

function cli(
  args: string[],
  timeoutMs = 90_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: "1",
      LEAK_SECRET_NAMES: Object.keys(SECRETS).join(","),
    };
    for (const [name, value] of Object.entries(SECRETS)) env[`FLOTILLA_SECRET_${name}`] = value;
    const child = spawn(process.execPath, [path.join(root, "bin/flotilla.js"), ...args], { cwd: root, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flotilla ${args.join(" ")} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const FLOW = "test/fixtures/faults-secret-console.ts";

describe("no secret leaks from a run", { timeout: 300_000 }, () => {
  for (const [label, extra] of [
    ["local", []],
    ["--workers 2:2 --concurrency 1", ["--workers", "2:2", "--concurrency", "1"]],
  ] as const) {
    for (const output of ["table", "json"] as const) {
      test(`${label}, --output ${output}, pretty and JSON logs`, async () => {
        for (const logFormat of output === "json" ? ["json"] : ["pretty"]) {
          const r = await cli(["run", FLOW, ...extra, "--output", output, "--log-format", logFormat]);
          assert.equal(r.code, 1, r.stderr); // the `fail` task quotes the secrets
          assert.match(r.stdout + r.stderr, /\[redacted\]/, "the secrets were printed (and scrubbed)");
          // every task that printed them ran: the map over 4 elements on both workers
          assert.equal(
            (r.stderr.match(/use\d logger/g) ?? []).length,
            4 * Object.keys(SECRETS).length,
            r.stderr,
          );
          assertNoLeak(`${label} stdout`, r.stdout);
          assertNoLeak(`${label} stderr`, r.stderr);
          if (output === "json") {
            // on the local executor a task's console.log shares stdout with the document
            const doc = JSON.parse(r.stdout.slice(r.stdout.search(/^\{$/m))) as {
              tasks: { task: string; result?: unknown }[];
            };
            assert.deepEqual(doc.tasks.find((t) => t.task === "read")?.result, Array(4).fill("[redacted]"));
          }
        }
      });
    }
  }
});
