// `flotilla run` on Kubernetes: setup, launch, follow, as kubectl users expect (--kubeconfig,
// --context, -n). `--dry-run` prints every object a run would create and changes nothing;
// `--detach` prints the run id and returns; `--sim` runs the whole path on an embedded kube-sim
// (flow image → this checkout) so the Kubernetes path can be seen working on a laptop.
// Following prints the runner's output (task logs included) through the caller's logger.

import { PassThrough } from "node:stream";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";
import type { RunEvent } from "../core/executor.ts";
import type { Flow } from "../core/flow.ts";
import type { Logger } from "../core/logger.ts";
import type { FlowRunState } from "../core/states.ts";
import { LOG_LEVELS } from "../engine/logging.ts";
import { newRunId } from "../engine/run.ts";
import { connect, type KubeClients } from "./client.ts";
import { isKubeClusterEnvironment, KubeClusterEnvironment } from "./environment.ts";
import { flowModuleInImage } from "./launcher.ts";
import { FLOTILLA_CONTAINER, runSelector } from "./names.ts";
import {
  chooseImage,
  type PlannableEnvironment,
  type PlannableFlow,
  planRun,
  printablePlan,
} from "./plan.ts";
import { buildRbac } from "./rbac.ts";

/** What `flotilla run` passes for a Kubernetes run. */
export interface RunOnKubernetesOptions {
  parameters: Record<string, unknown>;
  logger: Logger;
  onEvent: (e: RunEvent) => void;
  /** Where --dry-run output and --detach's run id go. */
  stdout: NodeJS.WritableStream;
  sim?: boolean;
  detach?: boolean;
  dryRun?: "yaml" | "json";
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** The image runner and workers run, over the flow's storage and the environment's `image`. */
  image?: string;
  /** Injected clients (tests). */
  clients?: KubeClients;
}

/** The image `--sim` runs when the flow names none: kube-sim maps it to this checkout. */
export const SIM_IMAGE = "flotilla.local/flow:sim";

/** Launch (or plan) a run of `flow` on Kubernetes; the state when followed to its end. */
export async function runOnKubernetes(
  flow: Flow,
  options: RunOnKubernetesOptions,
): Promise<{ state?: FlowRunState; exitCode?: number }> {
  const env = isKubeClusterEnvironment(flow.environment)
    ? flow.environment
    : new KubeClusterEnvironment({}, process.cwd());
  // where the image holds the flow: checked first, so a flow outside any project fails at once
  const { projectDir, modulePath } = flowModuleInImage(flow);
  // --sim maps the run's image to this checkout: the chosen one, else a stand-in name
  const simImage = options.sim ? (tryImage(env, flow, options.image) ?? SIM_IMAGE) : undefined;
  if (options.dryRun) {
    let namespace = options.namespace ?? env.options.namespace;
    if (namespace === undefined) {
      try {
        namespace = env.clients({
          kubeconfig: options.kubeconfig,
          context: options.context,
        }).defaultNamespace;
      } catch {
        namespace = "default";
      }
    }
    const plan = planRun(env, flow, {
      runId: newRunId(),
      namespace,
      flowModule: modulePath,
      image: simImage ?? options.image,
      parameters: options.parameters,
    });
    for (const w of plan.warnings) options.logger.warn(w);
    for (const n of plan.notes) options.logger.info(n);
    const objects = printablePlan(plan);
    options.stdout.write(
      options.dryRun === "json"
        ? `${JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2)}\n`
        : objects.map((o) => stringify(o)).join("---\n"),
    );
    return { exitCode: 0 };
  }

  let stopSim: (() => Promise<void>) | undefined;
  let clients = options.clients;
  let image: string | undefined = options.image;
  let namespace = options.namespace;
  if (simImage !== undefined) {
    const sim = await startSim(simImage, projectDir);
    stopSim = () => sim.stop();
    clients = sim.clients;
    image = simImage;
    namespace = "default";
  }
  try {
    const call = {
      clients: clients ?? env.clients({ kubeconfig: options.kubeconfig, context: options.context }),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(image !== undefined ? { image } : {}),
    };
    const handle = await env.execute(flow, {
      ...call,
      parameters: options.parameters,
      logger: options.logger,
      onEvent: options.onEvent,
    });
    if (options.detach) {
      options.stdout.write(`${handle.runId}\n`);
      return { exitCode: 0 };
    }
    const stop = () => void handle.cancel();
    process.once("SIGINT", stop);
    const follow = followLogs(
      call.clients,
      env.namespaceFor(call.clients, call),
      handle.runId,
      options.logger,
    );
    try {
      const state = await handle.wait();
      return { state };
    } finally {
      process.off("SIGINT", stop);
      follow.stop();
    }
  } finally {
    await stopSim?.();
  }
}

