// `flotilla describe <flow-file>`: the flow's graph, parameters and options, without running it.

import type { Command } from "commander";
import { DescribeFormat, renderDescription } from "../../core/describe.ts";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";
import { DOCUMENT_FORMATS, type OutputFormat, outputOption, renderDocument } from "../output.ts";

export interface DescribeOptions {
  flowFile: string;
  flow?: string;
  format?: string;
  /** table (the text form), json or yaml; the graph formats are --format's. */
  output?: OutputFormat;
}

export async function describe(options: DescribeOptions): Promise<string> {
  if (options.output !== undefined && options.format !== undefined) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `-o ${options.output} cannot be used with --format ${options.format}: use -o for text, json or yaml, --format for mermaid or dot`,
      { usage: true },
    );
  }
  if (options.output === "yaml") {
    const flow = selectFlow(await loadFlowModule(options.flowFile), options.flow);
    flow.validate();
    return renderDocument(JSON.parse(renderDescription(flow, "json")), "yaml");
  }
  const format = (options.output === "json" ? "json" : (options.format ?? "text")) as DescribeFormat;
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
    .option("--format <format>", `graph format: ${DescribeFormat.join(", ")} (default: text)`)
    .addOption(outputOption(DOCUMENT_FORMATS).default(undefined, "table"))
    .action(async (flowFile: string, opts: { flow?: string; format?: string; output?: OutputFormat }) => {
      process.stdout.write(await describe({ flowFile, ...opts }));
    });
};
