// Container engines (docker, podman, buildah): finding a usable one, and the command lines that
// build, log in and push. Processes are started through an injected `ProcessRunner`, so tests can
// put stand-in engines on PATH and observe every call. Invariants: a password only ever travels on
// a child's stdin (`--password-stdin`), never on argv or in an env value; every line of engine
// output passes through the secret scrubber before anyone sees it.

import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import path from "node:path";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { scrub } from "../secrets/redact.ts";

/** The engines Flotilla can drive, in the order it tries them. */
export const ENGINES = ["docker", "podman", "buildah"] as const;
export type EngineName = (typeof ENGINES)[number];

/** Why a build step failed, for tests and scripts (the message says it for humans). */
export type ImageBuildFailure =
  | "engine-missing"
  | "engine-not-running"
  | "build-failed"
  | "login-failed"
  | "push-failed"
  | "no-registry";

/** A build, login or push that failed; `reason` is stable, the message names the engine and its last lines. */
export class ImageBuildError extends FlotillaError {
  override readonly name = "ImageBuildError";
  readonly reason: ImageBuildFailure;
  constructor(reason: ImageBuildFailure, message: string, hint?: string) {
    super(ErrorCode.Storage, message, hint === undefined ? {} : { hint });
    this.reason = reason;
  }
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the child's stdin, then closed; without it stdin is /dev/null. */
  input?: string;
  /** Each line of stdout and stderr, scrubbed, as it arrives. */
  onLine?: (line: string) => void;
  /** Kill the child after this long. @default no limit */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code; null when killed by a signal or not started. */
  exitCode: number | null;
  /** True when the command was not found. */
  notFound: boolean;
  /** The last output lines (stdout and stderr interleaved), scrubbed. */
  tail: string[];
}

/** Starts a process and waits for it. */
export type ProcessRunner = (
  command: string,
  args: readonly string[],
  options: RunOptions,
) => Promise<RunResult>;

const TAIL_LINES = 12;

/** The real ProcessRunner: `child_process.spawn`, no shell. */
export const spawnProcess: ProcessRunner = (command, args, options) =>
  new Promise((resolve) => {
    const tail: string[] = [];
    const child = spawn(command, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    const onText = lineSplitter((raw) => {
      const line = scrub(raw);
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.(line);
    });
    child.stdout?.on("data", (d: Buffer) => onText.push(d));
    child.stderr?.on("data", (d: Buffer) => onText.push(d));
    if (options.input !== undefined) {
      child.stdin?.on("error", () => {}); // a child that exits without reading stdin must not crash us
      child.stdin?.end(options.input);
    }
    let notFound = false;
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") notFound = true;
      else tail.push(scrub(error.message));
    });
    child.on("close", (code) => {
      if (timer !== undefined) clearTimeout(timer);
      onText.flush();
      resolve({ exitCode: code, notFound, tail });
    });
  });

function lineSplitter(emit: (line: string) => void): { push(d: Buffer): void; flush(): void } {
  let rest = "";
  return {
    push(d) {
      const parts = (rest + d.toString("utf8")).split(/\r?\n|\r/);
      rest = parts.pop() ?? "";
      for (const p of parts) if (p.trim() !== "") emit(p);
    },
    flush() {
      if (rest.trim() !== "") emit(rest);
      rest = "";
    },
  };
}

