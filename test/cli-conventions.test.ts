// The CLI's conventions, as a kubectl or gh user expects them, driven through the real bin:
// versions, did-you-mean, help and its speed, completion, one meaning of -o, conflicting flags,
// colours, the status line.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { assertOneLineError, bin, cli, root } from "./helpers/cli.ts";

const version = (JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string })
  .version;
const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

describe("versions", { timeout: 120_000 }, () => {
  it("flotilla --version prints the package version; flotilla version adds Node's; -o json", async () => {
    const short = await cli(["--version"]);
    assert.equal(short.code, 0, short.stderr);
    assert.equal(short.stdout, `${version}\n`);
    const long = await cli(["version"]);
    assert.equal(long.stdout, `flotilla ${version} (node ${process.version})\n`);
    const json = await cli(["version", "-o", "json"]);
    assert.deepEqual(JSON.parse(json.stdout), { flotilla: version, node: process.version });
  });
});

describe("typos: one line, did you mean, a pointer to --help, exit 2", { timeout: 120_000 }, () => {
  it("an unknown command", async () => {
    const r = await cli(["rn", "examples/hello.ts"]);
    assertOneLineError(r, 2, /^error: unknown command 'rn' \(did you mean run\?\); see 'flotilla --help'$/m);
    assert.equal(r.stdout, "", "no help dump");
  });
  it("an unknown option names the command's help", async () => {
    const r = await cli(["run", "examples/hello.ts", "--outptu", "json"]);
    assertOneLineError(
      r,
      2,
      /unknown option '--outptu' \(did you mean --output\?\); see 'flotilla run --help'/,
    );
  });
  it("an unknown subcommand", async () => {
    const r = await cli(["runs", "lsit"]);
    assertOneLineError(r, 2, /unknown command 'lsit' \(did you mean list\?\); see 'flotilla runs --help'/);
  });
  it("a missing argument", async () => {
    assertOneLineError(
      await cli(["run"]),
      2,
      /missing required argument 'flow-file'; see 'flotilla run --help'/,
    );
  });
});

