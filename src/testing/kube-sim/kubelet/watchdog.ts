// The process groups kube-sim starts on this host (containers, exec probes) die with the process
// that hosts it, even when that process is SIGKILLed and no exit handler runs: a watchdog shell,
// started once and in its own session, reads "+ <pgid>" and "- <pgid>" lines on a pipe from this
// process and, when the pipe reaches end of file (this process exited or died), SIGKILLs every group
// still listed. As a node's runtime ends every container when the node goes.

import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";

// dash's kill takes `-9 -<pgid>` (not `-KILL --`); a group already gone is no error to report.
const WATCHDOG = [
  'groups=" "',
  "while read -r op g; do",
  "  case $op in",
  '    +) groups="$groups$g " ;;',
  '    -) kept=" "; for h in $groups; do [ "$h" = "$g" ] || kept="$kept$h "; done; groups=$kept ;;',
  "  esac",
  "done",
  'for g in $groups; do kill -9 -"$g" 2>/dev/null; done',
].join("\n");

let watchdog: ChildProcess | undefined;

function pipe(): Socket | undefined {
  if (process.platform === "win32") return undefined;
  if (watchdog === undefined) {
    // /bin/sh, not "sh" from PATH: a pod's PATH is not the host's
    const dog = spawn("/bin/sh", ["-c", WATCHDOG], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
    dog.on("error", () => {});
    dog.stdin?.on("error", () => {});
    // it neither keeps this process alive nor outlives it by more than its last read
    dog.unref();
    (dog.stdin as Socket | null)?.unref();
    watchdog = dog;
  }
  return (watchdog.stdin as Socket | null) ?? undefined;
}

/** The group led by `pgid` dies with this process from now on (until {@link releaseGroup}). */
export function watchGroup(pgid: number): void {
  pipe()?.write(`+ ${pgid}\n`);
}

/** The group led by `pgid` is gone: its id may be reused by a stranger, so the watchdog forgets it. */
export function releaseGroup(pgid: number): void {
  if (watchdog !== undefined) pipe()?.write(`- ${pgid}\n`);
}
