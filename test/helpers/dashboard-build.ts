// Test helper: the dashboard's built assets (dist/ui), built once when missing or older than its
// sources, so browser tests never need a manual build first.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
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

/** Builds dist/ui with `npm run build:ui` unless it is there and newer than ui/. */
export async function ensureDashboardBuilt(timeoutMs = 180_000): Promise<void> {
  const index = path.join(DIST_UI, "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newest(path.join(ROOT, "ui"))) return;
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
