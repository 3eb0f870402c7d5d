// `flotilla runs list|get|logs|cancel`: flow runs on Kubernetes, found by their runner Jobs'
// labels. `cancel` deletes the Job with propagationPolicy Background, so its pod, the pod's
// worker pods and the broker Secret (all owned, directly or not, by the Job) go with it.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { type ConnectOptions, connect, type KubeClients } from "../../kubernetes/client.ts";
import { apiCall } from "../../kubernetes/errors.ts";
import { deleteQuietly } from "../../kubernetes/launcher.ts";
import {
  brokerSecretNameOfJob,
  FLOTILLA_CONTAINER,
  Label,
  labelValue,
  MANAGED_BY,
  runSelector,
} from "../../kubernetes/names.ts";
import { fatalReason } from "../../kubernetes/pod-status.ts";
import { decodeTermination } from "../../kubernetes/termination.ts";
import { colorEnabled, paintState } from "../color.ts";
import { LIST_FORMATS, type OutputFormat, outputOption, renderColumns, renderDocument } from "../output.ts";
import { runsServerCommand, wantsServer } from "./runs-server.ts";

export interface RunsOptions extends ConnectOptions {
  namespace?: string;
  clients?: KubeClients;
}

interface RunsCliOptions extends RunsOptions {
  output: OutputFormat;
}

/** One run as `flotilla runs` shows it. */
export interface RunInfo {
  runId: string;
  flow: string;
  job: string;
  /**
   * Pending, Running, Succeeded, Failed (from the Job); the final state's type once known; `Stuck`
   * when the runner pod cannot start (image pull, crash loop, unschedulable): `message` says why.
   */
  status: string;
  message?: string;
  startedAt?: string;
}

function clientsOf(o: RunsOptions): { clients: KubeClients; namespace: string } {
  const clients = o.clients ?? connect(o);
  return { clients, namespace: o.namespace ?? clients.defaultNamespace };
}

async function runJobs(clients: KubeClients, namespace: string, runId?: string) {
  const selector = `${Label.component}=runner,${Label.managedBy}=${MANAGED_BY}${runId ? `,${Label.runId}=${labelValue(runId)}` : ""}`;
  const list = await apiCall({ verb: "list", resource: "jobs.batch", namespace }, () =>
    clients.batch.listNamespacedJob({ namespace, labelSelector: selector }),
  );
  return list.items;
}

async function runnerPod(clients: KubeClients, namespace: string, runId: string) {
  const pods = await apiCall({ verb: "list", resource: "pods", namespace }, () =>
    clients.core.listNamespacedPod({
      namespace,
      labelSelector: runSelector(runId, "runner"),
    }),
  );
  return pods.items[0];
}

/** The runs in the namespace, newest first. */
export async function listRuns(o: RunsOptions = {}): Promise<RunInfo[]> {
  const { clients, namespace } = clientsOf(o);
  const jobs = await runJobs(clients, namespace);
  return jobs
    .map((j) => {
      const s = j.status;
      const status = s?.succeeded ? "Succeeded" : s?.failed ? "Failed" : s?.active ? "Running" : "Pending";
      return {
        runId: j.metadata?.labels?.[Label.runId] ?? "?",
        flow: j.metadata?.labels?.[Label.flow] ?? "?",
        job: j.metadata?.name ?? "?",
        status,
        ...(j.metadata?.creationTimestamp
          ? { startedAt: new Date(j.metadata.creationTimestamp).toISOString() }
          : {}),
      };
    })
    .sort((a, b) => (b.startedAt ?? "").localeCompare(a.startedAt ?? ""));
}

/** One run, with the final state's message from the runner's termination message. */
export async function getRun(runId: string, o: RunsOptions = {}): Promise<RunInfo> {
  const { clients, namespace } = clientsOf(o);
  const info = (await listRuns({ ...o, clients, namespace })).find((r) => r.runId === labelValue(runId));
  if (!info) {
    throw new FlotillaError(ErrorCode.Usage, `no run ${runId} in namespace "${namespace}"`, {
      hint: "give the full run id from `flotilla runs list` (finished runs are kept until their ttlSecondsAfterFinished)",
      usage: true,
    });
  }
  const pod = await runnerPod(clients, namespace, runId);
  const term = pod?.status?.containerStatuses?.find((c) => c.name === FLOTILLA_CONTAINER)?.state?.terminated;
  const summary = decodeTermination(term?.message);
  if (summary) return { ...info, status: summary.type, message: summary.message };
  // a detached run has no follower to fail it fast: say why its runner pod cannot start
  const stuck = pod && !term ? fatalReason(pod) : undefined;
  return stuck
    ? {
        ...info,
        status: "Stuck",
        message: `runner pod ${pod?.metadata?.name}: ${stuck.reason}: ${stuck.detail}; it will not start by itself: \`flotilla runs cancel ${info.runId}\`, fix the cause, run again`,
      }
    : info;
}

