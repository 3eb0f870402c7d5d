// `flotilla version [-o json|yaml]`: the versions of flotilla and of the Node.js running it (the
// same figure `flotilla --version` prints alone).

import type { Command } from "commander";
import { type OutputFormat, outputOption, renderDocument } from "../output.ts";
import { flotillaVersion } from "../package-version.ts";

export interface VersionInfo {
  flotilla: string;
  node: string;
}

/** The versions, as `flotilla version -o json` prints them. */
export function version(): VersionInfo {
  return { flotilla: flotillaVersion(), node: process.version };
}

export const versionCommand = (program: Command): void => {
  program
    .command("version")
    .description("print the version of flotilla and of Node.js")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }) => {
      const v = version();
      process.stdout.write(
        opts.output === "table"
          ? `flotilla ${v.flotilla} (node ${v.node})\n`
          : await renderDocument(v, opts.output === "yaml" ? "yaml" : "json"),
      );
    });
};
