// A named secret value, resolved where the code runs: the environment variable
// `FLOTILLA_SECRET_<NAME>` first (in pods Kubernetes fills it from a Secret with `secretKeyRef`),
// then the local secrets file (`flotilla secrets set`). Invariants: every value read is registered
// with the scrubber, and announced to every other process of the run (the runner and its workers),
// before it is returned; no error ever contains a value, only names and places.

import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { assertSecretName, defaultSecretsFilePath, jsonErrorPosition, SecretsFile } from "./file.ts";
import { announceSecret, registerSecret } from "./redact.ts";

const ENV_PREFIX = "FLOTILLA_SECRET_";

/**
 * The environment variable that holds secret `name`: `FLOTILLA_SECRET_` + the name upper-cased,
 * with every character other than A-Z and 0-9 turned into `_`.
 * @example secretEnvName("docker-registry.creds") === "FLOTILLA_SECRET_DOCKER_REGISTRY_CREDS"
 */
export function secretEnvName(name: string): string {
  return ENV_PREFIX + name.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

export interface SecretOptions {
  /** Where to look for `FLOTILLA_SECRET_<NAME>` and `FLOTILLA_SECRETS_FILE`. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The local secrets file. @default $FLOTILLA_SECRETS_FILE, else ~/.flotilla/secrets.json */
  file?: string;
}

/** Where a secret's value came from, for messages (never the value). */
export type SecretSource = { kind: "env"; variable: string } | { kind: "file"; path: string };

/** A secret value and where it was found. */
export interface ResolvedSecret {
  value: string;
  source: SecretSource;
}

/**
 * A named secret, e.g. `await new Secret("DOCKER_REGISTRY_CREDENTIALS").getJson()`.
 * Reading it is lazy: nothing is looked up until `get()`.
 */
export class Secret {
  readonly name: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #file: string;

  constructor(name: string, options: SecretOptions = {}) {
    assertSecretName(name);
    this.name = name;
    this.#env = options.env ?? process.env;
    this.#file = options.file ?? defaultSecretsFilePath(this.#env);
  }

  /** The environment variable this secret is read from. */
  get envName(): string {
    return secretEnvName(this.name);
  }

  /** The value and where it came from; throws FLOTILLA_SECRET_MISSING listing every place looked. */
  async resolve(): Promise<ResolvedSecret> {
    const variable = this.envName;
    const fromEnv = this.#env[variable];
    if (fromEnv !== undefined && fromEnv !== "") {
      await announceSecret(fromEnv);
      return { value: fromEnv, source: { kind: "env", variable } };
    }
    const store = new SecretsFile(this.#file);
    const fromFile = await store.get(this.name);
    if (fromFile !== undefined) {
      await announceSecret(fromFile);
      return { value: fromFile, source: { kind: "file", path: store.path } };
    }
    const envNote = fromEnv === "" ? " (set but empty)" : " (not set)";
    throw new FlotillaError(
      ErrorCode.SecretMissing,
      `secret "${this.name}" not found; looked in: environment variable ${variable}${envNote}, ` +
        `secrets file ${store.path} (no entry "${this.name}")`,
      {
        hint:
          `set it with \`flotilla secrets set ${this.name}\` (reads the value from stdin), ` +
          `or export ${variable}; in pods, fill ${variable} from a Kubernetes Secret (secretKeyRef)`,
      },
    );
  }

  /** The secret's value. */
  async get(): Promise<string> {
    return (await this.resolve()).value;
  }

  /**
   * The secret's value parsed as JSON. Besides the whole value, every string inside it is
   * registered with the scrubber, except under keys that name public parts (server, url, host,
   * registry, user/username, email, name), so that a password logged on its own is still hidden.
   */
  async getJson<T = unknown>(): Promise<T> {
    const { value, source } = await this.resolve();
    let data: unknown;
    try {
      data = JSON.parse(value);
    } catch (error) {
      const where =
        source.kind === "env" ? `environment variable ${source.variable}` : `secrets file ${source.path}`;
      throw new FlotillaError(
        ErrorCode.SecretInvalid,
        `secret "${this.name}" (from ${where}) is not valid JSON${jsonErrorPosition(error)}`,
        { hint: `store a JSON value, e.g. \`flotilla secrets set ${this.name} --from-file creds.json\`` },
      );
    }
    const leaves: string[] = [];
    collectLeaves(data, undefined, 0, leaves);
    await Promise.all(leaves.map((v) => announceSecret(v)));
    return data as T;
  }
}

const PUBLIC_KEY = /(^|[-_.])(server|url|host|registry|user|username|email|name)$/i;

function collectLeaves(value: unknown, key: string | undefined, depth: number, out: string[]): void {
  if (depth > 32) return;
  if (typeof value === "string") {
    if (key === undefined || !PUBLIC_KEY.test(key)) {
      registerSecret(value);
      out.push(value);
    }
    return;
  }
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) collectLeaves(item, key, depth + 1, out);
    return;
  }
  for (const [k, v] of Object.entries(value)) collectLeaves(v, k, depth + 1, out);
}
