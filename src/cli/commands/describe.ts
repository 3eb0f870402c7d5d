// `flotilla describe <flow-file>`: the flow's graph, parameters and options, without running it.

import type { Command } from "commander";
import { DescribeFormat, renderDescription } from "../../core/describe.ts";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";

export interface DescribeOptions {
  flowFile: string;
  flow?: string;
  format?: string;
}

export async function describe(options: DescribeOptions): Promise<string> {
  const format = (options.format ?? "text") as DescribeFormat;
  if (!DescribeFormat.includes(format)) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `--format ${options.format} is not known; use one of ${DescribeFormat.join(", ")}`,
      { usage: true },
    );
  }
  const flow = selectFlow(await loadFlowModule(options.flowFile), options.flow);
  flow.validate();
  return renderDescription(flow, format);
}

export const describeCommand = (program: Command): void => {
  program
    .command("describe")
    .description("show a flow's tasks, edges and parameters without running it")
    .argument("<flow-file>", "a .ts or .js module exporting a Flow")
    .option("--flow <name>", "the flow to describe, when the module exports several")
    .option("--format <format>", `output format: ${DescribeFormat.join(", ")}`, "text")
    .action(async (flowFile: string, opts: { flow?: string; format?: string }) => {
      process.stdout.write(await describe({ flowFile, ...opts }));
    });
};
