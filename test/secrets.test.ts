// Flotilla Secrets: resolution order, errors that list where we looked, the secrets file's
// permissions and atomic writes, and the `flotilla secrets` commands never printing a value.

import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { Command } from "commander";
import { createSecretsCommand, secretsList, secretsSet } from "../src/cli/commands/secrets.ts";
import { FlotillaError } from "../src/core/errors.ts";
import { Secret, SecretsFile, scrub, secretEnvName } from "../src/secrets/index.ts";
import { within } from "./helpers/deadline.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "flotilla-secrets-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** A fresh secrets file path in a not-yet-existing directory. */
function freshFile(): string {
  counter += 1;
  return path.join(dir, `case-${counter}`, "nested", "secrets.json");
}

function capture(): { write(text: string): boolean; text(): string } {
  let buf = "";
  return {
    write(text: string) {
      buf += text;
      return true;
    },
    text: () => buf,
  };
}

function stdinOf(text: string): PassThrough {
  const s = new PassThrough();
  s.end(text);
  return s;
}

/** Run `flotilla secrets ...` through commander, with captured streams. */
async function cli(
  args: string[],
  options: { env: NodeJS.ProcessEnv; stdin?: NodeJS.ReadableStream },
): Promise<{ stdout: string; stderr: string }> {
  const stdout = capture();
  const stderr = capture();
  const program = new Command("flotilla").exitOverride();
  createSecretsCommand({ stdout, stderr, env: options.env, stdin: options.stdin ?? stdinOf("") })(program);
  await within(
    program.parseAsync(["secrets", ...args], { from: "user" }),
    30_000,
    `flotilla secrets ${args.join(" ")}`,
  );
  return { stdout: stdout.text(), stderr: stderr.text() };
}

describe("secretEnvName", { timeout: 60_000 }, () => {
  test("upper-cases and replaces non-alphanumerics with _", () => {
    assert.equal(secretEnvName("docker-registry.creds"), "FLOTILLA_SECRET_DOCKER_REGISTRY_CREDS");
    assert.equal(secretEnvName("DOCKER_REGISTRY_CREDENTIALS"), "FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS");
  });
});

describe("Secret resolution", { timeout: 60_000 }, () => {
  test("the environment variable wins over the secrets file", async () => {
    const file = freshFile();
    await new SecretsFile(file).set("api-token", "from-file-value-1");
    const env = { FLOTILLA_SECRET_API_TOKEN: "from-env-value-1" };
    assert.equal(await new Secret("api-token", { env, file }).get(), "from-env-value-1");
    assert.equal(await new Secret("api-token", { env: {}, file }).get(), "from-file-value-1");
  });

  test("an empty environment variable falls through to the file", async () => {
    const file = freshFile();
    await new SecretsFile(file).set("TOKEN", "file-wins-here");
    assert.equal(
      await new Secret("TOKEN", { env: { FLOTILLA_SECRET_TOKEN: "" }, file }).get(),
      "file-wins-here",
    );
  });

  test("FLOTILLA_SECRETS_FILE in the given env chooses the file", async () => {
    const file = freshFile();
    await new SecretsFile(file).set("X1", "value-from-env-file");
    assert.equal(
      await new Secret("X1", { env: { FLOTILLA_SECRETS_FILE: file } }).get(),
      "value-from-env-file",
    );
  });

  test("a missing secret names the env var and the file path", async () => {
    const file = freshFile();
    await assert.rejects(
      new Secret("nope-secret", { env: { FLOTILLA_SECRET_NOPE_SECRET: "" }, file }).get(),
      (e) => {
        assert.ok(e instanceof FlotillaError);
        assert.equal(e.code, "FLOTILLA_SECRET_MISSING");
        assert.match(e.message, /"nope-secret"/);
        assert.match(e.message, /FLOTILLA_SECRET_NOPE_SECRET \(set but empty\)/);
        assert.ok(e.message.includes(file), e.message);
        assert.match(e.hint ?? "", /flotilla secrets set nope-secret/);
        return true;
      },
    );
  });

  test("values read are scrubbed from output", async () => {
    const env = { FLOTILLA_SECRET_SCRUBME: "hunter2-the-password" };
    const value = await new Secret("scrubme", { env, file: freshFile() }).get();
    assert.equal(scrub(`login with ${value}`), "login with [redacted]");
  });

  test("getJson parses, and registers the password but not the server", async () => {
    const creds = {
      "docker-server": "registry.example.test",
      "docker-username": "robot",
      "docker-password": "pa55-w0rd-json-leaf",
      "docker-email": "robot@example.test",
    };
    const env = { FLOTILLA_SECRET_DOCKER_REGISTRY_CREDENTIALS: JSON.stringify(creds) };
    const got = await new Secret("DOCKER_REGISTRY_CREDENTIALS", { env, file: freshFile() }).getJson<
      typeof creds
    >();
    assert.deepEqual(got, creds);
    assert.equal(scrub("pw=pa55-w0rd-json-leaf"), "pw=[redacted]");
    assert.equal(scrub("push registry.example.test/img"), "push registry.example.test/img");
  });

  test("getJson on invalid JSON names the secret and its source, never the value", async () => {
    const env = { FLOTILLA_SECRET_BROKEN: "{not-json but-secret-ish" };
    await assert.rejects(new Secret("BROKEN", { env, file: freshFile() }).getJson(), (e) => {
      assert.ok(e instanceof FlotillaError);
      assert.equal(e.code, "FLOTILLA_SECRET_INVALID");
      assert.match(
        e.message,
        /secret "BROKEN" \(from environment variable FLOTILLA_SECRET_BROKEN\) is not valid JSON/,
      );
      assert.ok(!e.message.includes("not-json"), e.message);
      assert.equal(e.cause, undefined);
      return true;
    });
  });

  test("an invalid name is a usage error", () => {
    assert.throws(() => new Secret("bad name!"), /invalid secret name/);
  });
});

