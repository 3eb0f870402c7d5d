// The run plan: one pure function from an environment (compiled options, loaded specs, the worker
// plan read from them once), a flow and a run's identity to every object the run creates and every
// warning, before anything touches a cluster. `--dry-run` prints it (`printablePlan`); the launcher
// creates the same objects. Invariants: no I/O, no clock, no randomness (the broker password is an
// input); without a password the Secret holds `stringData` placeholders, never a value; objects
// never carry owner references to objects that do not exist yet (their uids are unknown): what the
// launcher and the runner add at launch is said in an annotation of the printed plan.

import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { ISecret } from "kubernetes-models/v1/Secret";
import { ErrorCode, FlotillaError } from "../core/errors.ts";
import {
  buildBrokerSecret,
  buildRunnerJob,
  buildWorkerPod,
  type RunIdentity,
  type Specs,
  type WorkerPlan,
} from "./manifests.ts";
import { brokerSecretName, jobName, Label, MANAGED_BY, pullSecretName } from "./names.ts";
import type { KubeClusterOptions } from "./options.ts";

/** What a plan needs of an environment (a KubeClusterEnvironment is one). */
export interface PlannableEnvironment {
  readonly options: KubeClusterOptions;
  readonly specs: Specs;
  /** The worker spec read once where it was loaded: initial workers, concurrency, its warnings. */
  readonly workerPlan: WorkerPlan;
  /** Option and spec warnings found at construction. */
  readonly warnings: readonly string[];
}

/** What a plan needs of a flow. */
export interface PlannableFlow {
  readonly name: string;
  readonly storage?: { imageRef?: () => string } | undefined;
}

/** The run-specific inputs of a plan. */
export interface PlanInput {
  runId: string;
  namespace: string;
  /** The flow module's path inside the image, relative to the project (`moduleInProject`). */
  flowModule: string;
  /** The image to run, over the flow's storage and `options.image` (`--image`, `--sim`). */
  image?: string | undefined;
  parameters?: Readonly<Record<string, unknown>> | undefined;
  /** The broker password (the launcher's); without it the Secret holds placeholders. */
  password?: string | undefined;
  /** The Flotilla server the runner reports to (its URL as the runner pod reaches it). */
  reportTo?: string | undefined;
  /** The run's own API token for that server (with `password`; else a placeholder). */
  apiToken?: string | undefined;
}

/** Every object of a run and every warning, as planned before launch. */
export interface RunPlan {
  identity: RunIdentity;
  jobName: string;
  brokerSecretName: string;
  /** The image pull Secret the pods list (`privateRegistry`); setup makes it when missing. */
  pullSecret: { name: string; dockerSecret: string } | undefined;
  /** The per-run Secret, without its owner reference (the Job's uid is known once it exists). */
  brokerSecret: ISecret;
  /** The runner Job. */
  job: IJob;
  /** Worker pods the runner creates at start (w1…wN), without the runner pod's owner reference. */
  workers: IPod[];
  /** Initial workers and task runs per worker. */
  workerPlan: Omit<WorkerPlan, "warnings">;
  /** Everything the user should read before the run starts (options, specs, merges). */
  warnings: string[];
  /** Facts worth a line, not a warning (e.g. which image was chosen and why). */
  notes: string[];
}

/** The broker address the runner gives its workers, unknown before its pod runs. */
const RUNNER_POD_IP = "<runner pod IP>";
/** A stand-in owner for building worker pods; removed again (a plan names no unknown uid). */
const PLANNED_OWNER = { name: "<runner pod>", uid: "<runner pod uid>" };

/** The annotation of a printed plan saying what is added at launch. */
export const ADDED_AT_LAUNCH = "flotilla.io/added-at-launch";

