#!/usr/bin/env node
// `npm run lint`'s package checks: build dist/, pack the tarball a user would install, and run
// publint and Are the Types Wrong on that tarball (esm-only: Flotilla has no CommonJS entry).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => path.join(root, "node_modules", ".bin", name);

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...options });
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r;
}

const dir = mkdtempSync(path.join(os.tmpdir(), "flotilla-pack-"));
try {
  run("npm", ["run", "--silent", "build"]);
  const packed = spawnSync("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", dir], {
    cwd: root,
    encoding: "utf8",
  });
  if (packed.status !== 0) {
    process.stderr.write(packed.stderr);
    process.exit(1);
  }
  const tarball = path.join(dir, packed.stdout.trim().split("\n").pop());
  run(bin("publint"), ["run", tarball, "--strict"]);
  // attw prints a table per entry point: quiet when clean, the full report when not.
  const attw = [tarball, "--profile", "esm-only", "--no-emoji"];
  if (spawnSync(bin("attw"), [...attw, "--quiet"], { cwd: root }).status !== 0) run(bin("attw"), attw);
  process.stdout.write("attw: no problems (esm-only profile)\n");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