/** The image the flow names (call, storage, options, worker spec), or undefined when none. */
function tryImage(env: PlannableEnvironment, flow: PlannableFlow, override?: string): string | undefined {
  try {
    return chooseImage(env, flow, override).image;
  } catch {
    return undefined;
  }
}

/** The service account `--sim` launches as: it holds exactly the launcher Role `flotilla rbac` prints. */
export const SIM_LAUNCHER_SERVICE_ACCOUNT = "flotilla-launcher";

/**
 * An embedded kube-sim set up as `flotilla rbac -n default --service-account flotilla-launcher`
 * prints (runner and launcher ServiceAccounts, Roles, RoleBindings), mapping the flow image to this
 * checkout. The clients returned are the launcher service account's, not the sim's admin: a `--sim`
 * run proves the printed RBAC is enough.
 */
async function startSim(
  image: string,
  projectDir: string,
): Promise<{ clients: KubeClients; stop(): Promise<void> }> {
  const testing = (await import("../testing/index.ts")) as typeof import("../testing/index.ts");
  // pods run in the flow's project, as the image's WORKDIR holds it
  const images = testing.defaultImages(projectDir);
  const flotilla = images["*flotilla*"]!;
  const sim = await testing.KubeSim.start({ images: { ...images, [image]: flotilla } });
  try {
    const namespace = "default";
    const kc = sim.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: SIM_LAUNCHER_SERVICE_ACCOUNT } },
    });
    const objects = buildRbac({ namespace, launcherServiceAccount: SIM_LAUNCHER_SERVICE_ACCOUNT });
    await Promise.all(
      objects.map((o) => {
        if (o.kind === "ServiceAccount")
          return core.createNamespacedServiceAccount({ namespace, body: o as never });
        if (o.kind === "Role") return rbac.createNamespacedRole({ namespace, body: o as never });
        return rbac.createNamespacedRoleBinding({ namespace, body: o as never });
      }),
    );
    const launcher = await sim.serviceAccountKubeconfig(namespace, SIM_LAUNCHER_SERVICE_ACCOUNT);
    return { clients: connect({ kubeConfig: launcher.kubeConfig }), stop: () => sim.stop() };
  } catch (error) {
    await sim.stop();
    throw error;
  }
}

/**
 * How often the launcher looks for the runner pod to stream its logs, in ms. A pod can sit in
 * Pending for minutes (image pull, scheduling); the launcher's PodWatch already follows it for
 * failures, so this look only needs to be soon enough for the first log lines.
 */
const LOG_POLL_INTERVAL_MS = 1000;

/** Stream the runner container's output into `logger` once its pod runs. */
function followLogs(
  clients: KubeClients,
  namespace: string,
  runId: string,
  logger: Logger,
): { stop(): void } {
  let stopped = false;
  let abort: AbortController | undefined;
  const selector = runSelector(runId, "runner");
  void (async () => {
    while (!stopped) {
      const pods = await clients.core
        .listNamespacedPod({ namespace, labelSelector: selector })
        .catch(() => undefined);
      const pod = pods?.items[0];
      const main = pod?.status?.containerStatuses?.find((s) => s.name === FLOTILLA_CONTAINER);
      if (pod?.metadata?.name && (main?.state?.running || main?.state?.terminated)) {
        const out = new PassThrough();
        let buffer = "";
        out.on("data", (chunk: Buffer) => {
          buffer += chunk.toString("utf8");
          const lines = buffer.split("\n");
          buffer = lines.pop() ?? "";
          for (const line of lines) relay(line, logger);
        });
        abort = await new k8s.Log(clients.kubeConfig)
          .log(namespace, pod.metadata.name, FLOTILLA_CONTAINER, out, { follow: true })
          .catch(() => undefined);
        return;
      }
      await new Promise((r) => setTimeout(r, LOG_POLL_INTERVAL_MS));
    }
  })();
  return {
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}

/** Re-log one JSON line of the runner through the local logger (which scrubs secrets). */
function relay(line: string, logger: Logger): void {
  if (line.trim() === "") return;
  try {
    const rec = JSON.parse(line) as Record<string, unknown>;
    const { level, time: _t, msg, ...rest } = rec;
    logger[LOG_LEVELS[level as keyof typeof LOG_LEVELS] ?? "info"](rest, String(msg ?? ""));
  } catch {
    logger.info(line);
  }
}
