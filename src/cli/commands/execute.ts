// `flotilla execute`: the entrypoint of the runner Job's container. Loads the flow module from
// the image, reads its own pod (uid, for the workers' owner references), starts the KubeCluster
// (worker pods + the broker sidecar), runs the flow with ClusterExecutor, writes the final state
// to the termination message and exits 0 (Success) or 1. Worker pods are deleted on success,
// failure and SIGTERM (the executor closes the cluster; the pods' owner reference covers SIGKILL).
// Everything comes from the environment the Job sets (FLOTILLA_*), never from arguments, so no
// secret is in argv.

import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { Env } from "../../cluster/process-env.ts";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import type { Logger } from "../../core/logger.ts";
import type { FlowRunState } from "../../core/states.ts";
import { createLogger } from "../../engine/logging.ts";
import { runFlow } from "../../engine/run.ts";
import { describeTally, RunTally } from "../../engine/run-tally.ts";
import { ClusterExecutor } from "../../executors/cluster-executor.ts";
import { connect, type KubeClients } from "../../kubernetes/client.ts";
import { isKubeClusterEnvironment, KubeClusterEnvironment } from "../../kubernetes/environment.ts";
import { apiCall } from "../../kubernetes/errors.ts";
import { KubeCluster } from "../../kubernetes/kube-cluster.ts";
import { runSelector } from "../../kubernetes/names.ts";
import { encodeTermination, summarize } from "../../kubernetes/termination.ts";
import type { RunReporting } from "../../reporting/report-run.ts";
import { registerSecret } from "../../secrets/redact.ts";
import { loadFlowModule, selectFlow } from "../../storage/module.ts";
import { stopSignals } from "../signals.ts";

/** How often the runner logs its task counts (when they changed), in ms. */
const TALLY_INTERVAL_MS = 1000;

export interface ExecuteOptions {
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Injected clients. @default from KUBECONFIG / in-cluster */
  clients?: KubeClients;
  logger?: Logger;
  /** Aborts the run (SIGTERM in the CLI). */
  signal?: AbortSignal;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === "") {
    throw new FlotillaError(ErrorCode.Usage, `flotilla execute: environment variable ${name} is not set`, {
      hint: "`flotilla execute` is the runner Job's entrypoint; start runs with `flotilla run <flow-file>`",
      usage: true,
    });
  }
  return v;
}

/** Run the flow of this runner pod; returns its final state (also written as the termination message). */
export async function execute(options: ExecuteOptions = {}): Promise<FlowRunState> {
  const env = options.env ?? process.env;
  // a run reporting to a server sends its log lines there too, as a local run does
  let reporting: RunReporting | undefined;
  const logger = options.logger ?? createLogger({ format: "json", tap: (line) => reporting?.logLine(line) });
  const password = required(env, Env.brokerPassword);
  registerSecret(password);
  const runId = required(env, Env.runId);
  const flowModule = required(env, Env.flowModule);
  const podName = required(env, Env.podName);
  const podIp = required(env, Env.podIp);
  const namespace = required(env, Env.namespace);
  const terminationPath = env[Env.terminationMessagePath];
  const parameters = env[Env.parameters]
    ? (JSON.parse(env[Env.parameters]!) as Record<string, unknown>)
    : undefined;

  const clients = options.clients ?? connect();
  // the runner pod's own uid (the workers' owner) is read while the flow module loads
  // and every other pod of the run: a run is started once, by one runner
  const [module, self, others] = await Promise.all([
    loadFlowModule(flowModule),
    apiCall({ verb: "get", resource: "pods", namespace, name: podName }, () =>
      clients.core.readNamespacedPod({ name: podName, namespace }),
    ),
    apiCall({ verb: "list", resource: "pods", namespace }, () =>
      clients.core.listNamespacedPod({ namespace, labelSelector: runSelector(runId) }),
    ),
  ]);
  const flow = selectFlow(module, env[Env.flow] || undefined);
  const started = others.items.find((p) => p.metadata?.name !== podName);
  if (started) {
    // a second runner pod of the run (a replaced runner): refuse before touching anything
    const refused = secondRunnerRefused(runId, flow.name, podName, started.metadata?.name);
    writeTermination(terminationPath, refused, logger);
    logger.error(refused.message);
    return refused;
  }
  // the server the run reports to (an agent or `flotilla run --server` launched it): task runs and
  // log lines through the same batched reporter as a local run, with the run's own token
  const apiUrl = env[Env.apiUrl];
  const stop = new AbortController();
  options.signal?.addEventListener("abort", () => stop.abort(), { once: true });
  let cancelledOnServer = false;
  if (apiUrl) {
    reporting = await reportTo(apiUrl, env[Env.apiToken] || undefined, { flow, parameters, runId, logger });
    // a cancel on the server stops the run here too (the agent also deletes its Job)
    reporting.onCancel(() => {
      cancelledOnServer = true;
      stop.abort();
    });
  }
  const report = reporting;
  const environment = isKubeClusterEnvironment(flow.environment)
    ? flow.environment
    : new KubeClusterEnvironment({}, process.cwd());
  const image = env[Env.image] || environment.imageFor(flow);
  const cluster = new KubeCluster({
    clients,
    options: environment.options,
    specs: environment.specs,
    workerPlan: environment.workerPlan,
    run: { flowName: flow.name, runId, namespace, image, flowModule },
    owner: { name: podName, uid: self.metadata!.uid! },
    podIp,
    brokerPassword: password,
    pullSecrets: (self.spec?.imagePullSecrets ?? []).flatMap((s) => (s.name ? [s.name] : [])),
  });
  // the task counts, logged at most once a second when they changed: the launcher's status line
  const tally = new RunTally();
  let logged = 0;
  const logTally = () => {
    if (tally.version === logged) return;
    logged = tally.version;
    const progress = tally.snapshot();
    logger.info({ progress }, `tasks: ${describeTally(progress)}`);
  };
  const tallyTimer = setInterval(logTally, TALLY_INTERVAL_MS);
  tallyTimer.unref();
  const ended = await runFlow(flow, new ClusterExecutor({ cluster }), {
    runId,
    logger,
    ...(parameters ? { parameters } : {}),
    signal: stop.signal,
    onEvent: (e) => {
      tally.onEvent(e);
      report?.onEvent(e);
      if (e.type === "workers")
        logger.info({ workers: e.count, pending: e.pending }, `workers: ${e.count} (${e.reason})`);
    },
  }).finally(() => {
    clearInterval(tallyTimer);
    logTally();
  });
  const state = finalState(ended);
  writeTermination(terminationPath, state, logger);
  logger.info({ state: state.type }, `flow run ${runId} finished: ${state.type}: ${state.message}`);
  // SIGTERM from the kubelet means the runner pod is going (deleted, evicted, drained, its Job's
  // deadline): the launcher that watches the pod (the agent, or `flotilla run --server`) records the
  // run Crashed and says why. A final state sent from here would race it and say less.
  const stoppedFromOutside = options.signal?.aborted === true && !cancelledOnServer;
  if (stoppedFromOutside && ended.type !== "Success") await report?.close();
  else await report?.finish(state);
  return state;
}