/** Plan a run: every object and every warning. Pure. */
export function planRun(env: PlannableEnvironment, flow: PlannableFlow, input: PlanInput): RunPlan {
  const { image, note } = chooseImage(env, flow, input.image);
  const identity: RunIdentity = {
    flowName: flow.name,
    runId: input.runId,
    namespace: input.namespace,
    image,
    flowModule: input.flowModule,
    ...(input.parameters !== undefined ? { parameters: input.parameters } : {}),
    ...(input.reportTo !== undefined ? { reportTo: input.reportTo } : {}),
  };
  const job = buildRunnerJob(env.options, env.specs, identity);
  const { warnings: workerPlanWarnings, ...workerPlan } = env.workerPlan;
  const workers = Array.from({ length: workerPlan.initialWorkers }, (_, i) =>
    buildWorkerPod(env.options, env.specs.worker, identity, {
      workerId: `w${i + 1}`,
      owner: PLANNED_OWNER,
      brokerHost: RUNNER_POD_IP,
      concurrency: workerPlan.concurrency,
    }),
  );
  const worker0 =
    workers[0] ??
    buildWorkerPod(env.options, env.specs.worker, identity, {
      workerId: "w1",
      owner: PLANNED_OWNER,
      brokerHost: RUNNER_POD_IP,
      concurrency: workerPlan.concurrency,
    });
  for (const w of workers) {
    const refs = (w.object.metadata!.ownerReferences ?? []).filter((r) => r.uid !== PLANNED_OWNER.uid);
    if (refs.length > 0) w.object.metadata!.ownerReferences = refs;
    else delete w.object.metadata!.ownerReferences;
  }
  return {
    identity,
    jobName: jobName(flow.name, input.runId),
    brokerSecretName: brokerSecretName(flow.name, input.runId),
    pullSecret: env.options.privateRegistry
      ? { name: pullSecretName(env.options.dockerSecret), dockerSecret: env.options.dockerSecret }
      : undefined,
    brokerSecret: buildBrokerSecret(identity, input.password, undefined, input.apiToken),
    job: job.object,
    workers: workers.map((w) => w.object),
    workerPlan,
    // the worker merge warnings are the same for every worker: once
    warnings: [...env.warnings, ...job.warnings, ...workerPlanWarnings, ...worker0.warnings],
    notes: note ? [note] : [],
  };
}

/**
 * The image runner and workers run: the call's (`--image`, `--sim`), else the flow's storage, else
 * `options.image`, else the worker spec's (the seed's custom worker: the spec's image is the flow's
 * image), with a note. None at all is an error naming every way to give one.
 */
export function chooseImage(
  env: Pick<PlannableEnvironment, "options" | "specs">,
  flow: PlannableFlow,
  override?: string,
): { image: string; note?: string } {
  const given = override ?? flow.storage?.imageRef?.() ?? env.options.image;
  if (given) return { image: given };
  const spec = env.specs.worker;
  const containers = spec?.pod.spec?.containers ?? [];
  const container = containers.find((c) => c.name === "flotilla") ?? containers[0];
  if (spec && container?.image) {
    return {
      image: container.image,
      note: `flow "${flow.name}" has no storage and no image option: runner and workers run the image of ${spec.file}, ${container.image}`,
    };
  }
  throw new FlotillaError(ErrorCode.OptionsInvalid, `flow "${flow.name}": no image to run on Kubernetes`, {
    hint: "pass --image <ref>, give the flow storage: new DockerStorage({...}) (built by `flotilla build --push`), or set KubeClusterEnvironment({ image }); to try it on this machine, add --sim",
    usage: true,
  });
}

/**
 * The plan as `--dry-run` prints it: objects `kubectl apply --dry-run=server -f -` and
 * `kubectl diff -f -` accept, each annotated with what the launcher (or the runner) adds at launch.
 * The pull Secret is shown with an empty placeholder config (its credentials are never printed).
 */
export function printablePlan(plan: RunPlan): object[] {
  const annotate = <T extends { metadata?: { annotations?: Record<string, string> } }>(
    o: T,
    text: string,
  ): T => {
    const copy = structuredClone(o);
    copy.metadata = {
      ...copy.metadata,
      annotations: { ...copy.metadata?.annotations, [ADDED_AT_LAUNCH]: text },
    };
    return copy;
  };
  const objects: object[] = [];
  if (plan.pullSecret) {
    objects.push({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: plan.pullSecret.name,
        namespace: plan.identity.namespace,
        labels: { [Label.component]: "pull-secret", [Label.managedBy]: MANAGED_BY },
        annotations: {
          [ADDED_AT_LAUNCH]: `made by setup from the Flotilla secret ${plan.pullSecret.dockerSecret} when missing (an existing one is kept); the config shown is a placeholder, never the credentials`,
        },
      },
      type: "kubernetes.io/dockerconfigjson",
      stringData: { ".dockerconfigjson": '{"auths":{}}' },
    });
  }
  objects.push(
    annotate(
      plan.brokerSecret,
      `metadata.ownerReferences: the runner Job ${plan.jobName} (created after the Job, with its uid; garbage collection deletes it with the Job); stringData: the broker password (generated) and the run's parameters${plan.identity.reportTo !== undefined ? ", and the run's API token (minted by the server for this run only)" : ""}`,
    ),
    annotate(
      plan.job,
      "created with spec.suspend: true, resumed once the run's Secret (owned by this Job) exists",
    ),
    ...plan.workers.map((w) =>
      annotate(
        w,
        "created by the runner pod, not the launcher: metadata.ownerReferences (the runner pod, controller) and FLOTILLA_BROKER_URL (the runner pod's IP) are set then; the runner scales workers between minWorkers and maxWorkers",
      ),
    ),
  );
  return objects;
}
