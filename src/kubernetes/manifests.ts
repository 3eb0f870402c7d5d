// Manifest builders: pure functions from compiled options + loaded spec files + run identity to
// plain Kubernetes objects. No I/O, no clock, no randomness (the broker password is an input), so
// every forced field and merge rule is unit-tested without a cluster.
//
// Merge rules for custom specs (the README's "Custom specs: the merge rules" repeats them):
// - the user's spec is the base and is never mutated (it is cloned);
// - forced: name/namespace, Flotilla's labels (merged over the user's), the owner reference,
//   `restartPolicy: Never` (workers and the runner pod), `backoffLimit: 0` on the Job, Flotilla's
//   runtime env vars (set by name: replaced in place if present, appended otherwise, never
//   duplicated), the container's args (the worker/runner entrypoint);
// - kept: the user's other env vars, resources, nodeSelector, tolerations, affinity,
//   serviceAccountName, volumes, command, annotations, everything else;
// - defaulted when the spec leaves them out: the service account (the runner's; for workers their
//   own, with `automountServiceAccountToken: false`: a worker calls no Kubernetes API);
// - `imagePullSecrets` appended, deduplicated by name;
// - the container Flotilla runs is the one named `flotilla`, else the first;
// - a missing image is filled with the flow's image; a different image is kept, with a warning.
// Warnings are returned as data; the caller logs them.

import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import type { ISecret } from "kubernetes-models/v1/Secret";
import { Env } from "../cluster/process-env.ts";
import {
  API_TOKEN_KEY,
  BROKER_CONTAINER,
  BROKER_PASSWORD_KEY,
  BROKER_PORT,
  brokerSecretName,
  FLOTILLA_CONTAINER,
  jobName,
  Label,
  PARAMETERS_KEY,
  pullSecretName,
  runLabels,
  TERMINATION_MESSAGE_PATH,
  workerPodName,
} from "./names.ts";
import type { KubeClusterOptions, ResourceRequirements } from "./options.ts";
import type { SchedulerSpec, WorkerSpec } from "./spec-files.ts";

/** Who a run is: everything run-specific the builders need. */
export interface RunIdentity {
  /** The flow's name (slugged into object names and labels). */
  flowName: string;
  runId: string;
  namespace: string;
  /** The flow's image: runner and workers run it. */
  image: string;
  /** The flow module's path inside the image, relative to its WORKDIR. */
  flowModule: string;
  /**
   * The run's parameters: JSON in the per-run Secret's `parameters` key, read by the runner as
   * `FLOTILLA_PARAMETERS` through a secretKeyRef (never a plain env value of the Job).
   */
  parameters?: Readonly<Record<string, unknown>> | undefined;
  /**
   * The Flotilla server the runner reports its task runs and logs to (its URL, as the runner pod
   * reaches it). The run's own token is in the per-run Secret's `api-token` key, read by the
   * runner as `FLOTILLA_API_TOKEN` through a secretKeyRef.
   */
  reportTo?: string | undefined;
}

/** The loaded spec files of an environment. */
export interface Specs {
  scheduler?: SchedulerSpec | undefined;
  worker?: WorkerSpec | undefined;
}

/** What a builder returns: the object and warnings for the caller to log. */
export interface Built<T> {
  object: T;
  warnings: string[];
}

/** The pod that owns the worker pods (the runner pod), as read from the API. */
export interface OwnerPod {
  name: string;
  uid: string;
}

/** How a worker spec's container args were read (the seed's are `dask-worker` args). */
export interface WorkerPlan {
  /** Workers started at once: the worker spec's `replicas`, else `minWorkers`. */
  initialWorkers: number;
  /** Task runs per worker: `workerConcurrency`, else a Dask `--nthreads N`, else 1. */
  concurrency: number;
  warnings: string[];
}

/**
 * Read the worker spec's intent: `spec.replicas` (initial workers) and a Dask worker's args
 * (`--nthreads N` → concurrency N; other Dask flags have no Flotilla meaning and are named in a
 * warning). The args themselves are replaced by Flotilla's in `buildWorkerPod`.
 */
