// DockerStorage: the flow's code packaged as a container image that the runner Job and every worker
// pod run, so flow code is the same everywhere. Options are compiled once here (zod for shape, named
// rule functions for the OCI reference grammar and the rest); the build itself lives in
// docker-context.ts (what goes in the image) and docker-engine.ts (docker/podman/buildah).
// Invariants: `imageRef()` is a pure function of the options (and, with no imageTag, of the source
// of the module that created the storage), so the host that submits a run and the pods compute
// the same reference.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { Storage } from "../core/flow.ts";
import { onFirstUse, zod } from "../core/zod-on-demand.ts";
import {
  imageNameProblem,
  imageReferenceProblem,
  joinImageRef,
  MAX_NAME_LENGTH,
  parseRegistryUrl,
  type RegistryLocation,
  tagProblem,
} from "./docker-reference.ts";

/** The base image when none is given: the Active LTS line of Node (26 since October 2026) on Debian 13, slim. */
export const DEFAULT_BASE_IMAGE = "node:26-trixie-slim";

/** Options of `new DockerStorage(...)`. */
export interface DockerStorageOptions {
  /**
   * Registry and path prefix the image is pushed to, e.g. `gcr.io/dev/` (a trailing slash is
   * fine) or `localhost:5000`. Without it the image is local only and `--push` is refused.
   */
  registryUrl?: string;
  /** Image name under the registry, lowercase, e.g. `dask-k8s-flow`. */
  imageName: string;
  /**
   * Image tag, e.g. `0.1.0`.
   * @default `src-<12 hex>`: a hash of the source of the module that creates the storage (the flow
   * module), the same hash as the flow's `moduleVersion`. It changes when that file changes and is
   * the same on every machine; it does not see other files (helpers, package-lock.json), so set a
   * tag of your own (release version, git commit) when those change.
   */
  imageTag?: string;
  /** Base image; must have Node 20.19 or newer and, with `extraPackages`, apt-get. @default "node:26-trixie-slim" */
  baseImage?: string;
  /**
   * Extra files: host path (relative to the flow file's directory, or absolute) → absolute path in
   * the image. Directories are copied whole.
   * @default {}
   */
  files?: Record<string, string>;
  /**
   * Environment variables baked into the image. Anyone who can pull the image can read them: never
   * put secrets here (a registered secret value is refused); use a Flotilla Secret instead.
   * @default {}
   */
  env?: Record<string, string>;
  /** Debian packages installed with apt-get, e.g. `["git", "libpq5"]`. @default [] */
  extraPackages?: string[];
  /**
   * Run `flotilla healthcheck` as the last build step, so an image whose flow module does not load,
   * or whose flow differs from the one built, fails the build instead of the run.
   * @default true
   */
  healthCheck?: boolean;
}

/** The compiled, trusted options. */
export interface DockerStorageConfig {
  registry: RegistryLocation | undefined;
  imageName: string;
  imageTag: string;
  /** Where the tag came from: given, or the hash of `sourceModule`. */
  imageTagSource: "option" | "module-source";
  /** The module whose source hash is the default tag. */
  sourceModule: string | undefined;
  baseImage: string;
  /** Sorted by image path. */
  files: { hostPath: string; imagePath: string }[];
  /** Sorted by name. */
  env: [name: string, value: string][];
  /** Sorted, without duplicates. */
  extraPackages: string[];
  healthCheck: boolean;
}

// compiled on the first `new DockerStorage`: `import "flotilla"` does not load zod for it
const optionsSchema = onFirstUse(() => {
  const z = zod();
  return z.strictObject({
    registryUrl: z.string().optional(),
    imageName: z.string({ error: 'is required (e.g. imageName: "my-flow")' }),
    imageTag: z.string().optional(),
    baseImage: z.string().default(DEFAULT_BASE_IMAGE),
    files: z.record(z.string(), z.string()).default({}),
    env: z.record(z.string(), z.string()).default({}),
    extraPackages: z.array(z.string()).default([]),
    healthCheck: z.boolean().default(true),
  });
});
type ParsedOptions = z.infer<ReturnType<typeof optionsSchema>>;

/** A problem found by a rule: the option (path) and what is wrong with it. */
interface Problem {
  field: string;
  message: string;
}

