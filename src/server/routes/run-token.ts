// A run's own API token: minted by the server when an agent (or `flotilla run --server` on
// Kubernetes) launches the run, scope runner, bound to that run. It may only report to its run
// (state, task runs and logs, the run and its transitions); any other call is refused with 403,
// and the store deletes it when the run reaches a final state. Its value travels only in the run's
// per-run Secret (read by the runner through a secretKeyRef).

import type { Store, TokenRecord } from "../../store/store.ts";
import { ApiCode, ApiError } from "../api-error.ts";
import { createToken } from "../auth.ts";
import { ROUTES, type RouteInfo } from "./table.ts";

/** The routes a run-bound token may call, each for its own run only (`:id`). */
const RUN_TOKEN_ROUTES: readonly RouteInfo[] = [
  ROUTES.getRun,
  ROUTES.runEvents,
  ROUTES.setState,
  ROUTES.report,
];

/** Mint the token of run `runId` (scope runner, bound to the run). */
export async function mintRunToken(
  store: Store,
  runId: string,
): Promise<{ token: string; record: TokenRecord }> {
  return createToken(store, `run ${runId}`, "runner", runId);
}

/**
 * Refuse a call a run-bound token may not make: anything but its own run's reporting routes (and
 * whoami). Tokens not bound to a run are not concerned.
 */
export function checkRunToken(route: RouteInfo, token: TokenRecord, params: unknown): void {
  if (token.scope !== "runner" || token.runId === undefined) return;
  if (route === ROUTES.whoami) return;
  const id = (params as { id?: unknown } | undefined)?.id;
  if (RUN_TOKEN_ROUTES.includes(route) && id === token.runId) return;
  throw new ApiError(
    403,
    ApiCode.Forbidden,
    `the token of run ${token.runId} may not ${route.method} ${route.path}${typeof id === "string" && id !== token.runId ? ` of run ${id}` : ""}`,
    "a run's own token only reports that run; use an admin, agent or read token for anything else",
  );
}