export function planWorkers(options: KubeClusterOptions, worker: WorkerSpec | undefined): WorkerPlan {
  const warnings: string[] = [];
  let concurrency = options.workerConcurrency;
  let initialWorkers = options.minWorkers;
  if (worker?.replicas !== undefined) {
    initialWorkers = Math.min(Math.max(worker.replicas, options.minWorkers), options.maxWorkers);
    if (initialWorkers !== worker.replicas) {
      warnings.push(
        `${worker.file}: spec.replicas ${worker.replicas} is outside minWorkers..maxWorkers (${options.minWorkers}..${options.maxWorkers}); starting ${initialWorkers}`,
      );
    }
  }
  const container = worker ? pickContainer(worker.pod.spec?.containers ?? []) : undefined;
  const args = [...(container?.command ?? []), ...(container?.args ?? [])];
  const dask = args.findIndex((a) => /(^|\/)dask-worker$/.test(a));
  if (dask >= 0) {
    const ignored: string[] = [];
    const rest = args.slice(dask + 1);
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!;
      const [flag, inline] = a.split("=", 2) as [string, string | undefined];
      const takesValue =
        flag === "--nthreads" || flag === "--memory-limit" || flag === "--nprocs" || flag === "--nworkers";
      const value = inline ?? (takesValue ? rest[++i] : undefined);
      if (flag === "--nthreads") {
        const n = Number(value);
        if (Number.isInteger(n) && n >= 1) {
          if (options.workerConcurrencyExplicit && n !== options.workerConcurrency) {
            warnings.push(
              `${worker!.file}: --nthreads ${n} ignored; workerConcurrency ${options.workerConcurrency} was given`,
            );
          } else concurrency = n;
        } else ignored.push(`${flag} ${value ?? ""}`.trim());
      } else ignored.push(value !== undefined && takesValue ? `${flag} ${value}` : flag);
    }
    warnings.push(
      `${worker!.file}: dask-worker args translated: --nthreads → worker concurrency ${concurrency}` +
        (ignored.length ? `; ignored (no Flotilla equivalent): ${ignored.join(", ")}` : "") +
        `; the container runs \`flotilla worker\``,
    );
  } else if (container && (container.args?.length ?? 0) > 0) {
    warnings.push(
      `${worker!.file}: container "${container.name}" args ${JSON.stringify(container.args)} replaced by ["worker"]`,
    );
  }
  return { initialWorkers, concurrency, warnings };
}

/** The container Flotilla runs: the one named `flotilla`, else the first. */
function pickContainer<C extends { name: string }>(containers: readonly C[]): C | undefined {
  return containers.find((c) => c.name === FLOTILLA_CONTAINER) ?? containers[0];
}

/** What a Secret value is in a plan printed before launch: a placeholder, never a real value. */
export const SECRET_PLACEHOLDER = {
  password: "<generated at launch, never printed>",
  parameters: "<the run's parameters as JSON, set at launch>",
  apiToken: "<a token of this run only, minted by the server at launch, never printed>",
} as const;

/**
 * The per-run Secret: the broker password, the run's parameters and, for a run reporting to a
 * server (`run.reportTo`), the run's API token. With `password` (generated by the caller) its
 * values are in `data`, as sent; without, `stringData` holds placeholders, so a printed plan
 * (`--dry-run`) passes server validation and shows no value.
 */
export function buildBrokerSecret(
  run: RunIdentity,
  password: string | undefined,
  ownerJob?: { name: string; uid: string },
  apiToken?: string,
): ISecret {
  const reports = run.reportTo !== undefined;
  const b64 = (v: string) => Buffer.from(v).toString("base64");
  const values =
    password === undefined
      ? {
          stringData: {
            [BROKER_PASSWORD_KEY]: SECRET_PLACEHOLDER.password,
            [PARAMETERS_KEY]: SECRET_PLACEHOLDER.parameters,
            ...(reports ? { [API_TOKEN_KEY]: SECRET_PLACEHOLDER.apiToken } : {}),
          },
        }
      : {
          data: {
            [BROKER_PASSWORD_KEY]: b64(password),
            [PARAMETERS_KEY]: b64(JSON.stringify(run.parameters ?? {})),
            ...(reports && apiToken !== undefined ? { [API_TOKEN_KEY]: b64(apiToken) } : {}),
          },
        };
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: brokerSecretName(run.flowName, run.runId),
      namespace: run.namespace,
      labels: runLabels(run.flowName, run.runId, "broker-secret"),
      ...(ownerJob
        ? {
            ownerReferences: [
              {
                apiVersion: "batch/v1",
                kind: "Job",
                name: ownerJob.name,
                uid: ownerJob.uid,
                blockOwnerDeletion: false,
              },
            ],
          }
        : {}),
    },
    type: "Opaque",
    ...values,
  };
}

