// The CLI's one signal helper: SIGINT and SIGTERM mean the same thing to every command. The first
// aborts the command's AbortController (a run is cancelled and its summary printed, a worker
// drains, a server or simulator stops); a second one exits at once with 130 (SIGINT) or 143
// (SIGTERM), and the process's exit hooks kill what is left (LocalCluster's worker groups).

/** What `stopSignals` gives the command. */
export interface StopSignals {
  /** Aborted by the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** Resolves with the first signal's name. */
  readonly stopped: Promise<NodeJS.Signals>;
  /** Stop listening (the command is done). */
  off(): void;
}

export interface StopSignalsOptions {
  /** Called on the first signal, after the abort. */
  onStop?: (signal: NodeJS.Signals) => void;
  /** Printed on the first signal (e.g. "cancelling the run"); nothing when absent. */
  stopping?: string;
  /** Prefix of the lines printed, e.g. "flotilla worker: ". @default "" */
  prefix?: string;
  /** Where those lines go. @default process.stderr */
  stderr?: NodeJS.WritableStream;
}

/**
 * Follow something (a run's log lines) until it ends or the first SIGINT/SIGTERM aborts `follow`'s
 * signal; stopped that way, the command's exit code is 130, as a Ctrl-C of `tail -f` is.
 */
export async function followUntilStopped(follow: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const stop = stopSignals();
  try {
    await follow(stop.signal);
  } finally {
    stop.off();
  }
  if (stop.signal.aborted) process.exitCode = 130;
}

/** Listen for SIGINT and SIGTERM: the first stops the command, a second exits at once. */
export function stopSignals(options: StopSignalsOptions = {}): StopSignals {
  const stderr = options.stderr ?? process.stderr;
  const prefix = options.prefix ?? "";
  const controller = new AbortController();
  let resolveStopped!: (signal: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    resolveStopped = resolve;
  });
  let seen = 0;
  const on = (signal: NodeJS.Signals) => {
    seen += 1;
    if (seen === 1) {
      if (options.stopping !== undefined)
        stderr.write(`${prefix}${signal}: ${options.stopping} (again to stop at once)\n`);
      controller.abort();
      resolveStopped(signal);
      options.onStop?.(signal);
      return;
    }
    stderr.write(`${prefix}${signal} again: stopping now\n`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", on);
  process.on("SIGTERM", on);
  return {
    signal: controller.signal,
    stopped,
    off() {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
    },
  };
}