describe("SecretsFile", { timeout: 60_000 }, () => {
  test("creates the file 0600 and its directory 0700, atomically, with no temp file left", async () => {
    const file = freshFile();
    const store = new SecretsFile(file);
    await store.set("A", "alpha-value");
    await store.set("B", "bravo-value");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(path.dirname(file)), ["secrets.json"]);
    assert.deepEqual(await store.names(), ["A", "B"]);
    assert.equal(await store.remove("A"), true);
    assert.equal(await store.remove("A"), false);
    assert.deepEqual(await store.names(), ["B"]);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  test("a corrupt file is reported by path and position, without its content", async () => {
    const file = freshFile();
    await new SecretsFile(file).set("A", "placeholder");
    await writeFile(file, '{"version": 1, "secrets": {"A": "leaky-value-xyz"');
    await assert.rejects(new Secret("A", { env: {}, file }).get(), (e) => {
      assert.ok(e instanceof FlotillaError);
      assert.equal(e.code, "FLOTILLA_SECRET_INVALID");
      assert.ok(e.message.includes(file));
      assert.ok(!e.message.includes("leaky-value-xyz"), e.message);
      return true;
    });
  });
});

describe("flotilla secrets", { timeout: 60_000 }, () => {
  test("set from stdin, list shows names only, rm removes; no command prints a value", async () => {
    const file = freshFile();
    const env = { FLOTILLA_SECRETS_FILE: file };
    const value = "stdin-secret-value-42";
    const outputs: string[] = [];
    const set = await cli(["set", "REG"], { env, stdin: stdinOf(`${value}\n`) });
    outputs.push(set.stdout, set.stderr);
    assert.match(set.stdout, /stored secret REG in /);
    assert.equal(await new Secret("REG", { env: {}, file }).get(), value, "one trailing newline is dropped");

    const again = await cli(["set", "REG", "--value-stdin"], { env, stdin: stdinOf(value) });
    outputs.push(again.stdout, again.stderr);
    assert.match(again.stdout, /replaced secret REG/);

    const list = await cli(["list"], { env });
    outputs.push(list.stdout, list.stderr);
    assert.equal(list.stdout, "REG\n");
    const json = await cli(["list", "--output", "json"], { env });
    outputs.push(json.stdout);
    assert.deepEqual(JSON.parse(json.stdout), { file, names: ["REG"] });

    const rm1 = await cli(["rm", "REG"], { env });
    outputs.push(rm1.stdout, rm1.stderr);
    assert.deepEqual((await secretsList({ env })).names, []);
    await assert.rejects(cli(["rm", "REG"], { env }), /secret "REG" is not in/);
    for (const text of outputs) assert.ok(!text.includes(value), `a command printed the value: ${text}`);
  });

  test("--from-file reads the file; --value works but warns", async () => {
    const file = freshFile();
    const env = { FLOTILLA_SECRETS_FILE: file };
    const src = path.join(dir, "creds.json");
    await writeFile(src, '{"docker-password":"from-file-pw-1"}\n');
    const fromFile = await cli(["set", "CREDS", "--from-file", src], { env });
    assert.ok(!fromFile.stdout.includes("from-file-pw-1"));
    assert.deepEqual(await new Secret("CREDS", { env: {}, file }).getJson(), {
      "docker-password": "from-file-pw-1",
    });

    const argv = await cli(["set", "ARGV", "--value", "argv-value-visible"], { env });
    assert.match(argv.stderr, /warning: --value puts the secret in your shell history/);
    assert.ok(!argv.stdout.includes("argv-value-visible") && !argv.stderr.includes("argv-value-visible"));
    assert.equal(await new Secret("ARGV", { env: {}, file }).get(), "argv-value-visible");
  });

  test("two value sources at once, or an empty value, are usage errors and store nothing", async () => {
    const file = freshFile();
    const env = { FLOTILLA_SECRETS_FILE: file };
    await assert.rejects(secretsSet({ name: "A", env, value: "x1234", valueStdin: true }), /only one of/);
    await assert.rejects(secretsSet({ name: "A", env, stdin: stdinOf("\n") }), /the value is empty/);
    await assert.rejects(stat(file), { code: "ENOENT" });
  });

  test("on a terminal, set prompts without echoing the value", async () => {
    const file = freshFile();
    const stdin = Object.assign(new PassThrough(), { isTTY: true, modes: [] as boolean[] });
    const tty = Object.assign(stdin, {
      setRawMode(mode: boolean) {
        stdin.modes.push(mode);
        return stdin;
      },
    });
    const stderr = capture();
    const done = secretsSet({ name: "TYPED", env: { FLOTILLA_SECRETS_FILE: file }, stdin: tty, stderr });
    tty.write("typed-secr");
    tty.write("x\u007fet\r");
    const result = await done;
    assert.equal(result.source, "prompt");
    assert.deepEqual(stdin.modes, [true, false], "raw mode on while typing, then restored");
    assert.match(stderr.text(), /^Value of secret TYPED \(input hidden\): \n$/);
    assert.equal(await new Secret("TYPED", { env: {}, file }).get(), "typed-secret");
    assert.ok((await readFile(file, "utf8")).includes('"TYPED"'));
  });
});
