// The command contract of the CLI table: a command module exports one CommandDefinition, and
// src/cli/main.ts adds the invoked one to the program. Kept apart so that commands never import
// the table that loads them.

import type { Command } from "commander";

/** A command of the table: adds itself to the program. */
export type CommandDefinition = (program: Command) => void;
