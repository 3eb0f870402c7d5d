// What every route plugin of the API is given: the store and the event bus, the options a route
// of the table compiles to (its token guard, its OpenAPI summary), and the look-ups and effects
// more than one resource needs (a run by id prefix, a deployment by name, starting a
// deployment's run, publishing a run's state change).

import type { FastifyRequest } from "fastify";
import type { FlowRunRecord, Store } from "../../store/store.ts";
import { ApiCode, ApiError, notFound } from "../api-error.ts";
import { hashToken } from "../auth.ts";
import type { BusEvent, EventBus } from "../bus.ts";
import { checkParameters } from "../parameters.ts";
import { guard } from "./guard.ts";
import type { RouteInfo } from "./table.ts";

/** The route plugins' shared context; built once per application by {@link apiContext}. */
export type ApiContext = ReturnType<typeof apiContext>;

/** The context of an application over `store` and `bus`. */
export function apiContext(options: {
  store: Store;
  bus: EventBus;
  onRunsChanged?: (() => void) | undefined;
}) {
  const { store, bus, onRunsChanged } = options;
  const authenticate = async (token: string) => store.findToken(hashToken(token));
  /** Fastify route options of a route of the table: method, url, token guard, OpenAPI summary. */
  const route = (r: RouteInfo, extra: { schema?: Record<string, unknown> } = {}) => ({
    method: r.method,
    url: r.path,
    preHandler: guard(r, authenticate),
    schema: { summary: r.summary, ...(r.scopes.length ? {} : { security: [] }), ...extra.schema },
  });

  const publish = (e: BusEvent) => bus.publish(e);
  const runEvent = (run: FlowRunRecord, from?: string) =>
    publish({
      type: "run.state",
      runId: run.id,
      data: { runId: run.id, from, to: run.state, state: run.state, run },
    });

  /** A run by id or unique id prefix. */
  const findRun = async (idOrPrefix: string) => {
    const exact = await store.getRun(idOrPrefix);
    if (exact) return exact;
    const ids = idOrPrefix.length >= 4 ? await store.findRunIds(idOrPrefix, 5) : [];
    if (ids.length === 0) throw notFound(`run ${idOrPrefix}`, "list runs with flotilla runs list");
    if (ids.length > 1) {
      throw new ApiError(
        409,
        ApiCode.Ambiguous,
        `run id prefix ${idOrPrefix} matches ${ids.length} runs: ${ids.join(", ")}`,
        "give more characters of the id",
      );
    }
    return (await store.getRun(ids[0]!))!;
  };
  /** A runner token may only touch its own run. */
  const mayTouch = (req: FastifyRequest, run: FlowRunRecord) => {
    if (req.token?.scope === "runner" && req.token.runId !== undefined && req.token.runId !== run.id) {
      throw new ApiError(
        403,
        ApiCode.Forbidden,
        `this runner token belongs to run ${req.token.runId}, not ${run.id}`,
      );
    }
  };
  const findDeployment = async (n: string) => {
    const d = await store.getDeployment(n);
    if (!d) throw notFound(`deployment ${n}`, "list deployments with flotilla deployments list");
    return d;
  };
  /** A new Scheduled run of a deployment (its parameters merged over the deployment's). */
  const startRun = async (deploymentName: string, parameters: Record<string, unknown>, retryOf?: string) => {
    const d = await findDeployment(deploymentName);
    const flow = await store.getFlow(d.flowId);
    const merged = { ...d.parameters, ...parameters };
    checkParameters(d.name, (flow?.parameterSchema ?? []) as Parameters<typeof checkParameters>[1], merged);
    const run = await store.createRun(
      {
        flowName: d.flowName,
        flowId: d.flowId,
        deploymentId: d.id,
        parameters: merged,
        pool: d.pool,
        ...(retryOf ? { retryOf } : {}),
      },
      Date.now(),
    );
    publish({ type: "run.created", runId: run.id, data: { runId: run.id, run } });
    runEvent(run);
    onRunsChanged?.();
    return run;
  };

  return {
    store,
    bus,
    onRunsChanged,
    authenticate,
    route,
    publish,
    runEvent,
    findRun,
    mayTouch,
    findDeployment,
    startRun,
  };
}
