// Recording a run on a Flotilla server before it starts, for the runner's reporting and for the
// CLI's Kubernetes runs alike: the API client (a 5 s deadline a call), a warning that is given at
// most once for the whole run, and the run created with its flow's DAG and parameter schema (or,
// for a run the server has already, moved to its first state). A server that is down or refuses
// is that one warning ("not reporting to URL: ...; the run goes on without it") and no client.

import { randomUUID } from "node:crypto";
import { describeFlow } from "../core/describe.ts";
import type { Flow } from "../core/flow.ts";
import { ApiClient } from "../server/client.ts";

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

/** Options of {@link registerServerRun}. */
export interface RegisterServerRunOptions {
  /** The server, e.g. http://127.0.0.1:4200. */
  url: string;
  /** The API token (default FLOTILLA_API_TOKEN, else the home's admin token). */
  token?: string | undefined;
  flow: Flow;
  parameters: Record<string, unknown>;
  /** The state the run is recorded in. */
  state: "Scheduled" | "Running";
  /** The run's id. @default a new UUID */
  runId?: string | undefined;
  /** The server has the run already (an agent launched it): move it to `state` instead. */
  existing?: boolean | undefined;
  /**
   * A `url` that is not an http(s) URL is a usage error thrown to the caller rather than the
   * warning (the CLI's Kubernetes runs). @default false
   */
  throwOnBadUrl?: boolean | undefined;
  /** Where the run's one warning goes. */
  warn: (message: string) => void;
}

/** A run as {@link registerServerRun} left it. */
export interface ServerRunRegistration {
  readonly runId: string;
  /** The server's client; undefined when the run could not be recorded (the warning was given). */
  readonly client: ApiClient | undefined;
  /** `warn` of the options, at most once for the run: later warnings are dropped. */
  readonly warn: (message: string) => void;
}

/** Record a run on the server; one warning, and no client, when it cannot be. */
export async function registerServerRun(o: RegisterServerRunOptions): Promise<ServerRunRegistration> {
  const runId = o.runId ?? randomUUID();
  let warned = false;
  const warn = (m: string) => {
    if (warned) return;
    warned = true;
    o.warn(m);
  };
  const connect = () =>
    new ApiClient({ url: o.url, ...(o.token ? { token: o.token } : {}), timeoutMs: 5000 });
  let client = o.throwOnBadUrl ? connect() : undefined;
  try {
    client ??= connect();
    if (o.existing) {
      await client.post(`/api/runs/${encodeURIComponent(runId)}/state`, { state: o.state });
    } else {
      await client.post("/api/runs", {
        id: runId,
        flow: flowRegistration(o.flow),
        parameters: o.parameters,
        state: o.state,
      });
    }
  } catch (e) {
    warn(`not reporting to ${o.url}: ${(e as Error).message}; the run goes on without it`);
    return { runId, client: undefined, warn };
  }
  return { runId, client, warn };
}
