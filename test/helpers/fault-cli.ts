// A CLI under test as a process a user starts: its own TMPDIR (so a flotilla-broker-* or
// kube-sim-* folder left there is its own), its output, waits with deadlines, every process it
// started (sampled from /proc while it runs), and the check that nothing of it is left.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = path.join(root, "bin/flotilla.js");
const dirs: string[] = [];
const children: ChildProcess[] = [];
/** Remove `dir` with the CLIs' folders in `cleanupClis`. */
export function trackDir(dir: string): void {
  dirs.push(dir);
}

/** Kill every CLI still running and remove every temp folder: call it in `after`. */
export async function cleanupClis(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}

export interface Cli {
  child: ChildProcess;
  tmp: string;
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr matches, rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or 128 + signal), rejects after timeoutMs. */
  exit(timeoutMs?: number): Promise<number>;
  /** Every process started under it (workers, broker, their children), seen so far. */
  descendants(): Set<number>;
}

export async function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Cli> {
  const tmp = await mkdtemp(path.join(tmpdir(), "flotilla-faults-"));
  dirs.push(tmp);
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", TMPDIR: tmp, ...env },
  });
  children.push(child);
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => {
    err += d;
    for (const w of waiters) w();
  });
  const seen = new Set<number>();
  const sample = setInterval(() => {
    for (const p of descendantsOf(child.pid!)) seen.add(p);
  }, 100);
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => {
      clearInterval(sample);
      for (const w of waiters) w();
      resolve(code ?? 128 + (signal === "SIGKILL" ? 9 : signal === "SIGTERM" ? 15 : 2));
    }),
  );
  return {
    child,
    tmp,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(err)) done(resolve);
          else if (child.exitCode !== null || child.signalCode !== null)
            done(() => reject(new Error(`exited before ${pattern}: ${err}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${pattern} in ${timeoutMs} ms: ${err}`))),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    exit(timeoutMs = 90_000) {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        exited.finally(() => clearTimeout(timer)),
        new Promise<number>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not exit in ${timeoutMs} ms: ${err}`)), timeoutMs);
        }),
      ]);
    },
    descendants: () => seen,
  };
}

/** Process ids whose parent chain leads to `pid` (from /proc). */
export function descendantsOf(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) {
      if (pp === p && !out.includes(c)) {
        out.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return out;
}

/** Processes still running (zombies, already dead and waiting for a reaper, do not count). */
export function stillRunning(pids: Iterable<number>): number[] {
  return [...pids].filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  });
}

/** The process count and temp folders a run leaves, asserted empty; waits (bounded) for exits. */
export async function assertNothingLeft(cli: Cli): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (stillRunning(cli.descendants()).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  const left = stillRunning(cli.descendants()).map((p) => {
    try {
      return `${p}: ${readFileSync(`/proc/${p}/cmdline`, "utf8").replaceAll("\0", " ")}`;
    } catch {
      return String(p);
    }
  });
  assert.deepEqual(left, [], "no process of the run is left");
  const folders = existsSync(cli.tmp)
    ? readdirSync(cli.tmp).filter((f) => /^(flotilla-broker|kube-sim)-/.test(f))
    : [];
  assert.deepEqual(folders, [], "no flotilla-broker-* or kube-sim-* folder is left");
}