/** The state of a runner pod that finds its run already started by another pod of the run. */
function secondRunnerRefused(
  runId: string,
  flow: string,
  podName: string,
  other: string | undefined,
): FlowRunState {
  const now = Date.now();
  return {
    type: "Failed",
    message: `run ${runId} was already started (pod ${other} of the run exists); runner pod ${podName} refuses to start it a second time`,
    flow,
    runId,
    taskRuns: {},
    startedAt: now,
    finishedAt: now,
  };
}

/** The run's reporting to the server at `url`, with the run's own token (a secret of the run). */
async function reportTo(
  url: string,
  token: string | undefined,
  o: { flow: Flow; parameters: Record<string, unknown> | undefined; runId: string; logger: Logger },
): Promise<RunReporting> {
  if (token) registerSecret(token);
  const { startReporting } = await import("../../reporting/report-run.ts");
  return startReporting({
    url,
    ...(token ? { token } : {}),
    flow: o.flow,
    parameters: o.parameters ?? {},
    runId: o.runId,
    existing: true,
    warn: (m) => o.logger.warn(m),
  });
}

/** A run stopped by SIGTERM or a fatal cluster error can end before its tasks: that is a failure. */
function finalState(ended: FlowRunState): FlowRunState {
  return ended.type === "Success" || ended.type === "Failed"
    ? ended
    : {
        ...ended,
        type: "Failed",
        message: ended.error
          ? `${ended.error.message}${ended.error.hint ? ` (${ended.error.hint})` : ""}`
          : "the run was stopped before it finished",
      };
}

/** The final state as the container's termination message (the launcher reads it). */
function writeTermination(path: string | undefined, state: FlowRunState, logger: Logger): void {
  if (!path) return;
  try {
    writeFileSync(path, encodeTermination(summarize(state)));
  } catch (e) {
    logger.warn(`cannot write the termination message to ${path}: ${String(e)}`);
  }
}

export const executeCommand = (program: Command): void => {
  program
    .command("execute")
    .description(
      "run a flow inside its Kubernetes runner Job (the Job's entrypoint; configured by FLOTILLA_* env)",
    )
    .action(async () => {
      // SIGTERM (the kubelet stopping the pod) cancels the run; its final state is still written
      const signals = stopSignals();
      try {
        const state = await execute({ signal: signals.signal });
        process.exitCode = state.type === "Success" ? 0 : 1;
      } finally {
        signals.off();
      }
    });
};
