// `flotilla healthcheck <flow-file>`: load a flow module and print the flow's fingerprint. Run as
// the last step of every image build, so an image whose flow does not load, or is not the flow
// that was built, fails at build time rather than when a run starts. Exit 1 on either.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { flowFingerprint } from "../../core/fingerprint.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";
import type { CommandDefinition } from "../command.ts";
import { DOCUMENT_FORMATS, type OutputFormat, outputOption, renderDocument } from "../output.ts";

export interface HealthcheckOptions {
  flowFile: string;
  /** Flow name or export name, when the module exports several. */
  flow?: string;
  /** Fail unless the flow's fingerprint is this one. */
  expectFingerprint?: string;
  /** @default process.cwd() */
  cwd?: string;
}

export interface HealthcheckResult {
  flow: string;
  fingerprint: string;
  /** Node.js version the check ran on. */
  node: string;
}

/** Load the flow, validate it, and check its fingerprint. */
export async function healthcheck(options: HealthcheckOptions): Promise<HealthcheckResult> {
  const module = await loadFlowModule(options.flowFile, options.cwd);
  const flow = selectFlow(module, options.flow);
  flow.validate();
  const fingerprint = flowFingerprint(flow);
  if (options.expectFingerprint !== undefined && options.expectFingerprint !== fingerprint) {
    throw new FlotillaError(
      ErrorCode.Fingerprint,
      `flow "${flow.name}" in ${options.flowFile} has fingerprint ${fingerprint}, expected ${options.expectFingerprint}: ` +
        "the code in this image is not the code the build was made from",
      {
        hint: "rebuild the image from the current sources (`flotilla build`); do not edit files inside the image",
      },
    );
  }
  return { flow: flow.name, fingerprint, node: process.version };
}

export const healthcheckCommand: CommandDefinition = (program: Command) => {
  program
    .command("healthcheck")
    .description("load a flow module and print the flow's fingerprint (run inside images at build time)")
    .argument("<flow-file>", "a .ts or .js module exporting a Flow")
    .option("--flow <name>", "the flow, when the module exports several")
    .option("--expect-fingerprint <fp>", "fail unless the flow's fingerprint is this")
    .addOption(outputOption(DOCUMENT_FORMATS))
    .action(
      async (flowFile: string, opts: { flow?: string; expectFingerprint?: string; output: OutputFormat }) => {
        const result = await healthcheck({ flowFile, ...opts });
        process.stdout.write(
          opts.output === "json" || opts.output === "yaml"
            ? await renderDocument(result, opts.output)
            : `fingerprint ${result.fingerprint}\n`,
        );
      },
    );
};
