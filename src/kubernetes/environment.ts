// KubeClusterEnvironment: the seed's DaskKubernetesEnvironment for TypeScript flows. Construction
// validates the options and loads the spec files (relative to the flow file), so mistakes fail
// where the flow is defined. `setup` makes the image pull Secret (privateRegistry); `execute`
// launches the run as a Job whose pod runs the flow runner and the broker and grows its own worker
// pods. The specs stay in this object (and in the flow's image); nothing sends them elsewhere.

import type { Environment, RunHandle } from "../core/environment.ts";
import type { Flow, RunOptions } from "../core/flow.ts";
import { type ConnectOptions, connect, type KubeClients } from "./client.ts";
import { type LaunchOptions, launchRun } from "./launcher.ts";
import { planWorkers, type Specs, type WorkerPlan } from "./manifests.ts";
import { compileOptions, type KubeClusterEnvironmentOptions, type KubeClusterOptions } from "./options.ts";
import { chooseImage, type PlannableEnvironment } from "./plan.ts";
import { ensurePullSecret, type SecretReader } from "./pull-secret.ts";
import { callerDirectory, loadSchedulerSpec, loadWorkerSpec, resolveSpecPath } from "./spec-files.ts";

const KIND = "kubernetes";

/** True for a KubeClusterEnvironment, even one from another copy of the package. */
export function isKubeClusterEnvironment(value: unknown): value is KubeClusterEnvironment {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: unknown }).kind === KIND &&
    "specs" in value
  );
}

/** Per-call overrides of where and how to reach the cluster (CLI flags). */
export interface KubeCallOptions extends ConnectOptions {
  namespace?: string | undefined;
  /** The image to run, overriding the flow's storage and `options.image` (e.g. `--sim`). */
  image?: string | undefined;
  /** Injected clients (tests, embedded kube-sim). */
  clients?: KubeClients | undefined;
  /** Reads Flotilla Secrets (tests). @default new Secret(name).getJson() */
  readSecret?: SecretReader | undefined;
}

/**
 * Run each flow run on its own temporary, autoscaling worker cluster on Kubernetes.
 *
 * @example
 * new Flow("etl", { environment: new KubeClusterEnvironment({ minWorkers: 1, maxWorkers: 3 }) })
 * @example
 * new KubeClusterEnvironment({ workerSpecFile: "worker_spec.yaml" }) // next to the flow file
 */
export class KubeClusterEnvironment implements Environment, PlannableEnvironment {
  readonly kind = KIND;
  /** The compiled options (defaults applied). */
  readonly options: KubeClusterOptions;
  /** The loaded spec files. */
  readonly specs: Specs;
  /** The worker spec read once, here: initial workers (its `replicas`), concurrency (`--nthreads`). */
  readonly workerPlan: WorkerPlan;
  /** Option warnings, logged when a run starts (with the worker plan's and the merges'). */
  readonly warnings: readonly string[];
  /** Where relative spec files were resolved from (the flow file's directory). */
  readonly baseDirectory: string;

  constructor(options: KubeClusterEnvironmentOptions = {}, baseDirectory: string = callerDirectory()) {
    const compiled = compileOptions(options);
    this.options = compiled.options;
    this.baseDirectory = baseDirectory;
    const o = compiled.options;
    const display = (f: string | URL) => (f instanceof URL ? f.pathname.split("/").pop()! : String(f));
    this.specs = {
      scheduler: o.schedulerSpecFile
        ? loadSchedulerSpec(resolveSpecPath(o.schedulerSpecFile, baseDirectory), display(o.schedulerSpecFile))
        : undefined,
      worker: o.workerSpecFile
        ? loadWorkerSpec(resolveSpecPath(o.workerSpecFile, baseDirectory), display(o.workerSpecFile))
        : undefined,
    };
    this.warnings = compiled.warnings;
    this.workerPlan = planWorkers(o, this.specs.worker);
  }

  /**
   * The image runner and workers run: the flow's storage image, else `options.image`, else the
   * worker spec's image; none is an error naming `--image`, DockerStorage and `--sim`.
   */
  imageFor(flow: Flow): string {
    return chooseImage(this, flow).image;
  }

  /** The namespace of runs: the call's, else the option, else the kubeconfig context's. */
  namespaceFor(
    clients: Pick<KubeClients, "defaultNamespace"> | undefined,
    call: KubeCallOptions = {},
  ): string {
    return call.namespace ?? this.options.namespace ?? clients?.defaultNamespace ?? "default";
  }

  /** Connect with the call's flags, else this environment's kubeconfig/context options. */
  clients(call: KubeCallOptions = {}): KubeClients {
    return (
      call.clients ??
      connect({
        kubeconfig: call.kubeconfig ?? this.options.kubeconfig,
        context: call.context ?? this.options.context,
        kubeConfig: call.kubeConfig,
      })
    );
  }

  /** The seed's setup step: with `privateRegistry`, make sure the pull Secret exists. Idempotent. */
  async setup(_flow: Flow, call: KubeCallOptions = {}): Promise<void> {
    if (!this.options.privateRegistry) return;
    const clients = this.clients(call);
    await ensurePullSecret(
      clients,
      this.namespaceFor(clients, call),
      this.options.dockerSecret,
      call.readSecret,
    );
  }

  /**
   * Launch a run from its plan (`planRun`): every warning first, then setup (the pull Secret), then
   * the broker Secret and the runner Job. The handle follows the run to its end.
   */
  async execute(
    flow: Flow,
    options: RunOptions &
      KubeCallOptions &
      Partial<Pick<LaunchOptions, "resyncIntervalMs" | "onProgress" | "report">> = {},
  ): Promise<RunHandle> {
    const clients = this.clients(options);
    return launchRun(this, flow, clients, {
      ...options,
      namespace: this.namespaceFor(clients, options),
      beforeCreate: () => this.setup(flow, { ...options, clients }),
    });
  }
}