function ruleRegistryUrl(o: ParsedOptions): Problem[] {
  if (o.registryUrl === undefined) return [];
  const parsed = parseRegistryUrl(o.registryUrl);
  return typeof parsed === "string"
    ? [{ field: "registryUrl", message: `"${o.registryUrl}" ${parsed}` }]
    : [];
}

/** `"value" reason`, unless the reason already quotes the part of the value it is about. */
function quoted(value: string, reason: string): string {
  return reason.startsWith('"') ? reason : `"${value}" ${reason}`;
}

function ruleImageName(o: ParsedOptions): Problem[] {
  const reason = imageNameProblem(o.imageName);
  if (reason !== undefined) return [{ field: "imageName", message: quoted(o.imageName, reason) }];
  const prefix = o.registryUrl?.replace(/\/+$/, "");
  const full = prefix ? `${prefix}/${o.imageName}` : o.imageName;
  return full.length > MAX_NAME_LENGTH
    ? [{ field: "imageName", message: `registryUrl/imageName is longer than ${MAX_NAME_LENGTH} characters` }]
    : [];
}

function ruleImageTag(o: ParsedOptions): Problem[] {
  if (o.imageTag === undefined) return [];
  const reason = tagProblem(o.imageTag);
  return reason === undefined ? [] : [{ field: "imageTag", message: `"${o.imageTag}" ${reason}` }];
}

function ruleBaseImage(o: ParsedOptions): Problem[] {
  const reason = imageReferenceProblem(o.baseImage);
  return reason === undefined ? [] : [{ field: "baseImage", message: `"${o.baseImage}" ${reason}` }];
}

function ruleFiles(o: ParsedOptions): Problem[] {
  const problems: Problem[] = [];
  const targets = new Set<string>();
  for (const [host, target] of Object.entries(o.files)) {
    const field = `files["${host}"]`;
    if (host.trim() === "") problems.push({ field: "files", message: "has an empty host path" });
    if (!path.posix.isAbsolute(target)) {
      problems.push({
        field,
        message: `image path "${target}" must be absolute (e.g. /etc/my-flow/${path.basename(host)})`,
      });
    } else if (target.split("/").includes("..")) {
      problems.push({ field, message: `image path "${target}" must not contain ".."` });
    } else if (/[\u0000-\u001f"\\]/.test(target)) {
      problems.push({
        field,
        message: `image path "${target}" contains a quote, backslash or control character`,
      });
    }
    const normal = path.posix.normalize(target);
    if (targets.has(normal))
      problems.push({ field, message: `image path "${target}" is the target of two entries` });
    targets.add(normal);
  }
  return problems;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function ruleEnv(o: ParsedOptions): Problem[] {
  const problems: Problem[] = [];
  for (const [name, value] of Object.entries(o.env)) {
    if (!ENV_NAME.test(name)) {
      problems.push({
        field: `env["${name}"]`,
        message: "is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
      });
    } else if (name.startsWith("FLOTILLA_")) {
      problems.push({ field: `env.${name}`, message: "FLOTILLA_* variables are set by Flotilla itself" });
    }
    if (/[\u0000-\u0008\u000a-\u001f]/.test(value)) {
      problems.push({ field: `env.${name}`, message: "the value contains a newline or control character" });
    }
  }
  return problems;
}

/** Debian package names (Debian Policy 5.6.1), optionally pinned with `=version`. */
const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:_-]+)?$/;

function ruleExtraPackages(o: ParsedOptions): Problem[] {
  return o.extraPackages
    .filter((p) => !DEBIAN_PACKAGE.test(p))
    .map((p) => ({
      field: "extraPackages",
      message: `"${p}" is not a Debian package name (e.g. "git" or "libpq5=15.5-0")`,
    }));
}

const rules = [
  ruleRegistryUrl,
  ruleImageName,
  ruleImageTag,
  ruleBaseImage,
  ruleFiles,
  ruleEnv,
  ruleExtraPackages,
];

