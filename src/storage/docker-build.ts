// Building (and pushing) a flow's image: check the flow's DockerStorage, read the push credentials
// before spending minutes on a build, write the build context, find an engine, build, log in with
// a throw-away auth file, push. Everything that touches the world (processes, env, clock, temp
// dirs) is injected. Invariants: the registry password goes to the engine on stdin only; the auth
// file is deleted on every path; a failed build keeps its context and says where.

import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { flowFingerprint } from "../core/fingerprint.ts";
import type { Flow } from "../core/flow.ts";
import { type DockerStorageConfig, isDockerStorage } from "./docker.ts";
import {
  assertNoSecretsInImage,
  type BuildPlan,
  planBuildContext,
  writeBuildContext,
} from "./docker-context.ts";
import {
  DEFAULT_REGISTRY_SECRET,
  type RegistryCredentials,
  readRegistryCredentials,
} from "./docker-credentials.ts";
import {
  detectEngine,
  ENGINES,
  type Engine,
  type EngineName,
  engineCommands,
  findOnPath,
  ImageBuildError,
  type ProcessRunner,
  type RunResult,
  spawnProcess,
} from "./docker-engine.ts";

/** A progress event of a build: a step Flotilla takes, or a line of the engine's output. */
export type BuildProgress = { kind: "step"; message: string } | { kind: "output"; line: string };

export interface BuildImageOptions {
  /** A flow loaded with `loadFlowModule` (its module path is where the project is found). */
  flow: Flow;
  /** Push the image after building it. @default false */
  push?: boolean;
  /** Log in before pushing with the registry secret; false uses the engine's existing login. @default true */
  login?: boolean;
  /** The Flotilla Secret holding registry credentials. @default "DOCKER_REGISTRY_CREDENTIALS" */
  registrySecret?: string;
  /** Use this engine only. @default the first usable of docker, podman, buildah */
  engine?: EngineName;
  /** Write the build context here (kept). @default a temporary directory, removed after a successful build */
  contextDir?: string;
  /** Write the context and report the commands, without running any engine. @default false */
  dryRun?: boolean;
  /** Target platform, e.g. `linux/amd64`. @default the engine's */
  platform?: string;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** @default spawnProcess */
  run?: ProcessRunner;
  onProgress?: (event: BuildProgress) => void;
  /** Milliseconds clock for durations. @default Date.now */
  now?: () => number;
}

export interface BuildImageResult {
  imageRef: string;
  flow: string;
  fingerprint: string;
  /** The engine used (or that would be used, in a dry run). */
  engine: EngineName;
  /** The context directory, when it was kept (given, dry run with --context-dir, or failed build). */
  contextDir: string | undefined;
  /** sha256 of the context's file listing: equal digests mean equal contexts. */
  contextDigest: string;
  dockerfile: string;
  /** The engine command lines, in order (no secret appears in them). */
  commands: string[][];
  pushed: boolean;
  dryRun: boolean;
  buildMs: number | undefined;
  pushMs: number | undefined;
}

/** Build the image of `flow`, and push it when asked. */
export async function buildFlowImage(options: BuildImageOptions): Promise<BuildImageResult> {
  const job = compileBuild(options);
  const { flow, emit } = job;
  const credentials = await pushCredentials(job);
  const fingerprint = flowFingerprint(flow);
  const given = options.contextDir === undefined ? undefined : path.resolve(options.contextDir);
  const plan = await planBuildContext({ name: flow.name, file: job.modulePath, fingerprint }, job.config, {
    excludeDirs: given === undefined ? [] : [given],
  });
  const contextDir = given ?? (await mkdtemp(path.join(os.tmpdir(), "flotilla-build-")));
  let keep = given !== undefined;
  try {
    const digest = await writeContext(plan, contextDir, emit);
    if (credentials !== undefined) warnOnServerMismatch(credentials, job.config, job.secretName, emit);
    const base = { imageRef: plan.imageRef, flow: flow.name, fingerprint, contextDigest: digest };
    if (options.dryRun === true) {
      const name = options.engine ?? (await firstInstalled(job.env)) ?? "docker";
      const engine = engineCommands(name, name);
      return {
        ...base,
        engine: engine.name,
        contextDir: given,
        dockerfile: plan.dockerfile,
        commands: plannedCommands(engine, plan, contextDir, job.push, credentials, options.platform),
        pushed: false,
        dryRun: true,
        buildMs: undefined,
        pushMs: undefined,
      };
    }
    const engine = await detectEngine({
      env: job.env,
      run: job.run,
      ...(options.engine === undefined ? {} : { engine: options.engine }),
    });
    const commands: string[][] = [];
    const { built, buildMs } = await buildImage(job, engine, plan, contextDir, commands);
    if (built.exitCode !== 0) {
      keep = true;
      throw new ImageBuildError(
        "build-failed",
        `${engine.name} build of ${plan.imageRef} failed (${exitText(built)}); last lines:\n${indent(built.tail)}`,
        `the build context is kept in ${contextDir}; the full output is above`,
      );
    }
    emit({ kind: "step", message: `built ${plan.imageRef} in ${(buildMs / 1000).toFixed(1)} s` });
    const pushMs = job.push ? await pushBuilt(job, engine, plan.imageRef, credentials, commands) : undefined;
    return {
      ...base,
      engine: engine.name,
      contextDir: given,
      dockerfile: plan.dockerfile,
      commands,
      pushed: job.push,
      dryRun: false,
      buildMs,
      pushMs,
    };
  } finally {
    if (!keep) await rm(contextDir, { recursive: true, force: true });
  }
}

