// Test helper: the real `flotilla` bin as a user types it (a child process, stdin empty), with a
// deadline; and the shape every user error must have.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));
export const bin = path.join(root, "bin/flotilla.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `flotilla ...args` from the repository root; NO_COLOR unless `env` says otherwise. */
export function cli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: undefined, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flotilla ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A user error: exit `code`, exactly one line on stderr matching `pattern`, no stack trace. */
export function assertOneLineError(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace without --debug");
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line, got:\n${r.stderr}`);
}

/** A user error: exit `code`, one "error:" line (and perhaps a hint under it), no stack trace. */
export function assertUserError(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace without --debug");
  assert.equal(r.stderr.match(/^error:/gm)?.length, 1, r.stderr);
}
