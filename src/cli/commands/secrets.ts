// `flotilla secrets set|list|rm`: manage the local secrets file. Invariants: no subcommand ever
// prints a value; `set` reads the value from stdin, a file, or a prompt that does not echo, and
// takes it on argv (`--value`, visible in `ps` and shell history) only with a warning.

import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { defaultSecretsFilePath, SecretsFile } from "../../secrets/file.ts";
import { registerSecret } from "../../secrets/redact.ts";
import type { CommandDefinition } from "../command.ts";
import { type OutputFormat, outputOption, renderDocument } from "../output.ts";

/** Where the commands read and write; tests pass their own streams. */
export interface SecretsIo {
  /** @default process.stdin */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  /** Prompts and warnings. @default process.stderr */
  stderr?: { write(text: string): unknown };
  /** Where `FLOTILLA_SECRETS_FILE` is read. @default process.env */
  env?: NodeJS.ProcessEnv;
}

export interface SecretsSetOptions extends SecretsIo {
  name: string;
  /** Read the value from stdin (a hidden prompt when stdin is a terminal). The default. */
  valueStdin?: boolean;
  /** Read the value from this file. */
  fromFile?: string;
  /** The value itself: visible in `ps` and shell history, so a warning is printed. */
  value?: string;
}

/** How `set` obtained the value. */
export type SecretValueSource = "stdin" | "prompt" | "file" | "argv";

export interface SecretsSetResult {
  name: string;
  file: string;
  replaced: boolean;
  source: SecretValueSource;
}

/** The largest value `set` accepts, in bytes (Kubernetes Secrets hold at most 1 MiB). */
export const MAX_SECRET_BYTES = 1024 * 1024;

/** Store a secret in the local secrets file. A single trailing newline of the input is dropped. */
export async function secretsSet(options: SecretsSetOptions): Promise<SecretsSetResult> {
  const stdin = options.stdin ?? process.stdin;
  const stderr = options.stderr ?? process.stderr;
  const chosen = [options.valueStdin === true, options.fromFile !== undefined, options.value !== undefined];
  if (chosen.filter(Boolean).length > 1) {
    throw new FlotillaError(
      ErrorCode.Usage,
      "secrets set: give only one of --value-stdin, --from-file, --value",
      {
        usage: true,
      },
    );
  }
  let raw: string;
  let source: SecretValueSource;
  if (options.value !== undefined) {
    registerSecret(options.value);
    stderr.write(
      "warning: --value puts the secret in your shell history and in the process list; prefer --value-stdin or --from-file\n",
    );
    raw = options.value;
    source = "argv";
  } else if (options.fromFile !== undefined) {
    raw = await readValueFile(options.fromFile);
    source = "file";
  } else if (stdin.isTTY === true && typeof stdin.setRawMode === "function") {
    raw = await promptHidden(stdin, stderr, `Value of secret ${options.name} (input hidden): `);
    source = "prompt";
  } else {
    raw = await readAll(stdin);
    source = "stdin";
  }
  const value = raw.replace(/\r?\n$/, "");
  const store = new SecretsFile(defaultSecretsFilePath(options.env ?? process.env));
  const replaced = await store.set(options.name, value);
  return { name: options.name, file: store.path, replaced, source };
}

export interface SecretsListResult {
  file: string;
  names: string[];
}

/** The names of the secrets in the local secrets file (never their values). */
export async function secretsList(options: Pick<SecretsIo, "env"> = {}): Promise<SecretsListResult> {
  const store = new SecretsFile(defaultSecretsFilePath(options.env ?? process.env));
  return { file: store.path, names: await store.names() };
}

export interface SecretsRemoveResult {
  name: string;
  file: string;
}

/** Remove a secret from the local secrets file; a missing name is an error naming the file. */
export async function secretsRemove(
  options: { name: string } & Pick<SecretsIo, "env">,
): Promise<SecretsRemoveResult> {
  const store = new SecretsFile(defaultSecretsFilePath(options.env ?? process.env));
  if (!(await store.remove(options.name))) {
    throw new FlotillaError(ErrorCode.SecretMissing, `secret "${options.name}" is not in ${store.path}`, {
      hint: "`flotilla secrets list` shows the names it holds",
    });
  }
  return { name: options.name, file: store.path };
}

