// Typed flows: Flow.build infers Flow<Params, Result> (compile-time checks of test/types/typed-flow.ts
// under a user's strict tsc), flow.run() returns the typed result, parameters are checked against
// their declared type at run time (from the default, or a zod schema) — through `flotilla run` as a
// user types it — and `bind` works on minified code when the names are given.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { assertOneLineError, cli, root } from "./helpers/cli.ts";

const run = promisify(execFile);

describe("typed flows", { timeout: 180_000 }, () => {
  it("unknown and mistyped parameters and result fields are compile errors (strict tsc)", async () => {
    // every @ts-expect-error line of the fixture must be an error, or tsc reports the unused directive
    const tsc = path.join(root, "node_modules/typescript/bin/tsc");
    const args = [
      tsc,
      "--noEmit",
      "--ignoreConfig",
      "--strict",
      "--skipLibCheck",
      "--target",
      "ES2022",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--allowImportingTsExtensions",
      "--customConditions",
      "flotilla-source",
      "--types",
      "node",
      path.join(root, "test/types/typed-flow.ts"),
    ];
    const r = await run(process.execPath, args, { cwd: root }).catch((e: { stdout: string }) => e);
    assert.equal((r as { stdout: string }).stdout, "", "tsc reports nothing");
  });

  it("flow.run() returns the result of the task the builder returned; a zod schema is checked at run time", async () => {
    const { etl, main } = (await import("./types/typed-flow.ts")) as typeof import("./types/typed-flow.ts");
    assert.equal(await main(), 6, "0+1+2+3");
    assert.deepEqual(
      etl.referenceTasks.map((n) => n.slug),
      ["total"],
    );
    await assert.rejects(
      // biome-ignore lint/suspicious/noExplicitAny: what a plain-JS caller could pass
      etl.run({ parameters: { records: 2, label: "" } as any }),
      /flow "typed-etl": parameter "label" got string "": Too small/,
    );
    await assert.rejects(
      // biome-ignore lint/suspicious/noExplicitAny: what a plain-JS caller could pass
      etl.run({ parameters: { records: "2", label: "x" } as any }),
      /parameter "records" expects a number \(its default is 10\), got string "2"/,
    );
  });

  it("flotilla run --param of the wrong type: one line naming the parameter, the type and the value, exit 2", async () => {
    const r = await cli(["run", "examples/etl.ts", "--param", "records=abc"]);
    assertOneLineError(
      r,
      2,
      /^error: flow "etl": parameter "records" expects a number \(its default is 100\), got string "abc"$/m,
    );
    const schema = await cli(["run", "test/types/typed-flow.ts", "--flow", "typed-etl", "--param", "label="]);
    assertOneLineError(schema, 2, /parameter "label" got string "": Too small/);
  });

  it("a string parameter takes the text as typed; a typed flow runs from the CLI", async () => {
    const hello = await cli(["run", "examples/hello.ts", "--param", "name=123", "-o", "json"]);
    assert.equal(hello.code, 0, hello.stderr);
    assert.equal(JSON.parse(hello.stdout).tasks[0].result, "Hello, 123!");
    const quoted = await cli(["run", "examples/hello.ts", "--param", 'name="Ada L"', "-o", "json"]);
    assert.equal(
      JSON.parse(quoted.stdout).tasks[0].result,
      "Hello, Ada L!",
      "a JSON string literal is its string",
    );
    const typed = await cli([
      "run",
      "test/types/typed-flow.ts",
      "--flow",
      "typed-etl",
      "--param",
      "records=3",
      "--param",
      "label=three",
      "-o",
      "json",
    ]);
    assert.equal(typed.code, 0, typed.stderr);
    const total = JSON.parse(typed.stdout).tasks.find((t: { task: string }) => t.task === "total");
    assert.deepEqual(total.result, { label: "three", sum: 3 });
  });

  it("bind works in minified code when the task names its parameters", async () => {
    const { build } = await import("esbuild");
    // in the repository, so that the module's import of "flotilla" resolves to this package
    const file = path.join(root, "test/fixtures", `.minified-${process.pid}.mjs`);
    try {
      const source = `
        import { Flow, task } from "flotilla";
        const one = task("one", () => 1);
        const addNamed = task("add", (left, right) => left + right, { params: ["left", "right"] });
        const addGuessed = task("add2", (left, right) => left + right);
        export function named() {
          const flow = new Flow("minified");
          addNamed.bind({ left: one, right: 41 }, { flow });
          return flow;
        }
        export function guessed() {
          const flow = new Flow("minified-guessed");
          addGuessed.bind({ left: one, right: 41 }, { flow });
          return flow;
        }`;
      const out = await build({
        stdin: { contents: source, loader: "js" },
        write: false,
        minify: true,
        format: "esm",
      });
      const code = out.outputFiles[0]!.text;
      assert.doesNotMatch(code, /\(left,right\)/, "the minifier renamed the parameters");
      await writeFile(file, code);
      const mod = (await import(pathToFileURL(file).href)) as {
        named: () => import("flotilla").Flow;
        guessed: () => unknown;
      };
      const state = await mod.named().run();
      assert.equal(state.type, "Success");
      assert.equal((state.taskRuns.add!.state as { result: unknown }).result, 42);
      // without names, bind says why and how to fix it
      assert.throws(() => mod.guessed(), /add2.bind: the task function has no parameter "left"/);
    } finally {
      await rm(file, { force: true });
    }
  });
});