/** The broker sidecar: Redis bound to the pod IP, password read from stdin config (never argv). */
function buildBrokerContainer(options: KubeClusterOptions, run: RunIdentity): IContainer {
  // `redis-server -` reads its config from stdin, here a heredoc the shell expands, so the password
  // is in no process's argv (with `--requirepass $(VAR)` it would show in `ps` on the node). `exec`
  // makes redis-server the container's PID 1: the kubelet's SIGTERM reaches Redis, which shuts down
  // with exit 0 (a shell as PID 1 ignores SIGTERM and is SIGKILLed at the grace deadline: exit 137,
  // 30 s late).
  const script =
    `exec redis-server - --bind "$${Env.podIp}" --port ${BROKER_PORT}` +
    ` --save '' --appendonly no --maxmemory 400mb --maxmemory-policy noeviction --protected-mode yes <<EOF\n` +
    `requirepass $${Env.brokerPassword}\nEOF\n`;
  return {
    name: BROKER_CONTAINER,
    image: options.brokerImage,
    restartPolicy: "Always",
    command: ["sh", "-c", script],
    env: [podIpEnv(), brokerPasswordEnv(run)],
    ports: [{ name: "redis", containerPort: BROKER_PORT }],
    startupProbe: { tcpSocket: { port: BROKER_PORT }, periodSeconds: 1, failureThreshold: 60 },
    readinessProbe: { tcpSocket: { port: BROKER_PORT }, periodSeconds: 5 },
    resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } },
  };
}

/**
 * The runner Job `flotilla-<flow>-<run8>`: the flow runner container (`flotilla execute`) plus the
 * broker as a native sidecar. With a scheduler spec, that Job is the base (merge rules above).
 */
