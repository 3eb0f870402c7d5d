// The API's routes in one table (paths under /api, the scope each needs), so the dashboard, the
// CLI client and the OpenAPI document agree on names. Scopes: admin > agent | runner > read; a
// runner token may only touch its own run. The dashboard's own routes (static files, the
// token → cookie exchange at /api/session and /login) are registered by `dashboard` hooks.
//
// Authentication: `Authorization: Bearer <token>`, or the `flotilla_session` cookie holding a
// token (the dashboard's session). The OpenAPI document and /api/health need none.

import type { TokenScope } from "../../store/store.ts";

export interface RouteInfo {
  method: "GET" | "POST" | "DELETE";
  path: string;
  scopes: readonly TokenScope[];
  summary: string;
}

const READ: readonly TokenScope[] = ["admin", "agent", "runner", "read"];
const ADMIN: readonly TokenScope[] = ["admin"];
const AGENT: readonly TokenScope[] = ["admin", "agent"];
const REPORT: readonly TokenScope[] = ["admin", "agent", "runner"];

/** Every route of the API. */
export const ROUTES = {
  health: { method: "GET", path: "/api/health", scopes: [], summary: "liveness (no token)" },
  openapi: { method: "GET", path: "/api/openapi.json", scopes: [], summary: "this API's OpenAPI document" },
  whoami: { method: "GET", path: "/api/whoami", scopes: READ, summary: "the calling token's name and scope" },
  listRuns: {
    method: "GET",
    path: "/api/runs",
    scopes: READ,
    summary: "flow runs, newest first (?state, ?deployment, ?flow, ?limit, ?cursor)",
  },
  createRun: {
    method: "POST",
    path: "/api/runs",
    scopes: REPORT,
    summary: "record a run started elsewhere (flotilla run --server), or start a deployment's run",
  },
  getRun: { method: "GET", path: "/api/runs/:id", scopes: READ, summary: "one run (id or unique prefix)" },
  taskRuns: { method: "GET", path: "/api/runs/:id/task-runs", scopes: READ, summary: "the run's task runs" },
  logs: {
    method: "GET",
    path: "/api/runs/:id/logs",
    scopes: READ,
    summary:
      "the run's log lines and a cursor: { items, next }; the last ?limit lines, or with ?after=<next> only the lines after it, oldest first (?contains)",
  },
  logsDownload: {
    method: "GET",
    path: "/api/runs/:id/logs/download",
    scopes: READ,
    summary:
      "every log line of the run (or of one task, ?task=SLUG&index=N) as a file: text (the default) or ?format=ndjson, streamed, secrets the server knows scrubbed",
  },
  cluster: {
    method: "GET",
    path: "/api/runs/:id/cluster",
    scopes: READ,
    summary: "the run's worker-count samples and scaling decisions",
  },
  runEvents: {
    method: "GET",
    path: "/api/runs/:id/events",
    scopes: READ,
    summary: "the run's state transitions",
  },
  setState: {
    method: "POST",
    path: "/api/runs/:id/state",
    scopes: REPORT,
    summary: "move the run forward (409 when the transition goes back)",
  },
  report: {
    method: "POST",
    path: "/api/runs/:id/report",
    scopes: REPORT,
    summary: "a reporter batch: task runs, logs, worker samples, scaling decisions",
  },
  runToken: {
    method: "POST",
    path: "/api/runs/:id/token",
    scopes: AGENT,
    summary:
      "mint the run's own token (scope runner, only for this run's reporting, revoked when it ends); its value is shown once",
  },
  cancel: { method: "POST", path: "/api/runs/:id/cancel", scopes: ADMIN, summary: "cancel the run" },
  retry: {
    method: "POST",
    path: "/api/runs/:id/retry",
    scopes: ADMIN,
    summary: "a new run of the same deployment",
  },
  listDeployments: { method: "GET", path: "/api/deployments", scopes: READ, summary: "deployments" },
  putDeployment: {
    method: "POST",
    path: "/api/deployments",
    scopes: ADMIN,
    summary: "register a flow version and create or replace a deployment (and its schedule)",
  },
  getDeployment: { method: "GET", path: "/api/deployments/:name", scopes: READ, summary: "one deployment" },
  deleteDeployment: {
    method: "DELETE",
    path: "/api/deployments/:name",
    scopes: ADMIN,
    summary: "delete a deployment and its schedules (its runs stay)",
  },
  startDeployment: {
    method: "POST",
    path: "/api/deployments/:name/runs",
    scopes: ADMIN,
    summary: "start a run of the deployment",
  },
  listSchedules: { method: "GET", path: "/api/schedules", scopes: READ, summary: "schedules" },
  pauseSchedule: {
    method: "POST",
    path: "/api/schedules/:id/pause",
    scopes: ADMIN,
    summary: "pause a schedule",
  },
  resumeSchedule: {
    method: "POST",
    path: "/api/schedules/:id/resume",
    scopes: ADMIN,
    summary: "resume a schedule",
  },
  listAgents: { method: "GET", path: "/api/agents", scopes: READ, summary: "agents heard from" },
  heartbeat: {
    method: "POST",
    path: "/api/agents/:id/heartbeat",
    scopes: AGENT,
    summary: "an agent is alive",
  },
  claim: {
    method: "POST",
    path: "/api/agents/:id/claim",
    scopes: AGENT,
    summary: "claim due runs of a pool (leases)",
  },
  renew: {
    method: "POST",
    path: "/api/agents/:id/renew",
    scopes: AGENT,
    summary: "extend the agent's leases",
  },
  listTokens: { method: "GET", path: "/api/tokens", scopes: ADMIN, summary: "tokens (never their values)" },
  createToken: {
    method: "POST",
    path: "/api/tokens",
    scopes: ADMIN,
    summary: "create a token; its value is shown once",
  },
  vacuum: {
    method: "POST",
    path: "/api/db/vacuum",
    scopes: ADMIN,
    summary: "delete finished runs older than a cutoff",
  },
  events: {
    method: "GET",
    path: "/api/events",
    scopes: READ,
    summary: "server-sent events: run.state, task-runs, logs, workers, deployment, schedule (?run=ID)",
  },
} as const satisfies Record<string, RouteInfo>;

/** The session cookie the dashboard sets; its value is a token. */
export const SESSION_COOKIE = "flotilla_session";