/** The absolute path of `command` on `env.PATH`, or undefined. */
export async function findOnPath(command: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A usable engine and the command lines for it. */
export interface Engine {
  name: EngineName;
  /** Absolute path of the executable. */
  path: string;
  buildArgs(input: { dockerfile: string; contextDir: string; imageRef: string; platform?: string }): string[];
  /** Login reading the password from stdin; `authDir` keeps the credentials out of the user's config. */
  loginArgs(input: { server: string; username: string; authDir?: string }): string[];
  pushArgs(input: { imageRef: string; authDir?: string }): string[];
  /** Extra environment for builds (e.g. plain BuildKit progress). */
  buildEnv: Record<string, string>;
}

function authFlag(name: EngineName, authDir: string | undefined): { global: string[]; local: string[] } {
  if (authDir === undefined) return { global: [], local: [] };
  // docker reads credentials from a config directory; podman and buildah from an auth file.
  return name === "docker"
    ? { global: ["--config", authDir], local: [] }
    : { global: [], local: ["--authfile", path.join(authDir, "auth.json")] };
}

/** The command lines of `name` at `executable`. Pure. */
export function engineCommands(name: EngineName, executable: string): Engine {
  return {
    name,
    path: executable,
    buildArgs: ({ dockerfile, contextDir, imageRef, platform }) => [
      "build",
      "--file",
      dockerfile,
      "--tag",
      imageRef,
      ...(name === "buildah" ? ["--layers"] : []),
      ...(platform === undefined ? [] : ["--platform", platform]),
      contextDir,
    ],
    loginArgs: ({ server, username, authDir }) => {
      const auth = authFlag(name, authDir);
      return [...auth.global, "login", ...auth.local, "--username", username, "--password-stdin", server];
    },
    pushArgs: ({ imageRef, authDir }) => {
      const auth = authFlag(name, authDir);
      return [...auth.global, "push", ...auth.local, imageRef];
    },
    buildEnv: name === "docker" ? { BUILDKIT_PROGRESS: "plain" } : {},
  };
}

const PROBE_ARGS: Record<EngineName, string[]> = {
  docker: ["info", "--format", "{{.ServerVersion}}"],
  podman: ["info", "--format", "{{.Version.Version}}"],
  buildah: ["version"],
};

const NOT_RUNNING =
  /cannot connect to the docker daemon|is the docker daemon running|cannot connect to podman|connection refused|no such file or directory.*\.sock/i;

export interface DetectOptions {
  /** Use only this engine. @default the first usable of docker, podman, buildah */
  engine?: EngineName;
  env: NodeJS.ProcessEnv;
  run: ProcessRunner;
  /** How long `docker info` may take before the daemon counts as not responding. @default 20000 */
  probeTimeoutMs?: number;
}

/** The first engine that is installed and answers; an ImageBuildError naming each and why otherwise. */
export async function detectEngine(options: DetectOptions): Promise<Engine> {
  const candidates: readonly EngineName[] = options.engine === undefined ? ENGINES : [options.engine];
  const reasons: string[] = [];
  let sawInstalled = false;
  let notRunning = false;
  for (const name of candidates) {
    const executable = await findOnPath(name, options.env);
    if (executable === undefined) {
      reasons.push(`${name}: not installed (not on PATH)`);
      continue;
    }
    sawInstalled = true;
    const probe = await options.run(executable, PROBE_ARGS[name], {
      env: options.env,
      timeoutMs: options.probeTimeoutMs ?? 20_000,
    });
    if (probe.exitCode === 0) return engineCommands(name, executable);
    const last = probe.tail.at(-1) ?? `exit code ${probe.exitCode ?? "none (killed: no answer in time)"}`;
    if (NOT_RUNNING.test(probe.tail.join("\n")) || probe.exitCode === null) {
      notRunning = true;
      reasons.push(
        `${name}: installed, but its daemon is not running (${name} ${PROBE_ARGS[name][0]}: ${last})`,
      );
    } else {
      reasons.push(`${name}: installed, but \`${name} ${PROBE_ARGS[name].join(" ")}\` failed: ${last}`);
    }
  }
  const what =
    options.engine === undefined
      ? "no usable container engine"
      : `container engine ${options.engine} is not usable`;
  if (!sawInstalled) {
    throw new ImageBuildError(
      "engine-missing",
      `${what}: ${reasons.join("; ")}`,
      "install docker, podman or buildah; or run with --dry-run --context-dir DIR to write the build context and build it elsewhere",
    );
  }
  throw new ImageBuildError(
    notRunning ? "engine-not-running" : "engine-missing",
    `${what}: ${reasons.join("; ")}`,
    notRunning
      ? "start the daemon (`sudo systemctl start docker`, Docker Desktop, or `podman machine start`), or choose another engine with --engine"
      : "fix the engine's setup, or choose another one with --engine",
  );
}
