// Test helper: the dashboard's built assets (dist/ui), built once when missing or older than its
// sources (one test file at a time), so browser tests never need a manual build first.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT } from "./flotilla-server.ts";

export const DIST_UI = path.join(ROOT, "dist/ui");

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

const fresh = () => {
  const index = path.join(DIST_UI, "index.html");
  return existsSync(index) && statSync(index).mtimeMs >= newest(path.join(ROOT, "ui"));
};

/**
 * Builds dist/ui with `npm run build:ui` unless it is there and newer than ui/. Test files run two at
 * a time and each may find it stale: a lock (a directory made atomically) lets one build while the
 * others wait for it and then find it fresh, instead of two vite builds emptying and writing the
 * same folder at once. A lock older than the build's deadline is a dead builder's: taken over.
 */
export async function ensureDashboardBuilt(timeoutMs = 180_000): Promise<void> {
  if (fresh()) return;
  const lock = path.join(ROOT, "dist/.ui-build.lock");
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > timeoutMs) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline)
        throw new Error(`the dashboard build of another test file held ${lock} for ${timeoutMs} ms`);
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (!fresh()) await build(timeoutMs);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function build(timeoutMs: number): Promise<void> {
  const vite = path.join(ROOT, "node_modules/vite/bin/vite.js");
  const child = spawn(process.execPath, [vite, "build", "--config", "ui/vite.config.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the dashboard build did not finish in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`npm run build:ui failed (exit ${code}):\n${output}`));
    });
  });
}

/** The built assets' size, raw and gzipped (level 9), in bytes. */
export function builtSize(): { files: number; raw: number; gzip: number } {
  let raw = 0;
  let gzip = 0;
  const all = files(DIST_UI);
  for (const f of all) {
    const b = readFileSync(f);
    raw += b.length;
    gzip += gzipSync(b, { level: 9 }).length;
  }
  return { files: all.length, raw, gzip };
}
