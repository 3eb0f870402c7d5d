// Reporting one run to a server, from its start to its final state: the run is recorded (with
// its flow's DAG and parameter schema) as Running, its events and log lines go through a
// RunReporter, and its final state is sent at the end. Any failure to reach the server is one
// warning; the run itself is never affected.

import { randomUUID } from "node:crypto";
import { describeFlow } from "../core/describe.ts";
import type { RunEvent } from "../core/executor.ts";
import type { Flow } from "../core/flow.ts";
import type { FlowRunState } from "../core/states.ts";
import { ApiClient } from "../server/client.ts";
import { RunReporter } from "./reporter.ts";

export interface RunReporting {
  runId: string;
  onEvent(e: RunEvent): void;
  logLine(json: string): void;
  /** Flush and record the final state; never throws, waits at most `timeoutMs`. */
  finish(state: FlowRunState | undefined, timeoutMs?: number): Promise<void>;
}

/** Flow data registered with the run: what describe shows, and nothing of spec files. */
export function flowRegistration(flow: Flow) {
  const d = describeFlow(flow);
  return {
    name: d.name,
    fingerprint: d.fingerprint,
    dag: { tasks: d.tasks, edges: d.edges, parameterInputs: d.parameterInputs },
    parameterSchema: d.parameters,
  };
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
}): Promise<RunReporting> {
  const runId = o.runId ?? randomUUID();
  let warned = false;
  const warn = (m: string) => {
    if (warned) return;
    warned = true;
    o.warn(m);
  };
  let client: ApiClient;
  try {
    client = new ApiClient({ url: o.url, ...(o.token ? { token: o.token } : {}), timeoutMs: 5000 });
    if (o.existing) {
      await client.post(`/api/runs/${encodeURIComponent(runId)}/state`, { state: "Running" });
    } else {
      await client.post("/api/runs", {
        id: runId,
        flow: flowRegistration(o.flow),
        parameters: o.parameters,
        state: "Running",
      });
    }
  } catch (e) {
    warn(`not reporting to ${o.url}: ${(e as Error).message}; the run goes on without it`);
    return { runId, onEvent: () => {}, logLine: () => {}, finish: async () => {} };
  }
  const reporter = new RunReporter({ client, runId, warn });
  return {
    runId,
    onEvent: reporter.onEvent,
    logLine: reporter.logLine,
    finish: async (state, timeoutMs = 5000) => {
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
