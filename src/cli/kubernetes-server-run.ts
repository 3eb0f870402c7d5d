// `flotilla run --server URL` of a flow that runs on Kubernetes: the CLI records the run on the
// server (flow, DAG, parameters), has the server mint the run's own token (scope runner, this run
// only, revoked when it ends) and hands it to the launcher, which puts it in the per-run Secret
// only: the runner pod reports its task runs, logs and final state itself, as a run an agent
// launched does. The CLI moves the run to Starting once its Job exists, and when the runner pod
// could not report its end (the server unreachable from the pod, the pod deleted, never started)
// the CLI records it from what the launcher read (termination message or the Kubernetes reason).
// A server that is down or refuses is one warning; the run itself goes on without it.

import type { Flow } from "../core/flow.ts";
import type { FlowRunState } from "../core/states.ts";
import { registerServerRun } from "../reporting/register-server-run.ts";
import { registerSecret } from "../secrets/redact.ts";
import type { FlowRunRecord } from "../store/store.ts";

/** A Kubernetes run recorded on a server. */
export interface ServerRunLink {
  /** The run's id (the server's and the Job's). */
  readonly runId: string;
  /** What the runner pod reports with: the URL it reaches the server at and the run's own token. */
  readonly report: { url: string; token: string } | undefined;
  /** The runner Job exists: the run is Starting (infraRef `job:<namespace>/<name>`). */
  launched(namespace: string, job: string): Promise<void>;
  /** The run is being cancelled from the CLI (Ctrl-C): Cancelling, so the runner's end is Cancelled. */
  cancelling(): Promise<void>;
  /** The launch failed before the run could start: Crashed with the reason. */
  crashed(reason: string): Promise<void>;
  /** The run ended as the launcher saw it: recorded when the runner pod did not record it. */
  finish(state: FlowRunState): Promise<void>;
}

/** Options of {@link linkServerRun}. */
export interface LinkServerRunOptions {
  /** The server as the CLI reaches it (--server or FLOTILLA_API_URL). */
  url: string;
  /** The server as the runner pod reaches it (--report-url or FLOTILLA_REPORT_URL). @default url */
  reportUrl?: string | undefined;
  /** The CLI's token (--token, FLOTILLA_API_TOKEN, else the home's admin token). */
  token?: string | undefined;
  flow: Flow;
  parameters: Record<string, unknown>;
  /** One warning, at most once. */
  warn: (message: string) => void;
}

/**
 * Record the run on the server and mint its token; undefined (after one warning) when the server
 * cannot be reached or refuses to record the run.
 */
export async function linkServerRun(o: LinkServerRunOptions): Promise<ServerRunLink | undefined> {
  const { runId, client, warn } = await registerServerRun({
    url: o.url,
    token: o.token,
    flow: o.flow,
    parameters: o.parameters,
    state: "Scheduled",
    throwOnBadUrl: true,
    warn: o.warn,
  });
  if (!client) return undefined;
  const path = `/api/runs/${encodeURIComponent(runId)}`;
  let report: ServerRunLink["report"];
  try {
    const { token } = await client.post<{ token: string }>(`${path}/token`, {});
    registerSecret(token);
    report = { url: (o.reportUrl ?? o.url).replace(/\/+$/, ""), token };
  } catch (e) {
    warn(
      `the server at ${o.url} did not mint run ${runId}'s token (${(e as Error).message}): the runner pod will not report its task runs; the CLI records the run's states`,
    );
  }
  const move = async (state: string, extra: Record<string, unknown> = {}) => {
    try {
      await client.post(`${path}/state`, { state, ...extra });
    } catch (e) {
      warn(`could not record run ${runId} ${state} on ${o.url}: ${(e as Error).message}`);
    }
  };
  const current = async (): Promise<FlowRunRecord | undefined> =>
    client.get<FlowRunRecord>(path).catch((e: unknown) => {
      warn(`could not read run ${runId} on ${o.url}: ${(e as Error).message}`);
      return undefined;
    });
  return {
    runId,
    report,
    launched: (namespace, job) => move("Starting", { infraRef: `job:${namespace}/${job}` }),
    cancelling: async () => {
      await client.post(`${path}/cancel`, {}).catch((e: unknown) => {
        warn(`could not record the cancel of run ${runId} on ${o.url}: ${(e as Error).message}`);
      });
    },
    crashed: (reason) => move("Crashed", { reason: reason.slice(0, 10_000) }),
    finish: async (state) => {
      const run = await current();
      if (!run || ["Success", "Failed", "Crashed", "Cancelled"].includes(run.state)) return;
      if (run.state === "Cancelling") {
        await move("Cancelled", { reason: "cancelled; its runner is gone" });
        return;
      }
      // the runner pod could not record its end: its termination message (or the reason) does
      const final = finalOf(state);
      if (final !== "Crashed" && run.state !== "Running") await move("Running");
      await move(final, final === "Success" ? {} : { reason: state.message.slice(0, 10_000) });
    },
  };
}

/**
 * The server state of a run the launcher followed to its end: Success, Failed when the runner's
 * termination message gave a final state (its task runs), else Crashed (the runner pod deleted,
 * never started, or gone without a final state).
 */
function finalOf(state: FlowRunState): "Success" | "Failed" | "Crashed" {
  if (state.type === "Success") return "Success";
  return Object.keys(state.taskRuns).length > 0 ? "Failed" : "Crashed";
}