/** Streams and environment of the `secrets` commands; tests pass their own. */
export interface SecretsCommandIo extends SecretsIo {
  /** @default process.stdout */
  stdout?: { write(text: string): unknown };
}

/** The `secrets` command group, writing to `io` (the process's streams by default). */
export function createSecretsCommand(io: SecretsCommandIo = {}): CommandDefinition {
  return (program: Command) => {
    const out = (text: string): void => {
      (io.stdout ?? process.stdout).write(text);
    };
    const secrets = program
      .command("secrets")
      .description(
        "manage the local secrets file ($FLOTILLA_SECRETS_FILE or ~/.flotilla/secrets.json); values are never printed",
      );
    secrets
      .command("set <name>")
      .description("store a secret; the value is read from stdin (or a hidden prompt on a terminal)")
      .option("--value-stdin", "read the value from stdin (the default)")
      .option("--from-file <file>", "read the value from a file")
      .option("--value <value>", "the value on the command line (unsafe: visible in `ps` and shell history)")
      .action(async (name: string, opts: { valueStdin?: boolean; fromFile?: string; value?: string }) => {
        const result = await secretsSet({ ...io, name, ...opts });
        out(`${result.replaced ? "replaced" : "stored"} secret ${result.name} in ${result.file}\n`);
      });
    secrets
      .command("list")
      .description("list secret names (never values)")
      .addOption(outputOption(["table", "json", "yaml", "name"]))
      .action(async (opts: { output: OutputFormat }) => {
        const result = await secretsList(io);
        out(
          opts.output === "json" || opts.output === "yaml"
            ? await renderDocument(result, opts.output)
            : result.names.map((n) => `${n}\n`).join(""),
        );
      });
    secrets
      .command("rm <name>")
      .description("remove a secret")
      .action(async (name: string) => {
        const result = await secretsRemove({ ...io, name });
        out(`removed secret ${result.name} from ${result.file}\n`);
      });
  };
}

/** `flotilla secrets set|list|rm`, on the process's streams. */
export const secretsCommand: CommandDefinition = createSecretsCommand();

async function readValueFile(file: string): Promise<string> {
  try {
    const buf = await readFile(file);
    if (buf.length > MAX_SECRET_BYTES) throw tooLarge(`file ${file}`);
    return buf.toString("utf8");
  } catch (error) {
    if (error instanceof FlotillaError) throw error;
    throw new FlotillaError(
      ErrorCode.Usage,
      `secrets set --from-file: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
      {
        usage: true,
      },
    );
  }
}

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_SECRET_BYTES) throw tooLarge("stdin");
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function tooLarge(where: string): FlotillaError {
  return new FlotillaError(ErrorCode.Usage, `secrets set: the value from ${where} is larger than 1 MiB`, {
    usage: true,
  });
}

/** Read one line from a terminal in raw mode, echoing nothing. Ctrl-C cancels. */
function promptHidden(
  input: NodeJS.ReadableStream & { setRawMode?(mode: boolean): unknown },
  output: { write(text: string): unknown },
  question: string,
): Promise<string> {
  output.write(question);
  input.setRawMode?.(true);
  input.setEncoding("utf8");
  input.resume();
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = (): void => {
      input.off("data", onData);
      input.setRawMode?.(false);
      input.pause();
      output.write("\n");
    };
    const onData = (chunk: string | Buffer): void => {
      for (const ch of String(chunk)) {
        if (ch === "\r" || ch === "\n" || (ch === "\u0004" && value !== "")) {
          finish();
          resolve(value);
          return;
        }
        if (ch === "\u0003" || ch === "\u0004") {
          finish();
          reject(
            new FlotillaError(ErrorCode.Usage, "secrets set: cancelled, nothing stored", { usage: true }),
          );
          return;
        }
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on("data", onData);
  });
}
