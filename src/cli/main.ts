// The CLI: a table of commands. Each command module defines its options and calls an
// `async (options) => result` function that tests call without argv. Errors are turned into one
// message and an exit code here, and only here.
//
// Commands load lazily: `flotilla --help`, a typo and `flotilla --version` load no command module
// (the table below has what the main help shows), `flotilla run …` loads only run's module, and
// `flotilla completion` loads them all, because it prints every command's options.

import { Command, CommanderError } from "commander";
import { FlotillaError } from "../core/errors.ts";
import { scrub } from "../secrets/redact.ts";
import type { CommandDefinition } from "./command.ts";
import { flotillaVersion } from "./package-version.ts";

interface CommandEntry {
  /** What the main help says of it (the module's own description is shown by `<command> --help`). */
  summary: string;
  /** Its arguments, as the main help shows them. */
  args?: string;
  /** Internal: run by Flotilla itself (pods, images, LocalCluster), left out of the main help. */
  hidden?: boolean;
  load: () => Promise<CommandDefinition>;
}

/**
 * The command table: name → what the main help shows, and the module's loader. Only the invoked
 * command's module is loaded, so that a worker or `flotilla describe` does not pay for the
 * Kubernetes client or BullMQ.
 */
const commands: Record<string, CommandEntry> = {
  run: {
    summary: "run a flow with its environment (here by default), show progress, print a summary",
    args: "<flow-file>",
    load: () => import("./commands/run.ts").then((m) => m.runCommand),
  },
  describe: {
    summary: "show a flow's tasks, edges and parameters without running it",
    args: "<flow-file>",
    load: () => import("./commands/describe.ts").then((m) => m.describeCommand),
  },
  runs: {
    summary: "flow runs on Kubernetes, or kept by a Flotilla server (--server): list, get, logs, cancel",
    load: () => import("./commands/runs.ts").then((m) => m.runsCommand),
  },
  build: {
    summary: "build the flow's DockerStorage image (the image its runner and workers run); --push to push it",
    args: "<flow-file>",
    load: () => import("./commands/build.ts").then((m) => m.buildCommand),
  },
  secrets: {
    summary: "manage the local secrets file; values are never printed",
    load: () => import("./commands/secrets.ts").then((m) => m.secretsCommand),
  },
  rbac: {
    summary: "print the ServiceAccount, Roles and RoleBindings Flotilla needs (pipe to kubectl apply -f -)",
    load: () => import("./commands/rbac.ts").then((m) => m.rbacCommand),
  },
  doctor: {
    summary: "check that this kubeconfig identity may do everything Flotilla does",
    load: () => import("./commands/doctor.ts").then((m) => m.doctorCommand),
  },
  sim: {
    summary: "run kube-sim, a simulated Kubernetes cluster whose pods are local processes, until Ctrl-C",
    load: () => import("./commands/sim.ts").then((m) => m.simCommand),
  },
  server: {
    summary: "run the Flotilla server: API, scheduler and dashboard",
    load: () => import("./commands/server.ts").then((m) => m.serverCommand),
  },
  version: {
    summary: "print the version of flotilla and of Node.js",
    load: () => import("./commands/version.ts").then((m) => m.versionCommand),
  },
  completion: {
    summary: "print a shell completion script: bash, zsh or fish",
    args: "<shell>",
    load: () => import("./commands/completion.ts").then((m) => m.completionCommand),
  },
  worker: {
    summary: "run task runs of a cluster run (started by LocalCluster and worker pods)",
    hidden: true,
    load: () => import("./commands/worker.ts").then((m) => m.workerCommand),
  },
  execute: {
    summary: "run a flow inside its Kubernetes runner Job (the Job's entrypoint)",
    hidden: true,
    load: () => import("./commands/execute.ts").then((m) => m.executeCommand),
  },
  healthcheck: {
    summary: "load a flow module and print its fingerprint (run inside images at build time)",
    args: "<flow-file>",
    hidden: true,
    load: () => import("./commands/healthcheck.ts").then((m) => m.healthcheckCommand),
  },
  deploy: {
    summary: "register a flow with a Flotilla server as a deployment (optionally on a schedule)",
    args: "<flow-file>",
    load: () => import("./commands/deploy.ts").then((m) => m.deployCommand),
  },
  deployments: {
    summary: "deployments of a Flotilla server: list, get, delete",
    load: () => import("./commands/deployments.ts").then((m) => m.deploymentsCommand),
  },
  schedules: {
    summary: "schedules of deployments: list, pause, resume",
    load: () => import("./commands/deployments.ts").then((m) => m.schedulesCommand),
  },
  tokens: {
    summary: "API tokens of a Flotilla server: create, list",
    load: () => import("./commands/tokens.ts").then((m) => m.tokensCommand),
  },
  db: {
    summary: "the server's database: vacuum (retention)",
    load: () => import("./commands/db.ts").then((m) => m.dbCommand),
  },
  agent: {
    summary: "claim and launch the runs of a pool from a Flotilla server",
    load: () => import("./commands/agent.ts").then((m) => m.agentCommand),
  },
  agents: {
    summary: "agents a Flotilla server heard from: list",
    load: () => import("./commands/agent.ts").then((m) => m.agentsCommand),
  },
  // more commands are registered here
};