export function buildRunnerJob(options: KubeClusterOptions, specs: Specs, run: RunIdentity): Built<IJob> {
  const warnings: string[] = [];
  const name = jobName(run.flowName, run.runId);
  const labels = runLabels(run.flowName, run.runId, "runner");
  const base: IJob = specs.scheduler
    ? structuredClone(specs.scheduler.job)
    : { apiVersion: "batch/v1", kind: "Job" };
  const file = specs.scheduler?.file ?? "scheduler spec";
  base.apiVersion = "batch/v1";
  base.kind = "Job";
  base.metadata = {
    ...(base.metadata ?? {}),
    name,
    namespace: run.namespace,
    labels: { ...(base.metadata?.labels ?? {}), ...labels },
  };
  delete base.metadata.generateName;
  base.spec ??= { template: {} };
  const spec = base.spec;
  if (spec.backoffLimit !== undefined && spec.backoffLimit !== 0) {
    warnings.push(
      `${file}: spec.backoffLimit ${spec.backoffLimit} replaced by 0 (a retried runner would start a second cluster)`,
    );
  }
  spec.backoffLimit = 0;
  // a deleted or evicted runner pod is not replaced while it terminates: with backoffLimit 0 its
  // failure fails the Job, so no second runner ever starts for the run (Kubernetes 1.29+)
  if (spec.podReplacementPolicy !== undefined && spec.podReplacementPolicy !== "Failed") {
    warnings.push(
      `${file}: spec.podReplacementPolicy ${spec.podReplacementPolicy} replaced by Failed (a replacement runner would start a second cluster)`,
    );
  }
  spec.podReplacementPolicy = "Failed";
  spec.ttlSecondsAfterFinished ??= options.ttlSecondsAfterFinished;
  const template = spec.template;
  template.metadata = {
    ...(template.metadata ?? {}),
    labels: { ...(template.metadata?.labels ?? {}), ...labels },
  };
  template.spec ??= { containers: [] };
  const podSpec: IPodSpec = template.spec;
  if (podSpec.restartPolicy !== undefined && podSpec.restartPolicy !== "Never") {
    warnings.push(
      `${file}: spec.template.spec.restartPolicy ${podSpec.restartPolicy} replaced by Never (a restarted runner would start a second cluster)`,
    );
  }
  podSpec.restartPolicy = "Never";
  podSpec.serviceAccountName ??= options.serviceAccountName;

  const containers = podSpec.containers;
  let container = pickContainer(containers);
  if (container === undefined) {
    container = { name: FLOTILLA_CONTAINER };
    containers.push(container);
  }
  warnings.push(...fillImage(container, run.image, file));
  container.args = ["execute"];
  container.resources = mergeResources(container.resources, options.runnerResources);
  const terminationPath = container.terminationMessagePath ?? TERMINATION_MESSAGE_PATH;
  container.terminationMessagePath = terminationPath;
  container.terminationMessagePolicy ??= "FallbackToLogsOnError";
  container.env = setEnv(container.env, [
    { name: Env.runId, value: run.runId },
    { name: Env.flowModule, value: run.flowModule },
    { name: Env.flow, value: run.flowName },
    { name: Env.image, value: run.image },
    { name: Env.namespace, valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    { name: Env.podName, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    podIpEnv(),
    brokerPasswordEnv(run),
    { name: Env.brokerUrl, value: `redis://$(${Env.podIp}):${BROKER_PORT}` },
    { name: Env.terminationMessagePath, value: terminationPath },
    {
      name: Env.parameters,
      valueFrom: { secretKeyRef: { name: brokerSecretName(run.flowName, run.runId), key: PARAMETERS_KEY } },
    },
    ...(run.reportTo !== undefined
      ? [
          { name: Env.apiUrl, value: run.reportTo },
          {
            name: Env.apiToken,
            valueFrom: {
              secretKeyRef: { name: brokerSecretName(run.flowName, run.runId), key: API_TOKEN_KEY },
            },
          },
        ]
      : []),
  ]);
  const broker = buildBrokerContainer(options, run);
  podSpec.initContainers = [
    ...(podSpec.initContainers ?? []).filter((c) => c.name !== BROKER_CONTAINER),
    broker,
  ];
  appendPullSecret(podSpec, options);
  return { object: canonicalOrder(base), warnings };
}

/** Everything a worker pod needs to know about its run and its owner. */
export interface WorkerIdentity {
  workerId: string;
  /** The runner pod: owner of every worker pod. */
  owner: OwnerPod;
  /** The broker's address as workers reach it (the runner pod's IP). */
  brokerHost: string;
  /** Task runs per worker (from `planWorkers`). */
  concurrency: number;
  /** Pull Secrets of the runner pod, appended to the worker's (the run's image is the same). */
  pullSecrets?: readonly string[];
}

/** One worker pod, owned by the runner pod. With a worker spec, that Pod is the base. */
export function buildWorkerPod(
  options: KubeClusterOptions,
  worker: WorkerSpec | undefined,
  run: RunIdentity,
  id: WorkerIdentity,
): Built<IPod> {
  const warnings: string[] = [];
  const file = worker?.file ?? "worker spec";
  const base: IPod = worker ? structuredClone(worker.pod) : { apiVersion: "v1", kind: "Pod" };
  base.apiVersion = "v1";
  base.kind = "Pod";
  const labels = { ...runLabels(run.flowName, run.runId, "worker"), [Label.worker]: id.workerId };
  const meta = { ...(base.metadata ?? {}) };
  delete meta.generateName;
  base.metadata = {
    ...meta,
    name: workerPodName(run.flowName, run.runId, id.workerId),
    namespace: run.namespace,
    labels: { ...(meta.labels ?? {}), ...labels },
    ownerReferences: [
      ...(meta.ownerReferences ?? []).filter((r) => r.uid !== id.owner.uid),
      {
        apiVersion: "v1",
        kind: "Pod",
        name: id.owner.name,
        uid: id.owner.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
  base.spec ??= { containers: [] };
  const spec: IPodSpec = base.spec;
  if (spec.restartPolicy !== undefined && spec.restartPolicy !== "Never") {
    warnings.push(
      `${file}: spec.restartPolicy ${spec.restartPolicy} replaced by Never (a restarted worker would rerun tasks)`,
    );
  }
  spec.restartPolicy = "Never";
  // least privilege: a worker calls no Kubernetes API, so it gets an account with no Role and no
  // token (the admission policy `flotilla rbac --admission-policy` prints holds runners to this)
  spec.serviceAccountName ??= options.workerServiceAccountName;
  spec.automountServiceAccountToken ??= false;
  let container = pickContainer(spec.containers);
  if (container === undefined) {
    container = { name: FLOTILLA_CONTAINER };
    spec.containers.push(container);
  }
  warnings.push(...fillImage(container, run.image, file));
  // the broker dies with the runner container; without it the workers end themselves (the owner
  // reference only collects them when the runner pod object goes, at the Job's TTL)
  container.args = ["worker", "--death-timeout-ms", String(options.workerDeathTimeoutMs)];
  container.resources = mergeResources(container.resources, options.workerResources);
  container.env = setEnv(container.env, [
    { name: Env.runId, value: run.runId },
    { name: Env.flowModule, value: run.flowModule },
    { name: Env.flow, value: run.flowName },
    { name: Env.workerId, value: id.workerId },
    { name: Env.concurrency, value: String(id.concurrency) },
    { name: Env.brokerUrl, value: `redis://${id.brokerHost}:${BROKER_PORT}` },
    brokerPasswordEnv(run),
    { name: Env.podName, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
  ]);
  appendPullSecret(spec, options, id.pullSecrets);
  return { object: canonicalOrder(base), warnings };
}

/** Set Flotilla's env vars by name: replace in place when present, append otherwise. */
export function setEnv(existing: readonly IEnvVar[] | undefined, forced: readonly IEnvVar[]): IEnvVar[] {
  const byName = new Map(forced.map((e) => [e.name, e]));
  const out: IEnvVar[] = [];
  const seen = new Set<string>();
  for (const e of existing ?? []) {
    if (seen.has(e.name)) continue;
    seen.add(e.name);
    out.push(byName.get(e.name) ?? e);
  }
  // forced vars referenced with $(VAR) must come first in definition order; POD_IP first of all
  for (const e of forced) if (!seen.has(e.name)) out.push(e);
  const podIp = out.findIndex((e) => e.name === Env.podIp);
  if (podIp > 0) out.unshift(...out.splice(podIp, 1));
  return out;
}

/** apiVersion, kind, metadata, spec first (a user's spec may omit or reorder them): readable output. */
function canonicalOrder<T extends { apiVersion?: string; kind?: string; metadata?: unknown; spec?: unknown }>(
  o: T,
): T {
  return { apiVersion: o.apiVersion, kind: o.kind, metadata: o.metadata, spec: o.spec, ...o };
}

function fillImage(container: IContainer, image: string, file: string): string[] {
  if (container.image === undefined || container.image === "") {
    container.image = image;
    return [];
  }
  if (container.image !== image) {
    return [
      `${file}: container "${container.name}" image ${container.image} differs from the flow's image ${image}; kept (the flow fingerprint check fails the run if their code differs)`,
    ];
  }
  return [];
}

function mergeResources(
  user: IContainer["resources"],
  defaults: ResourceRequirements,
): IContainer["resources"] {
  if (user && (user.requests || user.limits)) return user;
  return structuredClone(defaults) as IContainer["resources"];
}

function appendPullSecret(
  spec: IPodSpec,
  options: KubeClusterOptions,
  inherited: readonly string[] = [],
): void {
  const names = [...(options.privateRegistry ? [pullSecretName(options.dockerSecret)] : []), ...inherited];
  if (names.length === 0) return;
  const list = spec.imagePullSecrets ?? [];
  for (const name of names) if (!list.some((s) => s.name === name)) list.push({ name });
  spec.imagePullSecrets = list;
}

function podIpEnv(): IEnvVar {
  return { name: Env.podIp, valueFrom: { fieldRef: { fieldPath: "status.podIP" } } };
}

function brokerPasswordEnv(run: RunIdentity): IEnvVar {
  return {
    name: Env.brokerPassword,
    valueFrom: {
      secretKeyRef: { name: brokerSecretName(run.flowName, run.runId), key: BROKER_PASSWORD_KEY },
    },
  };
}
