// KubeClusterEnvironment options: the seed's quick configuration plus what a run on Kubernetes
// needs. Compiled once, at construction: a zod schema for shape, named rule functions for the
// combinations, defaults applied here and nowhere else. The rest of src/kubernetes receives the
// compiled, trusted `KubeClusterOptions` and never re-checks it.

import type { z as Z } from "zod";
import { SCALING_DEFAULTS, scalingFields, minNotAboveMax as scalingRule } from "../cluster/scaling.ts";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { zod } from "../core/zod-on-demand.ts";

const z = zod();

/** CPU/memory quantities as Kubernetes spells them (`"500m"`, `"512Mi"`). */
export interface ResourceList {
  cpu?: string;
  memory?: string;
  [name: string]: string | undefined;
}

/** A container's requests and limits (quick configuration, no spec file needed). */
export interface ResourceRequirements {
  requests?: ResourceList;
  limits?: ResourceList;
}

/** What `new KubeClusterEnvironment(...)` accepts. Every field is optional. */
export interface KubeClusterEnvironmentOptions {
  /**
   * Fewest workers the run's cluster keeps. `minWorkers === maxWorkers` means a fixed-size cluster.
   * @default 1
   */
  minWorkers?: number;
  /** Most workers the run's cluster scales up to. @default 2 */
  maxWorkers?: number;
  /**
   * The flow's image is in a private registry: `setup()` makes sure the pull Secret named after
   * `dockerSecret` exists and every pod Flotilla creates lists it in `imagePullSecrets`.
   * @default false
   */
  privateRegistry?: boolean;
  /**
   * Name of the Flotilla Secret holding the registry credentials (a JSON object with
   * `docker-server`, `docker-username`, `docker-password`, optional `docker-email`). The Kubernetes Secret
   * is named after it as a DNS-1123 name (`DOCKER_REGISTRY_CREDENTIALS` → `docker-registry-credentials`).
   * @default "DOCKER_REGISTRY_CREDENTIALS"
   */
  dockerSecret?: string;
  /**
   * A `batch/v1` Job YAML used as the base of the runner Job. A relative path resolves against the
   * directory of the module that calls `new KubeClusterEnvironment(...)` (the flow file); a `URL`
   * such as `new URL("./scheduler.yaml", import.meta.url)` is taken as is.
   */
  schedulerSpecFile?: string | URL;
  /** A `v1` Pod YAML used as the base of every worker pod. Resolved like `schedulerSpecFile`. */
  workerSpecFile?: string | URL;
  /** Namespace of the run's objects. @default the kubeconfig context's namespace, else "default" */
  namespace?: string;
  /**
   * Service account of the runner pod; it needs the permissions `flotilla rbac` prints.
   * @default "flotilla-runner"
   */
  serviceAccountName?: string;
  /**
   * Service account of the worker pods: no Role, no API token mounted
   * (`automountServiceAccountToken: false`); `flotilla rbac` prints it. @default "flotilla-worker"
   */
  workerServiceAccountName?: string;
  /** Image of runner and workers when the flow has no image storage (`DockerStorage`). */
  image?: string;
  /**
   * Requests and limits of each worker container (ignored for fields the worker spec file sets).
   * @default { requests: { cpu: "500m", memory: "512Mi" }, limits: { memory: "1Gi" } }
   */
  workerResources?: ResourceRequirements;
  /**
   * Requests and limits of the runner container. Prefect's fixed 100m starved the scheduler.
   * @default { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } }
   */
  runnerResources?: ResourceRequirements;
  /** Task runs one worker executes at once. @default 1 (a worker spec's `--nthreads N` sets it) */
  workerConcurrency?: number;
  /**
   * A worker pod not Running within this time fails the run with the pod's reason and events.
   * @default 120000
   */
  workerStartTimeoutMs?: number;
  /** Workers above `minWorkers` idle this long are retired. @default 30000 */
  idleTimeoutMs?: number;
  /**
   * A worker pod that cannot reach its broker this long exits. The broker is the runner pod's
   * sidecar: when the runner container dies and its pod stays (until the Job's TTL), this bounds
   * how long worker pods keep running. @default 30000
   */
  workerDeathTimeoutMs?: number;
  /** The finished runner Job (and its logs) is kept this long, then deleted. @default 3600 */
  ttlSecondsAfterFinished?: number;
  /** Image of the Redis broker sidecar. @default "redis:7.0.15-alpine" */
  brokerImage?: string;
  /** Kubeconfig file of the launcher. @default $KUBECONFIG, else ~/.kube/config, else in-cluster */
  kubeconfig?: string;
  /** Kubeconfig context of the launcher. @default the current context */
  context?: string;
}