/** Names of the commands Flotilla runs itself; hidden from the main help and from completion. */
export const HIDDEN_COMMANDS: readonly string[] = Object.keys(commands).filter((n) => commands[n]!.hidden);

export const ExitCode = { ok: 0, failed: 1, usage: 2 } as const;

/** The root command: global options and settings every subcommand inherits. */
function rootCommand(): Command {
  return new Command("flotilla")
    .description("Run TypeScript flows, each on its own temporary, autoscaling worker cluster.")
    .option("--debug", "print stack traces of errors")
    .version(flotillaVersion(), "-V, --version", "print the version")
    .helpCommand("help [command]", "show help for a command")
    .configureOutput({ outputError: () => {} }) // errors are printed once, by reportError
    .exitOverride();
}

/** The command `argv` names (skipping the root's own options), or undefined. */
function namedCommand(argv: readonly string[]): string | undefined {
  const words = argv.slice(2).filter((a) => !a.startsWith("-"));
  // `flotilla help run` shows run's own help: load run
  return words[0] === "help" ? words[1] : words[0];
}

/**
 * The program `argv` needs: the command it names, loaded, and every other command as a stub that
 * the main help lists and "did you mean" suggests from. `all` loads every command (completion).
 */
export async function buildProgram(argv: readonly string[] = [], all = false): Promise<Command> {
  const program = rootCommand();
  const named = namedCommand(argv);
  const wanted =
    all || named === "completion"
      ? Object.keys(commands)
      : named && Object.hasOwn(commands, named)
        ? [named]
        : [];
  const loaded = new Map(
    await Promise.all(wanted.map(async (name) => [name, await commands[name]!.load()] as const)),
  );
  for (const [name, entry] of Object.entries(commands)) {
    const define = loaded.get(name);
    if (define) {
      define(program);
      const cmd = program.commands.find((c) => c.name() === name);
      if (cmd && entry.hidden) hide(cmd);
    } else {
      const stub = program.command(name, { hidden: entry.hidden === true }).description(entry.summary);
      if (entry.args) stub.arguments(entry.args);
    }
  }
  return program;
}

/** Leave a command out of the help's command list and out of completion. */
function hide(cmd: Command): void {
  // commander sets `hidden` only through `.command(name, { hidden })`; the module created it
  (cmd as unknown as { _hidden: boolean })._hidden = true;
}

/** Run the CLI on `argv`; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let program: Command | undefined;
  try {
    program = await buildProgram(argv);
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (error) {
    return reportError(error, argv.includes("--debug"), helpPointer(program, argv));
  }
}

/** `flotilla runs list --help`: the help of the deepest command `argv` names. */
function helpPointer(program: Command | undefined, argv: readonly string[]): string {
  const path = ["flotilla"];
  let cmd = program;
  for (const word of argv.slice(2)) {
    if (word.startsWith("-")) continue;
    const sub = cmd?.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) break;
    path.push(sub.name());
    cmd = sub;
  }
  return `${path.join(" ")} --help`;
}

/** Print an error once, clearly, and choose the exit code. */
export function reportError(error: unknown, debug: boolean, help = "flotilla --help"): number {
  if (error instanceof CommanderError) {
    // --help and --version end with exit code 0; the bare `flotilla` prints the help, not an error
    if (error.exitCode === 0 || error.code === "commander.help" || error.code === "commander.helpDisplayed")
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    process.stderr.write(`${oneLine(error.message)}; see '${help}'\n`);
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

/** commander's "error: unknown command 'rn'\n(Did you mean run?)" as one line. */
function oneLine(message: string): string {
  const text = message
    .replace(/\s*\n\s*\(Did you mean ([^)]*)\?\)/, " (did you mean $1?)")
    .replace(/\s*\n\s*/g, " ");
  return text.startsWith("error:") ? text.trimEnd() : `error: ${text.trimEnd()}`;
}
