// Host processes for containers: resolving argv from the image table, spawning each container in its own
// process group, and signalling the whole group (so shells and their children go together). Each
// group dies with the process hosting kube-sim, even a SIGKILLed one (watchdog.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync } from "node:fs";
import { basename, delimiter, isAbsolute, join } from "node:path";
import type { ImageSpec } from "../images.ts";
import { releaseGroup, watchGroup } from "./watchdog.ts";

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
  const pid = child.pid;
  const exited = new Promise<Exit>((resolve) => {
    child.once("error", (e) => resolve({ exitCode: 128, startError: e.message }));
    // A container ends with its main process, taking whatever it left running with it (as the runtime
    // kills the container's PID namespace); orphans would otherwise hold the output pipes open.
    child.once("exit", () => {
      if (pid !== undefined) killGroup(pid);
    });
    child.once("close", (code, signal) => {
      const exit: Exit = signal
        ? { exitCode: 128 + (SIGNALS[signal] ?? 0), signal }
        : { exitCode: code ?? 0 };
      if (pid === undefined) return resolve(exit);
      void groupGone(pid).then(() => {
        releaseGroup(pid);
        resolve(exit);
      });
    });
  });
  if (pid === undefined) return { startError: `exec: "${argv[0]}": executable file not found in $PATH` };
  watchGroup(pid);
  return { child, pid, exited };
}

/** SIGKILL every remaining process of the group led by `pgid` (the leader has exited). */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // the group is already empty
  }
}

/** how long a SIGKILLed group may take to die */
const GROUP_GONE_TIMEOUT_MS = 2000;
const GROUP_GONE_POLL_MS = 5;

/**
 * Resolves once no process of the group is left, so "the container exited" means every process of it
 * is gone. There is no event for the death of a process that is not our child, hence the short poll;
 * gives up after GROUP_GONE_TIMEOUT_MS (a process in uninterruptible sleep).
 */
async function groupGone(pgid: number): Promise<void> {
  const deadline = Date.now() + GROUP_GONE_TIMEOUT_MS;
  while (groupAlive(pgid) && Date.now() < deadline) {
    killGroup(pgid);
    await new Promise((resolve) => setTimeout(resolve, GROUP_GONE_POLL_MS));
  }
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

/**
 * true while any process of the group is alive. A killed orphan stays a zombie until init reaps it,
 * which some inits do only every second or two; on Linux zombies are not counted (read from /proc).
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== "linux") return true;
  return readdirSync("/proc").some((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      return false; // exited meanwhile
    }
    // "<pid> (<comm>) <state> <ppid> <pgrp> …"; comm may contain spaces and parentheses
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(pgrp) === pgid && state !== "Z";
  });
}