/** A build's options with their defaults, checked before anything is read or written. */
interface BuildJob {
  flow: Flow;
  /** Where the flow's module is (the project is found from it). */
  modulePath: string;
  config: DockerStorageConfig;
  push: boolean;
  login: boolean;
  secretName: string;
  platform: string | undefined;
  env: NodeJS.ProcessEnv;
  run: ProcessRunner;
  now: () => number;
  emit: (event: BuildProgress) => void;
}

/** The options' defaults; a flow without DockerStorage, or --push without a registry, is refused. */
function compileBuild(options: BuildImageOptions): BuildJob {
  const { flow } = options;
  const config = requireDockerStorage(flow);
  assertNoSecretsInImage(config);
  if (flow.modulePath === undefined) {
    throw new FlotillaError(ErrorCode.Internal, `flow "${flow.name}" was not loaded with loadFlowModule`);
  }
  const push = options.push ?? false;
  if (push && config.registry === undefined) {
    throw new ImageBuildError(
      "no-registry",
      `flow "${flow.name}": --push needs a registry, and its DockerStorage has no registryUrl`,
      'set registryUrl (e.g. "gcr.io/my-project/") in new DockerStorage({...}), or build without --push',
    );
  }
  return {
    flow,
    modulePath: flow.modulePath,
    config,
    push,
    login: options.login ?? true,
    secretName: options.registrySecret ?? DEFAULT_REGISTRY_SECRET,
    platform: options.platform,
    env: options.env ?? process.env,
    run: options.run ?? spawnProcess,
    now: options.now ?? Date.now,
    emit: options.onProgress ?? (() => {}),
  };
}

/** The registry credentials a push with login needs, read before the build: a missing secret should not cost a build. */
async function pushCredentials(job: BuildJob): Promise<RegistryCredentials | undefined> {
  if (!(job.push && job.login)) return undefined;
  try {
    return await readRegistryCredentials(job.secretName, { env: job.env });
  } catch (error) {
    if (error instanceof FlotillaError && error.code === ErrorCode.SecretMissing) {
      throw new FlotillaError(ErrorCode.SecretMissing, `--push: ${error.message}`, {
        hint: `${error.hint ?? ""}; or pass --no-login to push with the engine's existing login`,
      });
    }
    throw error;
  }
}

/** Write the build context into `contextDir`; its digest. */
async function writeContext(
  plan: BuildPlan,
  contextDir: string,
  emit: (event: BuildProgress) => void,
): Promise<string> {
  emit({ kind: "step", message: `writing build context for ${plan.imageRef} to ${contextDir}` });
  const written = await writeBuildContext(plan, contextDir);
  emit({
    kind: "step",
    message: `build context: ${written.entries.length} files, digest ${written.digest.slice(0, 16)}`,
  });
  return written.digest;
}

/** Run the engine's build of the context (its command line added to `commands`). */
async function buildImage(
  job: BuildJob,
  engine: Engine,
  plan: BuildPlan,
  contextDir: string,
  commands: string[][],
): Promise<{ built: RunResult; buildMs: number }> {
  const buildArgs = engine.buildArgs({
    dockerfile: path.join(contextDir, "Dockerfile"),
    contextDir,
    imageRef: plan.imageRef,
    ...(job.platform === undefined ? {} : { platform: job.platform }),
  });
  commands.push([engine.name, ...buildArgs]);
  job.emit({ kind: "step", message: `building ${plan.imageRef} with ${engine.name}` });
  const buildStart = job.now();
  const built = await job.run(engine.path, buildArgs, {
    env: { ...job.env, ...engine.buildEnv },
    onLine: outputLines(job),
  });
  return { built, buildMs: job.now() - buildStart };
}

/** Push the built image (logging in first with the credentials, if any); how long it took. */
async function pushBuilt(
  job: BuildJob,
  engine: Engine,
  imageRef: string,
  credentials: RegistryCredentials | undefined,
  commands: string[][],
): Promise<number> {
  const pushStart = job.now();
  await pushImage({
    engine,
    imageRef,
    credentials,
    secretName: job.secretName,
    env: job.env,
    run: job.run,
    onLine: outputLines(job),
    emit: job.emit,
    commands,
  });
  const pushMs = job.now() - pushStart;
  job.emit({ kind: "step", message: `pushed ${imageRef} in ${(pushMs / 1000).toFixed(1)} s` });
  return pushMs;
}