/** The compiled options: defaults applied, rules checked. */
export interface KubeClusterOptions {
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly privateRegistry: boolean;
  readonly dockerSecret: string;
  readonly schedulerSpecFile: string | URL | undefined;
  readonly workerSpecFile: string | URL | undefined;
  readonly namespace: string | undefined;
  readonly serviceAccountName: string;
  readonly workerServiceAccountName: string;
  readonly image: string | undefined;
  readonly workerResources: ResourceRequirements;
  readonly runnerResources: ResourceRequirements;
  readonly workerConcurrency: number;
  /** Set when the caller gave `workerConcurrency` (a worker spec's `--nthreads` must not override it). */
  readonly workerConcurrencyExplicit: boolean;
  readonly workerStartTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly workerDeathTimeoutMs: number;
  readonly ttlSecondsAfterFinished: number;
  readonly brokerImage: string;
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
}

export const DEFAULT_DOCKER_SECRET = "DOCKER_REGISTRY_CREDENTIALS";
export const DEFAULT_BROKER_IMAGE = "redis:7.0.15-alpine";
export const DEFAULT_SERVICE_ACCOUNT = "flotilla-runner";
/** The worker pods' service account: no Role bound, no token mounted. */
export const DEFAULT_WORKER_SERVICE_ACCOUNT = "flotilla-worker";
export const DEFAULT_WORKER_RESOURCES: ResourceRequirements = {
  requests: { cpu: "500m", memory: "512Mi" },
  limits: { memory: "1Gi" },
};
export const DEFAULT_RUNNER_RESOURCES: ResourceRequirements = {
  requests: { cpu: "250m", memory: "256Mi" },
  limits: { memory: "512Mi" },
};

const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[mkMGTPE]|[numk])?$/;
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const resourceList = z.record(
  z.string(),
  z.string().regex(QUANTITY, "must be a Kubernetes quantity such as 500m or 512Mi"),
);
const resources = z.strictObject({ requests: resourceList.optional(), limits: resourceList.optional() });
const specFile = z.union([z.string().min(1, "must be a non-empty path"), z.instanceof(URL)]);

const schema = z.strictObject({
  // The scaling vocabulary (src/cluster/scaling.ts), with the Kubernetes defaults.
  minWorkers: scalingFields.minWorkers.default(SCALING_DEFAULTS.kubernetes.minWorkers),
  maxWorkers: scalingFields.maxWorkers.default(SCALING_DEFAULTS.kubernetes.maxWorkers),
  privateRegistry: z.boolean().default(false),
  dockerSecret: z.string().min(1).optional(),
  schedulerSpecFile: specFile.optional(),
  workerSpecFile: specFile.optional(),
  namespace: z
    .string()
    .regex(DNS_1123_LABEL, "must be a DNS-1123 label (lower case, digits, '-')")
    .max(63)
    .optional(),
  serviceAccountName: z.string().min(1).default(DEFAULT_SERVICE_ACCOUNT),
  workerServiceAccountName: z.string().min(1).default(DEFAULT_WORKER_SERVICE_ACCOUNT),
  image: z.string().min(1).optional(),
  workerResources: resources.optional(),
  runnerResources: resources.optional(),
  workerConcurrency: scalingFields.concurrency.optional(),
  workerStartTimeoutMs: z
    .number()
    .int("must be an integer number of milliseconds")
    .min(1, "must be > 0")
    .default(120_000),
  idleTimeoutMs: scalingFields.idleTimeoutMs.default(SCALING_DEFAULTS.kubernetes.idleTimeoutMs),
  workerDeathTimeoutMs: scalingFields.workerDeathTimeoutMs
    .min(1000, "must be >= 1000 (a worker must survive a broker hiccup)")
    .default(SCALING_DEFAULTS.kubernetes.workerDeathTimeoutMs),
  ttlSecondsAfterFinished: z.number().int("must be an integer number of seconds").min(0).default(3600),
  brokerImage: z.string().min(1).default(DEFAULT_BROKER_IMAGE),
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
});

