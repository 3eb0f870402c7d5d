// The entry point of LocalCluster's worker processes: `flotilla worker` without loading the whole
// CLI (every command and its dependencies), which halves a worker's start-up time. Same options,
// same exit codes as `flotilla worker`.

import { Command, CommanderError } from "commander";
import { workerCommand } from "../cli/commands/worker.ts";
import { FlotillaError } from "../core/errors.ts";
import { scrub } from "../secrets/redact.ts";

const program = new Command("flotilla").exitOverride();
workerCommand(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(scrub(`error: ${message}\n`));
    if (error instanceof FlotillaError && error.hint) process.stderr.write(scrub(`  ${error.hint}\n`));
  }
  process.exitCode = error instanceof FlotillaError && error.usage ? 2 : 1;
}
