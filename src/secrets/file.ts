// The local secrets file: a JSON map of secret names to values, managed by `flotilla secrets`.
// Invariants: the file is only ever replaced atomically (write a 0600 temp file in the same
// directory, fsync, rename), so a reader sees the old or the new content, never half of it; the
// directory Flotilla creates is 0700; no value ever appears in an error message (parse errors
// name the file and a position, never the text around it).

import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { registerSecret } from "./redact.ts";

/** The environment variable that overrides where the secrets file lives. */
export const SECRETS_FILE_ENV = "FLOTILLA_SECRETS_FILE";

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const FORMAT_VERSION = 1;

/** A secret name: letters, digits, `_`, `-`, `.`; starts with a letter or digit; at most 253 characters. */
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

/** Throw a usage error unless `name` is a valid secret name. */
export function assertSecretName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new FlotillaError(ErrorCode.Usage, `invalid secret name ${JSON.stringify(name)}`, {
      hint: "use letters, digits, '_', '-' and '.', starting with a letter or digit (e.g. DOCKER_REGISTRY_CREDENTIALS)",
      usage: true,
    });
  }
}

/**
 * The secrets file path: `$FLOTILLA_SECRETS_FILE` if set, else `~/.flotilla/secrets.json`.
 * @param env where to read `FLOTILLA_SECRETS_FILE` from. @default process.env
 */
export function defaultSecretsFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env[SECRETS_FILE_ENV];
  if (override !== undefined && override !== "") return path.resolve(override);
  return path.join(os.homedir(), ".flotilla", "secrets.json");
}

interface SecretsFileContent {
  version: number;
  secrets: Record<string, string>;
}

/**
 * The local secrets store. Every value read or written is registered with the scrubber, so it
 * cannot reach a log line or an error message afterwards.
 */
export class SecretsFile {
  /** Absolute path of the file. */
  readonly path: string;

  /** @param file the file to use. @default defaultSecretsFilePath() */
  constructor(file: string = defaultSecretsFilePath()) {
    this.path = path.resolve(file);
  }

  /** The value of secret `name`, or undefined if the file or the entry does not exist. */
  async get(name: string): Promise<string | undefined> {
    const content = await this.#read();
    const value = content?.secrets[name];
    if (value !== undefined) registerSecret(value);
    return value;
  }

  /** Secret names, sorted. Never values. */
  async names(): Promise<string[]> {
    const content = await this.#read();
    return Object.keys(content?.secrets ?? {}).sort();
  }

  /** Store `value` under `name`; returns true when it replaced an existing entry. */
  async set(name: string, value: string): Promise<boolean> {
    assertSecretName(name);
    if (value === "") {
      throw new FlotillaError(ErrorCode.Usage, `secret "${name}": the value is empty`, {
        hint: "give a non-empty value (stdin, --from-file or the prompt)",
        usage: true,
      });
    }
    registerSecret(value);
    const content = (await this.#read()) ?? { version: FORMAT_VERSION, secrets: {} };
    const replaced = Object.hasOwn(content.secrets, name);
    content.secrets[name] = value;
    await this.#write(content);
    return replaced;
  }

  /** Remove secret `name`; returns false when there was none. */
  async remove(name: string): Promise<boolean> {
    const content = await this.#read();
    if (content === undefined || !Object.hasOwn(content.secrets, name)) return false;
    delete content.secrets[name];
    await this.#write(content);
    return true;
  }

  async #read(): Promise<SecretsFileContent | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new FlotillaError(
        ErrorCode.SecretInvalid,
        `cannot read the secrets file ${this.path}: ${errnoText(error)}`,
        {
          hint: "check the file's owner and permissions (it should be yours, mode 0600)",
        },
      );
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      // V8's JSON messages quote the text around the error, which may be a secret: keep only the position.
      throw new FlotillaError(
        ErrorCode.SecretInvalid,
        `the secrets file ${this.path} is not valid JSON${jsonErrorPosition(error)}`,
        { hint: "fix or delete the file; `flotilla secrets set` recreates it" },
      );
    }
    return parseContent(data, this.path);
  }

  async #write(content: SecretsFileContent): Promise<void> {
    const dir = path.dirname(this.path);
    await ensurePrivateDir(dir);
    const sorted: SecretsFileContent = {
      version: FORMAT_VERSION,
      secrets: Object.fromEntries(
        Object.entries(content.secrets).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      ),
    };
    const temp = path.join(dir, `.${path.basename(this.path)}.${randomBytes(6).toString("hex")}.tmp`);
    // `wx` + mode: the temp file is created 0600 (before any byte is written) and never reused.
    const handle = await open(temp, "wx", FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify(sorted, null, 2)}\n`, "utf8");
      await handle.chmod(FILE_MODE); // the umask cannot widen it, but make it explicit
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await rename(temp, this.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw new FlotillaError(
        ErrorCode.SecretInvalid,
        `cannot write the secrets file ${this.path}: ${errnoText(error)}`,
      );
    }
  }
}

async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    const created = await mkdir(dir, { recursive: true, mode: DIR_MODE });
    // mkdir's mode is filtered by the umask; the directory we just created must be 0700 regardless.
    if (created !== undefined) await chmod(dir, DIR_MODE);
  } catch (error) {
    throw new FlotillaError(
      ErrorCode.SecretInvalid,
      `cannot create the secrets directory ${dir}: ${errnoText(error)}`,
      { hint: `set ${SECRETS_FILE_ENV} to a file in a directory you can write` },
    );
  }
}

function parseContent(data: unknown, file: string): SecretsFileContent {
  const bad = (what: string): FlotillaError =>
    new FlotillaError(ErrorCode.SecretInvalid, `the secrets file ${file} is malformed: ${what}`, {
      hint: 'expected {"version": 1, "secrets": {"NAME": "value", ...}}; fix or delete the file',
    });
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw bad("not a JSON object");
  const { version, secrets } = data as Record<string, unknown>;
  if (version !== FORMAT_VERSION) throw bad(`unsupported "version" (expected ${FORMAT_VERSION})`);
  if (typeof secrets !== "object" || secrets === null || Array.isArray(secrets))
    throw bad('"secrets" is not an object');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(secrets)) {
    if (typeof value !== "string") throw bad(`the value of "${name}" is not a string`);
    out[name] = value;
  }
  return { version: FORMAT_VERSION, secrets: out };
}

/** " (at position N)" from a JSON.parse error, without the quoted input V8 puts in its message. */
export function jsonErrorPosition(error: unknown): string {
  const match = error instanceof Error ? /position (\d+)/.exec(error.message) : null;
  return match ? ` (at position ${match[1]})` : "";
}

function errnoText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ?? (error instanceof Error ? error.message : String(error));
}