type Parsed = Z.infer<typeof schema>;

/** A rule over several options: returns the problem, or undefined. */
type Rule = (o: Parsed, given: KubeClusterEnvironmentOptions) => string | undefined;

const minNotAboveMax: Rule = (o) => scalingRule(o);

const RULES: Rule[] = [minNotAboveMax];

/** A rule whose finding is worth a warning, not an error. */
const dockerSecretWithoutPrivateRegistry: Rule = (_o, given) =>
  given.dockerSecret !== undefined && given.privateRegistry !== true
    ? `dockerSecret "${given.dockerSecret}" is ignored because privateRegistry is false; set privateRegistry: true to use it`
    : undefined;

const WARNINGS: Rule[] = [dockerSecretWithoutPrivateRegistry];

/** "did you mean" for a misspelt option name. */
function suggestion(issue: Z.core.$ZodIssue): string {
  if (issue.code !== "unrecognized_keys" || issue.path.length > 0) return "";
  const known = Object.keys(schema.shape);
  const near = issue.keys
    .map((k) => known.find((n) => n.toLowerCase().startsWith(k.toLowerCase().slice(0, 5))))
    .filter(Boolean);
  return near.length
    ? ` (did you mean ${near.map((n) => `"${n}"`).join(", ")}?)`
    : ` (known options: ${known.join(", ")})`;
}

/** The result of compiling options: the trusted object and the warnings to log. */
export interface CompiledOptions {
  options: KubeClusterOptions;
  warnings: string[];
}

/**
 * Validate and default `KubeClusterEnvironment` options. Throws FLOTILLA_OPTIONS_INVALID naming
 * every bad field at once.
 */
export function compileOptions(given: KubeClusterEnvironmentOptions = {}): CompiledOptions {
  const result = schema.safeParse(given);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  ${i.path.join(".") || "(options)"}: ${i.message}${suggestion(i)}`,
    );
    throw new FlotillaError(
      ErrorCode.OptionsInvalid,
      `new KubeClusterEnvironment(...): invalid options\n${lines.join("\n")}`,
      {
        hint: "fix the fields above; see the options table in the README (Running on Kubernetes) for every option and its default",
        usage: true,
      },
    );
  }
  const o = result.data;
  const problems = RULES.map((r) => r(o, given)).filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    throw new FlotillaError(
      ErrorCode.OptionsInvalid,
      `new KubeClusterEnvironment(...): ${problems.join("; ")}`,
      {
        usage: true,
      },
    );
  }
  const warnings = WARNINGS.map((r) => r(o, given)).filter((p): p is string => p !== undefined);
  return {
    warnings,
    options: {
      minWorkers: o.minWorkers,
      maxWorkers: o.maxWorkers,
      privateRegistry: o.privateRegistry,
      dockerSecret: o.dockerSecret ?? DEFAULT_DOCKER_SECRET,
      schedulerSpecFile: o.schedulerSpecFile,
      workerSpecFile: o.workerSpecFile,
      namespace: o.namespace,
      serviceAccountName: o.serviceAccountName,
      workerServiceAccountName: o.workerServiceAccountName,
      image: o.image,
      workerResources: o.workerResources ?? DEFAULT_WORKER_RESOURCES,
      runnerResources: o.runnerResources ?? DEFAULT_RUNNER_RESOURCES,
      workerConcurrency: o.workerConcurrency ?? SCALING_DEFAULTS.kubernetes.concurrency,
      workerConcurrencyExplicit: o.workerConcurrency !== undefined,
      workerStartTimeoutMs: o.workerStartTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      workerDeathTimeoutMs: o.workerDeathTimeoutMs,
      ttlSecondsAfterFinished: o.ttlSecondsAfterFinished,
      brokerImage: o.brokerImage,
      kubeconfig: o.kubeconfig,
      context: o.context,
    },
  };
}
