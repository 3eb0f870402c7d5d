// `flotilla build <flow-file>`: package the flow's project into the image its DockerStorage names
// (the image the runner Job and every worker run), and push it with --push. Thin: parse options,
// load the flow, call `buildFlowImage`, print. Progress goes to stderr, the result to stdout.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { scrub } from "../../secrets/redact.ts";
import {
  type BuildImageOptions,
  type BuildImageResult,
  type BuildProgress,
  buildFlowImage,
} from "../../storage/docker-build.ts";
import { DEFAULT_REGISTRY_SECRET } from "../../storage/docker-credentials.ts";
import { ENGINES, type EngineName } from "../../storage/docker-engine.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";
import type { CommandDefinition } from "../command.ts";
import { DOCUMENT_FORMATS, type OutputFormat, outputOption, renderDocument } from "../output.ts";

export interface BuildOptions extends Omit<BuildImageOptions, "flow" | "engine"> {
  flowFile: string;
  /** Flow name or export name, when the module exports several. */
  flow?: string;
  /** docker, podman or buildah. */
  engine?: string;
  /** @default process.cwd() */
  cwd?: string;
}

/** Load the flow module, then build (and push) the flow's image. */
export async function build(options: BuildOptions): Promise<BuildImageResult> {
  const { flowFile, flow: flowName, engine, cwd, ...rest } = options;
  if (engine !== undefined && !(ENGINES as readonly string[]).includes(engine)) {
    throw new FlotillaError(
      ErrorCode.Usage,
      `--engine ${engine} is not known; use one of ${ENGINES.join(", ")}`,
      {
        usage: true,
      },
    );
  }
  const flow = selectFlow(await loadFlowModule(flowFile, cwd), flowName);
  return buildFlowImage({ ...rest, flow, ...(engine === undefined ? {} : { engine: engine as EngineName }) });
}

/** Shell-like rendering of a command line, for people (arguments with spaces are quoted). */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./<>-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
}

function printProgress(event: BuildProgress): void {
  const text = event.kind === "step" ? `» ${event.message}` : `  | ${event.line}`;
  process.stderr.write(scrub(`${text}\n`));
}

interface BuildCliOptions {
  flow?: string;
  push?: boolean;
  login: boolean;
  registrySecret: string;
  engine?: string;
  contextDir?: string;
  dryRun?: boolean;
  platform?: string;
  output: OutputFormat;
}

export const buildCommand: CommandDefinition = (program: Command) => {
  program
    .command("build")
    .description(
      "build the flow's DockerStorage image (the image its runner and workers run); --push to push it",
    )
    .argument("<flow-file>", "a .ts or .js module exporting a Flow with a DockerStorage")
    .option("--flow <name>", "the flow, when the module exports several")
    .option("--push", "push the image after building it")
    .option(
      "--registry-secret <name>",
      "Flotilla Secret with the registry credentials",
      DEFAULT_REGISTRY_SECRET,
    )
    .option("--no-login", "push with the engine's existing login instead of the registry secret")
    .option("--engine <engine>", `container engine: ${ENGINES.join(", ")} (default: the first usable)`)
    .option("--context-dir <dir>", "write the build context here and keep it")
    .option("--platform <platform>", "target platform, e.g. linux/amd64")
    .option("--dry-run", "write the context and print the Dockerfile and commands; run no engine")
    .addOption(outputOption(DOCUMENT_FORMATS))
    .action(async (flowFile: string, opts: BuildCliOptions) => {
      const result = await build({
        flowFile,
        ...(opts.flow === undefined ? {} : { flow: opts.flow }),
        push: opts.push === true,
        login: opts.login,
        registrySecret: opts.registrySecret,
        ...(opts.engine === undefined ? {} : { engine: opts.engine }),
        ...(opts.contextDir === undefined ? {} : { contextDir: opts.contextDir }),
        ...(opts.platform === undefined ? {} : { platform: opts.platform }),
        dryRun: opts.dryRun === true,
        onProgress: opts.output === "table" ? printProgress : () => {},
      });
      process.stdout.write(
        scrub(
          opts.output === "json" || opts.output === "yaml"
            ? await renderDocument(result, opts.output)
            : renderResult(result),
        ),
      );
    });
};

/** The text a person sees at the end of `flotilla build`. */
export function renderResult(result: BuildImageResult): string {
  const lines: string[] = [];
  if (result.dryRun) {
    lines.push(
      `# dry run: nothing was built. Dockerfile for ${result.imageRef}:`,
      "",
      result.dockerfile.trimEnd(),
      "",
    );
    lines.push(`# commands (${result.engine}):`);
    for (const c of result.commands) lines.push(formatCommand(c));
    lines.push(
      `# context digest ${result.contextDigest}${result.contextDir ? ` in ${result.contextDir}` : ""}`,
    );
  } else {
    lines.push(`image ${result.imageRef}${result.pushed ? " (pushed)" : ""}`);
  }
  lines.push(`flow "${result.flow}" fingerprint ${result.fingerprint}`);
  return `${lines.join("\n")}\n`;
}
