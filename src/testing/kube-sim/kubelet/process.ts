// Host processes for containers: resolving argv from the image table, spawning each container in its own
// process group, and signalling the whole group (so shells and their children go together).
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { basename, delimiter, isAbsolute, join } from "node:path";
import type { ImageSpec } from "../images.ts";

export interface Exit {
  exitCode: number;
  signal?: NodeJS.Signals;
  /** set when the process could not be started */
  startError?: string;
}

export interface Launched {
  child: ChildProcess;
  pid: number;
  exited: Promise<Exit>;
}

function onPath(cmd: string, path: string | undefined): boolean {
  const candidates = isAbsolute(cmd) ? [cmd] : (path ?? "").split(delimiter).map((d) => join(d, cmd));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The host argv for a container, or a start error as containerd would word it. */
export function resolveArgv(
  spec: ImageSpec,
  command: string[],
  args: string[],
  path: string | undefined,
): { argv: string[] } | { error: string } {
  if (command.length === 0) {
    if (spec.entrypoint.length === 0 && args.length === 0) return { error: "no command specified: unknown" };
    return { argv: [...spec.entrypoint, ...args] };
  }
  const [first, ...rest] = command as [string, ...string[]];
  const mapped = spec.commands?.[first] ?? spec.commands?.[basename(first)];
  if (mapped) return { argv: [...mapped, ...rest, ...args] };
  if (onPath(first, path)) return { argv: [first, ...rest, ...args] };
  return {
    error: `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "${first}": executable file not found in $PATH: unknown`,
  };
}

const SIGNALS: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
  SIGQUIT: 3,
  SIGABRT: 6,
};

export function launch(
  argv: string[],
  cwd: string,
  env: Record<string, string>,
  onOutput: (chunk: Buffer) => void,
): Launched | { startError: string } {
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    return { startError: (e as Error).message };
  }
  child.stdout?.on("data", onOutput);
  child.stderr?.on("data", onOutput);
  const exited = new Promise<Exit>((resolve) => {
    child.once("error", (e) => resolve({ exitCode: 128, startError: e.message }));
    child.once("close", (code, signal) => {
      if (signal) resolve({ exitCode: 128 + (SIGNALS[signal] ?? 0), signal });
      else resolve({ exitCode: code ?? 0 });
    });
  });
  if (child.pid === undefined)
    return { startError: `exec: "${argv[0]}": executable file not found in $PATH` };
  return { child, pid: child.pid, exited };
}

/** Signal a container's whole process group; ignores groups that are already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** true while any process of the group is alive */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}
