// Every ```ts block of README.md and docs/*.md is a program: each is written to a file of a temp
// project (whose node_modules/flotilla is this checkout) and run with node + tsx, as a user who
// copied it would; it must exit 0. A block that cannot run on its own (an excerpt of a file the
// tests run, or one that needs objects it does not create) is opted out by an HTML comment on the
// line right before its fence, saying why:
//   <!-- not run: an excerpt of examples/seed-min-max/flow.ts, which the tests run -->
// Blocks that start a LocalCluster run for real (redis-server from `npm test`'s setup).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const OPT_OUT = /^<!--\s*not run:\s*\S.*-->\s*$/;

interface Block {
  file: string;
  line: number;
  code: string;
  optOut?: string;
}

/** The ```ts blocks of a Markdown file, with the line of their fence and their opt-out, if any. */
function tsBlocks(file: string, text: string): Block[] {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== "```"; i++) body.push(lines[i]!);
    const before = lines[start - 1]?.trim() ?? "";
    blocks.push({
      file,
      line: start + 1,
      code: `${body.join("\n")}\n`,
      ...(OPT_OUT.test(before) ? { optOut: before } : {}),
    });
  }
  return blocks;
}

const docs = [
  "README.md",
  ...(await readdir(path.join(root, "docs"))).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
];
const blocks: Block[] = [];
for (const file of docs.sort()) blocks.push(...tsBlocks(file, await readFile(path.join(root, file), "utf8")));

let project = "";

describe("documented TypeScript examples run", { timeout: 10 * 60_000 }, () => {
  before(async () => {
    project = await mkdtemp(path.join(tmpdir(), "flotilla-docs-"));
    await mkdir(path.join(project, "node_modules"));
    await symlink(root, path.join(project, "node_modules", "flotilla"), "dir");
    // Examples may import what a user installs beside Flotilla for them (zod for typed parameters).
    for (const dep of ["zod"]) {
      await symlink(path.join(root, "node_modules", dep), path.join(project, "node_modules", dep), "dir");
    }
    await writeFile(path.join(project, "package.json"), JSON.stringify({ type: "module", private: true }));
  });
  after(async () => {
    if (project) await rm(project, { recursive: true, force: true });
  });

  it("finds the blocks (README and docs/ have some)", () => {
    assert.ok(
      blocks.filter((b) => !b.optOut).length >= 4,
      `blocks: ${blocks.map((b) => `${b.file}:${b.line}`)}`,
    );
  });

  for (const block of blocks) {
    const where = `${block.file}:${block.line}`;
    it(`${where}${block.optOut ? " (opted out)" : ""}`, {
      skip: block.optOut ?? false,
      timeout: 120_000,
    }, async () => {
      const file = path.join(project, `${block.file.replace(/[^\w]+/g, "-")}-${block.line}.ts`);
      await writeFile(file, block.code);
      const r = await new Promise<{ code: number; out: string }>((resolve, reject) => {
        execFile(
          process.execPath,
          ["--import", import.meta.resolve("tsx"), file],
          { cwd: project, timeout: 110_000, env: { ...process.env, NO_COLOR: "1" } },
          (error, stdout, stderr) => {
            if (error && typeof error.code !== "number")
              reject(new Error(`${where}: ${error.message}\n${stderr}`));
            else resolve({ code: typeof error?.code === "number" ? error.code : 0, out: stdout + stderr });
          },
        );
      });
      assert.equal(r.code, 0, `${where} exited ${r.code}:\n${r.out}`);
    });
  }
});