/** The runner container's output. */
export async function runLogs(runId: string, o: RunsOptions = {}): Promise<string> {
  const { clients, namespace } = clientsOf(o);
  const pod = await runnerPod(clients, namespace, runId);
  if (!pod?.metadata?.name) {
    throw new FlotillaError(ErrorCode.Usage, `run ${runId} has no runner pod in namespace "${namespace}"`, {
      usage: true,
    });
  }
  const name = pod.metadata.name;
  return apiCall({ verb: "get", resource: "pods/log", namespace, name }, () =>
    clients.core.readNamespacedPodLog({ name, namespace, container: FLOTILLA_CONTAINER }),
  );
}

/** Delete the run's Job and everything it owns. */
export async function cancelRun(runId: string, o: RunsOptions = {}): Promise<RunInfo[]> {
  const { clients, namespace } = clientsOf(o);
  const jobs = await runJobs(clients, namespace, runId);
  if (jobs.length === 0) {
    throw new FlotillaError(ErrorCode.Usage, `no run ${runId} in namespace "${namespace}"`, {
      hint: "give the full run id from `flotilla runs list` (and -n for another namespace)",
      usage: true,
    });
  }
  const out: RunInfo[] = [];
  for (const j of jobs) {
    const job = j.metadata!.name!;
    await deleteQuietly(clients, namespace, job, brokerSecretNameOfJob(job));
    out.push({ runId, flow: j.metadata?.labels?.[Label.flow] ?? "?", job, status: "Cancelled" });
  }
  return out;
}

/** Runs as `-o` asks: a table (wide adds the Job and the message), one id a line, or a document. */
async function print(rows: RunInfo[], output: OutputFormat, one = false): Promise<string> {
  if (output === "json" || output === "yaml") return renderDocument(one ? rows[0] : rows, output);
  if (output === "name") return rows.map((r) => `${r.runId}\n`).join("");
  const wide = output === "wide";
  const color = colorEnabled(process.stdout);
  const header = ["RUN", "FLOW", "STATUS", "STARTED", ...(wide ? ["JOB", "MESSAGE"] : [])];
  const lines = rows.map((r) => [
    r.runId,
    r.flow,
    r.status,
    r.startedAt ?? "-",
    ...(wide ? [r.job, r.message ?? ""] : []),
  ]);
  return renderColumns([header, ...lines], (row, col, text) =>
    row > 0 && col === 2 ? paintState(text, color) : text,
  );
}

export const runsCommand = (program: Command): void => {
  // with --server (or FLOTILLA_API_URL) the runs are the server's history, not the cluster's Jobs
  if (wantsServer(process.argv)) {
    runsServerCommand(program);
    return;
  }
  const runs = program.command("runs").description("flow runs on Kubernetes: list, get, logs, cancel");
  const connection = (c: Command) =>
    c
      .option("-n, --namespace <ns>", "namespace (default: the context's)")
      .option("--kubeconfig <file>", "kubeconfig file")
      .option("--context <name>", "kubeconfig context");
  const common = (c: Command) => connection(c).addOption(outputOption(LIST_FORMATS));
  common(runs.command("list").description("list runs (newest first)")).action(async (o: RunsCliOptions) => {
    process.stdout.write(await print(await listRuns(o), o.output));
  });
  common(runs.command("get").argument("<run-id>").description("show one run and its final state")).action(
    async (id: string, o: RunsCliOptions) => {
      const r = await getRun(id, o);
      const text = await print([r], o.output, true);
      process.stdout.write(o.output === "table" && r.message ? `${text}${r.message}\n` : text);
    },
  );
  connection(runs.command("logs").argument("<run-id>").description("print the runner's output")).action(
    async (id: string, o: RunsOptions) => {
      process.stdout.write(await runLogs(id, o));
    },
  );
  common(
    runs.command("cancel").argument("<run-id>").description("delete the run's Job and everything it owns"),
  ).action(async (id: string, o: RunsCliOptions) => {
    process.stdout.write(await print(await cancelRun(id, o), o.output));
  });
};
