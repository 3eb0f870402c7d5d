// .dockerignore as Docker reads it (@balena/dockerignore, moby's rules), and the promise that
// matters: a file the user excluded never enters an image. The differential part builds real
// contexts for real-world pattern sets and checks that the files packed are exactly the project's
// files the matcher keeps, path by path (the context walker prunes excluded directories, so a
// pruning mistake would show here).
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { compileDockerStorageOptions } from "../src/storage/docker.ts";
import { planBuildContext, writeBuildContext } from "../src/storage/docker-context.ts";
import { IgnoreRules } from "../src/storage/docker-ignore.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SEED = path.join(ROOT, "test/fixtures/storage-seed");

describe("Docker's ignore rules", { timeout: 60_000 }, () => {
  const excludes = (patterns: string[], rel: string) => new IgnoreRules(patterns).excludes(rel);

  test("paths are cleaned as Docker cleans them: ./secret.txt and a/../b", () => {
    assert.equal(excludes(["./secret.txt"], "secret.txt"), true);
    assert.equal(excludes(["a/../b"], "b"), true);
    assert.equal(excludes(["a/../b"], "a/b"), false);
    assert.equal(excludes(["/abs.txt"], "abs.txt"), true);
  });

  test("[!a] is a character class of '!' and 'a' (Go has no [!...] negation)", () => {
    assert.equal(excludes(["[!a].txt"], "a.txt"), true);
    assert.equal(excludes(["[!a].txt"], "!.txt"), true);
    assert.equal(excludes(["[!a].txt"], "b.txt"), false);
  });

  test("last match wins, ! re-includes, ** spans directories, a directory excludes what is below it", () => {
    assert.equal(excludes(["*.md", "!README.md"], "README.md"), false);
    assert.equal(excludes(["*.md", "!README.md"], "NOTES.md"), true);
    assert.equal(excludes(["**/*.test.ts"], "src/deep/x.test.ts"), true);
    assert.equal(excludes(["docs"], "docs/guide/intro.md"), true);
    assert.equal(excludes(["Secret.txt"], "secret.txt"), false, "case-sensitive, as Docker on Linux");
  });

  test("node_modules and .git are always excluded", () => {
    assert.equal(excludes(["!node_modules"], "node_modules/x/index.js"), true);
    assert.equal(excludes([], "sub/.git/HEAD"), true);
  });
});

/** Real-world .dockerignore files (Node projects, Docker's documentation, allow-lists). */
const PATTERN_SETS: Record<string, string[]> = {
  "node defaults": [
    "node_modules",
    "npm-debug.log",
    ".env",
    ".env.*",
    "coverage",
    "dist",
    "*.log",
    "Dockerfile",
  ],
  "docker docs": ["# comment", "*/temp*", "*/*/temp*", "temp?", "**/*.md", "!README*.md", "README-secret.md"],
  "allow-list": ["*", "!package.json", "!package-lock.json", "!flow.ts", "!src/**", "src/**/*.test.ts"],
  "cleaned and literal": ["./secret.txt", "a/../b", "[!a].txt", "/notes", "data/**/cache", "trailing/"],
  "excluded dir, file re-included": ["config", "!config/app.yaml", "scratch/"],
};

const TREE = [
  ".env",
  ".env.local",
  "npm-debug.log",
  "server.log",
  "Dockerfile",
  "README.md",
  "README-secret.md",
  "CHANGES.md",
  "secret.txt",
  "b",
  "a/b",
  "a.txt",
  "!.txt",
  "c.txt",
  "notes",
  "temp1",
  "lib/temp-file.ts",
  "lib/x/temporary.ts",
  "coverage/lcov.info",
  "dist/index.js",
  "src/index.ts",
  "src/index.test.ts",
  "src/deep/util.ts",
  "src/deep/util.test.ts",
  "data/set/cache/blob.bin",
  "data/set/rows.csv",
  "trailing/file.txt",
  "config/app.yaml",
  "config/secrets.yaml",
  "docs/guide.md",
];

let tmp = "";

describe("a file the user excluded never enters the image (differential)", { timeout: 120_000 }, () => {
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "flotilla-ignore-"));
  });
  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const [name, patterns] of Object.entries(PATTERN_SETS)) {
    test(name, async () => {
      const project = path.join(tmp, name.replace(/\W+/g, "-"));
      await cp(SEED, project, { recursive: true });
      for (const rel of TREE) {
        await mkdir(path.dirname(path.join(project, rel)), { recursive: true });
        await writeFile(path.join(project, rel), `${rel}\n`);
      }
      await writeFile(path.join(project, ".dockerignore"), `${patterns.join("\n")}\n`);
      const plan = await planBuildContext(
        { name: "seed", file: path.join(project, "flow.ts"), fingerprint: "0".repeat(16) },
        compileDockerStorageOptions({ registryUrl: "gcr.io/dev/", imageName: "ignore-test", imageTag: "1" }),
      );
      const written = await writeBuildContext(
        plan,
        path.join(project, "..", `${path.basename(project)}-ctx`),
      );
      const packed = new Set(
        written.entries
          .map((e) => e.path)
          .filter((p) => p.startsWith("project/"))
          .map((p) => p.slice(8)),
      );
      const rules = new IgnoreRules(patterns);
      const all = [
        ...TREE,
        ".dockerignore",
        "flow.ts",
        "package.json",
        "package-lock.json",
        "worker_spec.yaml",
        "debug.local",
        "scratch/notes.txt",
      ];
      for (const rel of all) {
        const expected = !rules.excludes(rel);
        assert.equal(
          packed.has(rel),
          expected,
          `${rel}: ${expected ? "kept" : "excluded"} by [${patterns}] but ${packed.has(rel) ? "packed" : "not packed"}`,
        );
      }
    });
  }
});