/** The engine's output lines as progress events. */
const outputLines =
  (job: BuildJob) =>
  (line: string): void =>
    job.emit({ kind: "output", line });

/** The flow's DockerStorage config, or a usage error saying how to add one. */
function requireDockerStorage(flow: Flow): DockerStorageConfig {
  const storage = flow.storage;
  if (!isDockerStorage(storage)) {
    const has = storage === undefined ? "no storage" : `storage of kind "${storage.kind}"`;
    throw new FlotillaError(
      ErrorCode.Storage,
      `flow "${flow.name}" has ${has}; flotilla build needs a DockerStorage`,
      {
        hint: 'add storage: new DockerStorage({ registryUrl: "gcr.io/my-project/", imageName: "my-flow", imageTag: "0.1.0" }) to new Flow(...)',
        usage: true,
      },
    );
  }
  return storage.config;
}

interface PushInput {
  engine: Engine;
  imageRef: string;
  credentials: RegistryCredentials | undefined;
  secretName: string;
  env: NodeJS.ProcessEnv;
  run: ProcessRunner;
  onLine: (line: string) => void;
  emit: (event: BuildProgress) => void;
  commands: string[][];
}

async function pushImage(input: PushInput): Promise<void> {
  const { engine, credentials } = input;
  // A throw-away auth location: the login does not outlive the push, nor touch ~/.docker/config.json.
  const authDir =
    credentials === undefined ? undefined : await mkdtemp(path.join(os.tmpdir(), "flotilla-auth-"));
  try {
    if (credentials !== undefined && authDir !== undefined) {
      const server = credentials["docker-server"];
      const args = engine.loginArgs({ server, username: credentials["docker-username"], authDir });
      input.commands.push([engine.name, ...args]);
      input.emit({
        kind: "step",
        message: `logging in to ${server} as ${credentials["docker-username"]} (secret ${input.secretName})`,
      });
      const result = await input.run(engine.path, args, {
        env: input.env,
        input: credentials["docker-password"],
        onLine: input.onLine,
      });
      if (result.exitCode !== 0) {
        throw new ImageBuildError(
          "login-failed",
          `${engine.name} login to ${server} failed (${exitText(result)}); last lines:\n${indent(result.tail)}`,
          `check the credentials in secret "${input.secretName}" (docker-server, docker-username, docker-password)`,
        );
      }
    }
    const args = engine.pushArgs({ imageRef: input.imageRef, ...(authDir === undefined ? {} : { authDir }) });
    input.commands.push([engine.name, ...args]);
    input.emit({ kind: "step", message: `pushing ${input.imageRef}` });
    const result = await input.run(engine.path, args, { env: input.env, onLine: input.onLine });
    if (result.exitCode !== 0) {
      throw new ImageBuildError(
        "push-failed",
        `${engine.name} push of ${input.imageRef} failed (${exitText(result)}); last lines:\n${indent(result.tail)}`,
        "check that the repository exists and that the credentials may push to it; the image is built and tagged locally",
      );
    }
  } finally {
    if (authDir !== undefined) await rm(authDir, { recursive: true, force: true });
  }
}

function plannedCommands(
  engine: Engine,
  plan: BuildPlan,
  contextDir: string,
  push: boolean,
  credentials: RegistryCredentials | undefined,
  platform: string | undefined,
): string[][] {
  const out: string[][] = [
    [
      engine.name,
      ...engine.buildArgs({
        dockerfile: path.join(contextDir, "Dockerfile"),
        contextDir,
        imageRef: plan.imageRef,
        ...(platform === undefined ? {} : { platform }),
      }),
    ],
  ];
  if (!push) return out;
  const authDir = credentials === undefined ? undefined : "<temporary auth dir>";
  if (credentials !== undefined && authDir !== undefined) {
    out.push([
      engine.name,
      ...engine.loginArgs({
        server: credentials["docker-server"],
        username: credentials["docker-username"],
        authDir,
      }),
    ]);
  }
  out.push([
    engine.name,
    ...engine.pushArgs({ imageRef: plan.imageRef, ...(authDir === undefined ? {} : { authDir }) }),
  ]);
  return out;
}

function warnOnServerMismatch(
  credentials: RegistryCredentials,
  config: DockerStorageConfig,
  secretName: string,
  emit: (event: BuildProgress) => void,
): void {
  const server = credentials["docker-server"].replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  const host = config.registry?.host;
  if (host !== undefined && server !== host) {
    emit({
      kind: "step",
      message: `warning: secret ${secretName} is for ${server}, but the image goes to ${host}; the push may be refused`,
    });
  }
}

async function firstInstalled(env: NodeJS.ProcessEnv): Promise<EngineName | undefined> {
  for (const name of ENGINES) if ((await findOnPath(name, env)) !== undefined) return name;
  return undefined;
}

function exitText(result: RunResult): string {
  return result.exitCode === null ? "killed" : `exit code ${result.exitCode}`;
}

function indent(lines: string[]): string {
  return lines.length === 0 ? "  (no output)" : lines.map((l) => `  | ${l}`).join("\n");
}