describe("help", { timeout: 120_000 }, () => {
  it("lists the user's commands, not the internal ones, and loads no command module", async (t) => {
    const runs = 5;
    const times: number[] = [];
    let out = "";
    for (let i = 0; i < runs; i++) {
      const started = process.hrtime.bigint();
      out = execFileSync(process.execPath, [bin, "--help"], { cwd: root, encoding: "utf8" });
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    times.sort((a, b) => a - b);
    t.diagnostic(`flotilla --help: median ${times[Math.floor(runs / 2)]!.toFixed(0)} ms over ${runs} runs`);
    for (const c of [
      "run",
      "describe",
      "runs",
      "build",
      "secrets",
      "rbac",
      "doctor",
      "sim",
      "version",
      "completion",
    ]) {
      assert.match(out, new RegExp(`^  ${c}\\b`, "m"), `${c} is listed`);
    }
    for (const c of ["worker", "execute", "healthcheck"]) {
      assert.doesNotMatch(out, new RegExp(`^  ${c}\\b`, "m"), `${c} is internal`);
    }
    // the internal commands still run, and still have their help
    const worker = await cli(["worker", "--help"]);
    assert.equal(worker.code, 0);
    assert.match(worker.stdout, /--broker <url>/);
  });
  it("flotilla help run shows run's options", async () => {
    const r = await cli(["help", "run"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /--param <key=value>/);
    assert.match(r.stdout, /-o, --output <format>/);
  });
});

describe("completion", { timeout: 120_000 }, () => {
  it("bash completes commands, subcommands, options and -o's formats", async () => {
    const script = (await cli(["completion", "bash"])).stdout;
    const complete = (line: string) =>
      execFileSync(
        "bash",
        [
          "-c",
          `eval "$SCRIPT"; read -ra a <<<"$LINE"; [[ "$LINE" == *" " ]] && a+=(""); COMP_WORDS=(flotilla "\${a[@]}"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _flotilla; echo "\${COMPREPLY[*]}"`,
        ],
        { env: { ...process.env, SCRIPT: script, LINE: line }, encoding: "utf8" },
      ).trim();
    assert.equal(complete("ru"), "run runs");
    assert.equal(complete("runs l"), "list logs");
    assert.equal(complete("run examples/hello.ts --fl"), "--flow");
    assert.equal(complete("run examples/hello.ts -o "), "table json yaml");
    assert.equal(complete("runs list -o "), "table json yaml wide name");
    assert.equal(complete("w"), "", "internal commands are not offered");
  });
  it("zsh and fish scripts are valid for their shell", async () => {
    const zsh = (await cli(["completion", "zsh"])).stdout;
    assert.match(zsh, /^#compdef flotilla$/m);
    assert.match(zsh, /'run:run a flow/);
    const fish = (await cli(["completion", "fish"])).stdout;
    assert.match(fish, /^complete -c flotilla -n .* -a 'run' -d /m);
    if (has("zsh")) execFileSync("zsh", ["-n"], { input: zsh });
    if (has("fish")) execFileSync("fish", ["--no-execute"], { input: fish });
  });
  it("an unknown shell is a usage error", async () => {
    const r = await cli(["completion", "tcsh"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: completion tcsh: not a shell Flotilla completes/);
  });
});

describe("-o/--output: one meaning on every command", { timeout: 180_000 }, () => {
  it("run -o json and -o yaml print the summary document (no --dry-run needed)", async () => {
    const json = await cli(["run", "examples/hello.ts", "-o", "json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).state, "Success");
    const yaml = await cli(["run", "examples/hello.ts", "-o", "yaml"]);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^flow: hello$/m);
    assert.match(yaml.stdout, /^state: Success$/m);
  });
  it("a format a command does not print is a one-line error naming the ones it does", async () => {
    assertOneLineError(
      await cli(["run", "examples/hello.ts", "-o", "toml"]),
      2,
      /argument 'toml' is invalid\. Allowed choices are table, json, yaml\.; see 'flotilla run --help'/,
    );
    assertOneLineError(await cli(["rbac", "-o", "table"]), 2, /Allowed choices are yaml, json/);
  });
  it("the server's commands check -o too (a format they do not print was a table before)", async () => {
    const server = ["--server", "http://127.0.0.1:1"];
    for (const args of [
      ["tokens", "list", ...server],
      ["deployments", "list", ...server],
      ["schedules", "list", ...server],
      ["agents", "list", ...server],
      ["db", "vacuum", "--older-than", "30d", ...server],
      ["deploy", "examples/hello.ts", "--name", "hello", ...server],
      ["runs", "list", ...server],
      ["runs", "logs", "deadbeef", ...server],
    ]) {
      // a log stream is lines (readable, or one JSON object a line); the others print one document
      const formats = args[1] === "logs" ? "table, json" : "table, json, yaml";
      assertOneLineError(
        await cli([...args, "-o", "yml"]),
        2,
        new RegExp(
          `argument 'yml' is invalid\\. Allowed choices are ${formats}\\.; see 'flotilla ${args[0]}`,
        ),
      );
    }
  });
  it("db vacuum --older-than names its own flag in a bad duration", async () => {
    assertOneLineError(
      await cli(["db", "vacuum", "--older-than", "5x", "--server", "http://127.0.0.1:1"]),
      2,
      /^error: --older-than 5x: expected a duration/,
    );
  });
  it("--dry-run -o table says what a dry run prints", async () => {
    const r = await cli(["run", "examples/seed-min-max/flow.ts", "--dry-run", "-o", "table"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: --dry-run prints Kubernetes objects: use -o yaml or -o json$/m);
  });
  it("describe -o yaml and -o json; -o with --format is a conflict", async () => {
    const yaml = await cli(["describe", "examples/hello.ts", "-o", "yaml"]);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^name: hello$/m);
    const json = await cli(["describe", "examples/hello.ts", "-o", "json"]);
    assert.equal(JSON.parse(json.stdout).name, "hello");
    const both = await cli(["describe", "examples/hello.ts", "-o", "json", "--format", "dot"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /-o json cannot be used with --format dot/);
  });
});

describe("conflicting flags and flags that would do nothing are errors", { timeout: 180_000 }, () => {
  const cases: [string[], RegExp][] = [
    [["--sim", "--workers", "1:2"], /--workers cannot be used with --sim: --workers runs the flow here/],
    [["--detach", "--local"], /--local cannot be used with --detach/],
    [["--dry-run", "--detach"], /--dry-run cannot be used with --detach: a dry run creates nothing/],
    [["--sim", "--kubeconfig", "k.yaml"], /--sim cannot be used with --kubeconfig/],
    [["--detach", "-o", "json"], /-o json cannot be used with --detach/],
  ];
  for (const [flags, pattern] of cases) {
    it(flags.join(" "), async () => {
      const r = await cli(["run", "examples/hello.ts", ...flags]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    });
  }
  it("-n on a flow that runs here", async () => {
    const r = await cli(["run", "examples/hello.ts", "-n", "team-a"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /-n\/--namespace does nothing here: flow "hello" runs in this process/);
  });
  it("--concurrency on a flow that runs on Kubernetes", async () => {
    const r = await cli(["run", "examples/seed-min-max/flow.ts", "--concurrency", "4"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--concurrency does nothing here: flow ".*" runs on Kubernetes/);
  });
});

describe("colours", { timeout: 120_000 }, () => {
  const green = "\x1b[32mSuccess\x1b[39m";
  it("states are coloured with FORCE_COLOR, not into a pipe, not with NO_COLOR", async () => {
    const forced = await cli(["run", "examples/hello.ts"], {
      env: { NO_COLOR: undefined, FORCE_COLOR: "1" },
    });
    assert.ok(forced.stdout.includes(green), forced.stdout);
    const piped = await cli(["run", "examples/hello.ts"], { env: { NO_COLOR: undefined } });
    assert.ok(!piped.stdout.includes("\x1b["), "no colour into a pipe");
    assert.match(piped.stdout, /^greet\s+Success\s+1/m, "columns stay aligned");
    const off = await cli(["run", "examples/hello.ts"], { env: { NO_COLOR: "1" } });
    assert.ok(!off.stdout.includes("\x1b["), "NO_COLOR");
  });
  it("on a terminal, colours are on; the status line is whole when the terminal reports 0 columns", {
    skip: has("script") ? false : "needs script(1) for a pseudo-terminal",
  }, () => {
    const out = execFileSync(
      "script",
      ["-qec", `stty cols 0 rows 0; "${process.execPath}" "${bin}" run examples/hello.ts`, "/dev/null"],
      {
        cwd: root,
        encoding: "utf8",
        // A user's terminal: Node's hasColors() says 1 bit of colour when TERM is unset or when
        // CI is set (as .ci/run sets it), so both are fixed here, not inherited.
        env: {
          ...process.env,
          NO_COLOR: undefined,
          FORCE_COLOR: undefined,
          CI: undefined,
          TERM: "xterm-256color",
        },
        timeout: 60_000,
      },
    );
    assert.ok(out.includes(green), "coloured on a TTY");
    // the status line, drawn after the task's log line, ends with its last count, not cut short
    assert.match(out, /\x1b\[2K[\d.]+s · [^\r\n]*1 Success\r/);
  });
});