/** Compile and check `new DockerStorage` options; throws one FLOTILLA_OPTIONS_INVALID listing every problem. */
export function compileDockerStorageOptions(input: unknown, creator?: string): DockerStorageConfig {
  const shape = optionsSchema().safeParse(input);
  if (!shape.success) {
    throw invalid(
      shape.error.issues.map((i) => ({ field: i.path.join(".") || "options", message: i.message })),
    );
  }
  const o = shape.data;
  const problems = rules.flatMap((rule) => rule(o));
  if (problems.length > 0) throw invalid(problems);
  let imageTag = o.imageTag;
  let sourceModule: string | undefined;
  if (imageTag === undefined) {
    sourceModule = creator;
    imageTag = sourceModule === undefined ? undefined : moduleSourceTag(sourceModule);
    if (imageTag === undefined) {
      throw invalid([
        {
          field: "imageTag",
          message: "is required here: the module that creates the storage could not be read",
        },
      ]);
    }
  }
  const registry =
    o.registryUrl === undefined ? undefined : (parseRegistryUrl(o.registryUrl) as RegistryLocation);
  return {
    registry,
    imageName: o.imageName,
    imageTag,
    imageTagSource: o.imageTag === undefined ? "module-source" : "option",
    sourceModule,
    baseImage: o.baseImage,
    files: Object.entries(o.files)
      .map(([hostPath, imagePath]) => ({ hostPath, imagePath: path.posix.normalize(imagePath) }))
      .sort((a, b) => compare(a.imagePath, b.imagePath)),
    env: Object.entries(o.env).sort(([a], [b]) => compare(a, b)),
    extraPackages: [...new Set(o.extraPackages)].sort(compare),
    healthCheck: o.healthCheck,
  };
}

function invalid(problems: Problem[]): FlotillaError {
  const list = problems.map((p) => `${p.field}: ${p.message}`);
  return new FlotillaError(
    ErrorCode.OptionsInvalid,
    `new DockerStorage(...): ${list.length === 1 ? list[0] : `\n  - ${list.join("\n  - ")}`}`,
    {
      hint: "image references follow the OCI grammar: registry/name:tag, lowercase name, tag of [A-Za-z0-9_.-]",
    },
  );
}

/** The default tag for a module: `src-` + the first 12 hex of the sha256 of its source (= `moduleVersion`). */
function moduleSourceTag(file: string): string | undefined {
  try {
    return `src-${createHash("sha256").update(readFileSync(file, "utf8")).digest("hex").slice(0, 12)}`;
  } catch {
    return undefined;
  }
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** The file of the first stack frame outside this module: the module constructing the storage. */
function creatingModule(): string | undefined {
  const stack = new Error().stack ?? "";
  for (const line of stack.split("\n").slice(1)) {
    const match = /(file:\/\/\/[^\s)]+?|\/[^\s)]+?):\d+:\d+\)?$/.exec(line.trim());
    if (match === null) continue;
    const file = match[1]!.startsWith("file:") ? fileURLToPath(match[1]!) : match[1]!;
    if (file !== THIS_FILE) return file;
  }
  return undefined;
}

/**
 * Storage as a container image: `flotilla build` packages the flow's project into it, and the
 * runner Job and worker pods run it.
 *
 * @example
 * new DockerStorage({ registryUrl: "gcr.io/dev/", imageName: "dask-k8s-flow", imageTag: "0.1.0" })
 * // imageRef() === "gcr.io/dev/dask-k8s-flow:0.1.0"
 */
export class DockerStorage implements Storage {
  readonly kind = "docker" as const;
  /** The compiled options. */
  readonly config: DockerStorageConfig;

  constructor(options: DockerStorageOptions) {
    this.config = compileDockerStorageOptions(
      options,
      options?.imageTag === undefined ? creatingModule() : undefined,
    );
  }

  /** `registryUrl/imageName:imageTag`, with the registry's trailing slash normalised. */
  imageRef(): string {
    return joinImageRef(this.config.registry?.prefix, this.config.imageName, this.config.imageTag);
  }

  /** The registry host to log in to, or undefined for Docker Hub / no registry. */
  get registryHost(): string | undefined {
    return this.config.registry?.host;
  }
}

/** True for a DockerStorage, even one from another copy of the package. */
export function isDockerStorage(value: unknown): value is DockerStorage {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: unknown }).kind === "docker" &&
    typeof (value as { config?: unknown }).config === "object"
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
