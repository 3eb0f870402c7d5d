// The CLI: a table of commands. Each command module defines its options and calls an
// `async (options) => result` function that tests call without argv. Errors are turned into one
// message and an exit code here, and only here.

import { Command, CommanderError } from "commander";
import { FlotillaError } from "../core/errors.ts";
import { scrub } from "../secrets/redact.ts";
import { describeCommand } from "./commands/describe.ts";
import { doctorCommand } from "./commands/doctor.ts";
import { executeCommand } from "./commands/execute.ts";
import { rbacCommand } from "./commands/rbac.ts";
import { runCommand } from "./commands/run.ts";
import { secretsCommand } from "./commands/secrets.ts";
import { buildCommand } from "./commands/build.ts";
import { healthcheckCommand } from "./commands/healthcheck.ts";
import { workerCommand } from "./commands/worker.ts";

/** A command of the table: adds itself to the program. */
export type CommandDefinition = (program: Command) => void;

const commands: CommandDefinition[] = [
  runCommand,
  describeCommand,
  secretsCommand,
  buildCommand,
  healthcheckCommand,
  workerCommand,
  rbacCommand,
  doctorCommand,
  executeCommand,
  // more commands are registered here
];

export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;

export function buildProgram(): Command {
  const program = new Command("flotilla")
    .description("Run TypeScript flows, each on its own temporary, autoscaling worker cluster.")
    .option("--debug", "print stack traces of errors")
    .showHelpAfterError()
    .exitOverride();
  for (const define of commands) define(program);
  return program;
}

/** Run the CLI on `argv`; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
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
