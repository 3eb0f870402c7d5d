// Reporting one run to a server, from its start to its final state: the run is recorded (with
// its flow's DAG and parameter schema) as Running, its events and log lines go through a
// RunReporter, and its final state is sent at the end. The run's state is looked at once a
// second, so a cancel made on the server (API, CLI, dashboard) reaches the runner, which stops
// the run; the server then records it Cancelled. Any failure to reach the server is one
// warning; the run itself is never affected.

import type { RunEvent } from "../core/executor.ts";
import type { Flow } from "../core/flow.ts";
import type { FlowRunState } from "../core/states.ts";
import { registerServerRun } from "./register-server-run.ts";
import { RunReporter } from "./reporter.ts";

export interface RunReporting {
  runId: string;
  onEvent(e: RunEvent): void;
  logLine(json: string): void;
  /** Call `stop` once when the run is cancelled on the server (it is Cancelling there). */
  onCancel(stop: () => void): void;
  /** Flush and record the final state; never throws, waits at most `timeoutMs`. */
  finish(state: FlowRunState | undefined, timeoutMs?: number): Promise<void>;
  /**
   * Flush, and leave the final state to whoever launched the run (the runner was stopped from
   * outside: its launcher knows why); never throws, waits at most `timeoutMs`.
   */
  close(timeoutMs?: number): Promise<void>;
}

/** Start reporting a run of `flow` to the server at `url`. */
export async function startReporting(o: {
  url: string;
  token?: string;
  flow: Flow;
  parameters: Record<string, unknown>;
  runId?: string;
  /** The server has the run already (an agent launched it): move it to Running. */
  existing?: boolean;
  warn: (message: string) => void;
  /** How often the run's state is looked at for a cancel, in ms. @default 1000 */
  cancelPollMs?: number;
}): Promise<RunReporting> {
  const { runId, client, warn } = await registerServerRun({
    url: o.url,
    token: o.token,
    flow: o.flow,
    parameters: o.parameters,
    state: "Running",
    runId: o.runId,
    existing: o.existing,
    warn: o.warn,
  });
  if (!client)
    return {
      runId,
      onEvent: () => {},
      logLine: () => {},
      onCancel: () => {},
      finish: async () => {},
      close: async () => {},
    };
  const reporter = new RunReporter({ client, runId, warn });
  const stops: (() => void)[] = [];
  let cancelled = false;
  let looking = false;
  const poll = setInterval(() => {
    if (looking || cancelled) return;
    looking = true;
    // the run's transitions: a few rows, whatever the size of the run
    client
      .request<{ items: { to: string }[] }>(
        "GET",
        `/api/runs/${encodeURIComponent(runId)}/events`,
        undefined,
        { timeoutMs: 5000 },
      )
      .then((r) => {
        const state = r.items.at(-1)?.to;
        if (cancelled || (state !== "Cancelling" && state !== "Cancelled")) return;
        cancelled = true;
        for (const stop of stops) stop();
      })
      .catch(() => {}) // a server that is slow or down is the reporter's to warn about
      .finally(() => {
        looking = false;
      });
  }, o.cancelPollMs ?? 1000);
  poll.unref();
  return {
    runId,
    onEvent: reporter.onEvent,
    logLine: reporter.logLine,
    onCancel: (stop) => {
      stops.push(stop);
    },
    close: async (timeoutMs = 5000) => {
      clearInterval(poll);
      await reporter.close(timeoutMs);
    },
    finish: async (state, timeoutMs = 5000) => {
      clearInterval(poll);
      await reporter.close(timeoutMs);
      const final = state?.type === "Success" ? "Success" : "Failed";
      try {
        await client.post(
          `/api/runs/${runId}/state`,
          {
            state: final,
            ...(final === "Failed"
              ? { reason: (state?.message ?? "the runner stopped").slice(0, 2000) }
              : {}),
          },
          { timeoutMs },
        );
      } catch (e) {
        warn(`could not record the final state of run ${runId} on ${o.url}: ${(e as Error).message}`);
      }
    },
  };
}
