// The CLI: a table of commands. Each command module defines its options and calls an
// `async (options) => result` function that tests call without argv. Errors are turned into one
// message and an exit code here, and only here.

import { Command, CommanderError } from "commander";
import { FlotillaError } from "../core/errors.ts";
import { scrub } from "../secrets/redact.ts";
import type { CommandDefinition } from "./command.ts";

/**
 * The command table: name → loader. Only the invoked command's module is loaded, so that a worker
 * or `flotilla describe` does not pay for the Kubernetes client or BullMQ.
 */
const commands: Record<string, () => Promise<CommandDefinition>> = {
  run: () => import("./commands/run.ts").then((m) => m.runCommand),
  describe: () => import("./commands/describe.ts").then((m) => m.describeCommand),
  worker: () => import("./commands/worker.ts").then((m) => m.workerCommand),
  execute: () => import("./commands/execute.ts").then((m) => m.executeCommand),
  build: () => import("./commands/build.ts").then((m) => m.buildCommand),
  healthcheck: () => import("./commands/healthcheck.ts").then((m) => m.healthcheckCommand),
  secrets: () => import("./commands/secrets.ts").then((m) => m.secretsCommand),
  rbac: () => import("./commands/rbac.ts").then((m) => m.rbacCommand),
  doctor: () => import("./commands/doctor.ts").then((m) => m.doctorCommand),
  runs: () => import("./commands/runs.ts").then((m) => m.runsCommand),
  sim: () => import("./commands/sim.ts").then((m) => m.simCommand),
  server: () => import("./commands/server.ts").then((m) => m.serverCommand),
  // more commands are registered here
};

export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;

/** The program with the commands `argv` needs: the one it names, or all of them (help, typos). */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("flotilla")
    .description("Run TypeScript flows, each on its own temporary, autoscaling worker cluster.")
    .option("--debug", "print stack traces of errors")
    .showHelpAfterError()
    .exitOverride();
  const named = argv.slice(2).find((a) => !a.startsWith("-"));
  const load =
    named !== undefined && Object.hasOwn(commands, named) ? [commands[named]!] : Object.values(commands);
  for (const define of await Promise.all(load.map((l) => l()))) define(program);
  return program;
}

/** Run the CLI on `argv`; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (error) {
    return reportError(error, argv.includes("--debug"));
  }
}

/** Print an error once, clearly, and choose the exit code. */
export function reportError(error: unknown, debug: boolean): number {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return ExitCode.ok; // --help, --version
    return ExitCode.usage;
  }
  if (error instanceof FlotillaError) {
    process.stderr.write(scrub(`error: ${error.message}\n`));
    if (error.hint) process.stderr.write(scrub(`  ${error.hint}\n`));
    if (debug && error.stack) process.stderr.write(scrub(`${error.stack}\n`));
    return error.usage ? ExitCode.usage : ExitCode.failed;
  }
  const e = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(scrub(`error: ${e.message}\n`));
  if (debug) process.stderr.write(scrub(`${e.stack ?? ""}\n`));
  else process.stderr.write("  (run with --debug for the stack trace)\n");
  return ExitCode.failed;
}
