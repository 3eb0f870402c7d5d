// The API's runs: the list the dashboard and `flotilla runs list` page through, a run reported by
// `flotilla run --server` or started from a deployment, one run by id or unique prefix, its state
// moved forward by its runner or agent, its own token minted for the runner an agent launches,
// cancelled or retried by a user. What a run recorded (task
// runs, logs, worker samples) is in run-records.ts.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { isTerminal, type RUN_STATES } from "../../store/run-state.ts";
import type { Store } from "../../store/store.ts";
import { ApiCode, ApiError, notFound } from "../api-error.ts";
import type { ApiContext } from "./context.ts";
import { mintRunToken } from "./run-token.ts";
import { flowBody, json, runId, stateName } from "./schemas.ts";
import { ROUTES } from "./table.ts";

/** The runs resource: list, create, get, move forward, cancel, retry. */
export async function runRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  listRuns(app, ctx);
  createRun(app, ctx);
  getRun(app, ctx);
  setState(app, ctx);
  runTokenRoute(app, ctx);
  cancel(app, ctx);
  retry(app, ctx);
}

/** GET /api/runs: a page of runs with each run's task counts and workers peak. */
function listRuns(app: FastifyInstance, { store, route, findDeployment }: ApiContext): void {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.listRuns, {
      schema: {
        querystring: z.object({
          state: stateName.optional(),
          deployment: z.string().optional(),
          flow: z.string().optional(),
          since: z.coerce.number().int().min(0).optional(),
          until: z.coerce.number().int().min(0).optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
          cursor: z.string().optional(),
        }),
      },
    }),
    handler: async (req) => {
      const q = req.query as {
        state?: (typeof RUN_STATES)[number];
        deployment?: string;
        flow?: string;
        since?: number;
        until?: number;
        limit: number;
        cursor?: string;
      };
      let deploymentId: string | undefined;
      if (q.deployment !== undefined) deploymentId = (await findDeployment(q.deployment)).id;
      const page = await store.listRuns({
        limit: q.limit,
        ...(q.state ? { state: q.state } : {}),
        ...(deploymentId ? { deploymentId } : {}),
        ...(q.flow ? { flowName: q.flow } : {}),
        ...(q.since !== undefined ? { since: q.since } : {}),
        ...(q.until !== undefined ? { until: q.until } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      });
      // each row's task counts (done/total) and workers peak, for this page only
      const figures = await store.runListFigures(page.items.map((r) => r.id));
      return {
        ...page,
        items: page.items.map((r) => {
          const f = figures.get(r.id);
          return { ...r, taskCounts: {}, tasksTotal: 0, tasksDone: 0, ...f };
        }),
      };
    },
  });
}

/** POST /api/runs: record a run started elsewhere, or start a deployment's run. */
function createRun(app: FastifyInstance, { store, route, publish, runEvent, startRun }: ApiContext): void {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.createRun, {
      schema: {
        body: z.object({
          id: z.uuid().optional(),
          deployment: z.string().optional(),
          flowName: z.string().min(1).optional(),
          flow: flowBody.optional(),
          parameters: json.default({}),
          state: z.enum(["Scheduled", "Running"]).default("Scheduled"),
        }),
      },
    }),
    handler: async (req, reply) => {
      const b = req.body as {
        id?: string;
        deployment?: string;
        flowName?: string;
        flow?: z.infer<typeof flowBody>;
        parameters: Record<string, unknown>;
        state: "Scheduled" | "Running";
      };
      if (b.deployment !== undefined) {
        if (req.token?.scope === "runner")
          throw new ApiError(403, ApiCode.Forbidden, "a runner token may not start deployments");
        return reply.status(201).send(await startRun(b.deployment, b.parameters));
      }
      const flowName = b.flow?.name ?? b.flowName;
      if (flowName === undefined)
        throw new ApiError(400, ApiCode.Invalid, "body: give deployment, or flow (or flowName)");
      if (b.id !== undefined && (await store.getRun(b.id))) {
        throw new ApiError(409, ApiCode.Conflict, `run ${b.id} exists already`);
      }
      const flow = b.flow
        ? await store.registerFlow(b.flow as Parameters<Store["registerFlow"]>[0])
        : undefined;
      const run = await store.createRun(
        {
          flowName,
          parameters: b.parameters,
          state: b.state,
          ...(b.id ? { id: b.id } : {}),
          ...(flow ? { flowId: flow.id } : {}),
        },
        Date.now(),
      );
      publish({ type: "run.created", runId: run.id, data: { runId: run.id, run } });
      runEvent(run);
      return reply.status(201).send(run);
    },
  });
}

/** GET /api/runs/:id: one run with its deployment's name and its flow's graph. */
function getRun(app: FastifyInstance, { store, route, findRun }: ApiContext): void {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.getRun, { schema: { params: runId } }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      const deployment = run.deploymentId ? await store.getDeployment(run.deploymentId) : undefined;
      const flow = run.flowId ? await store.getFlow(run.flowId) : undefined;
      const tasksTotal = Object.values(run.taskCounts).reduce((a, b) => a + b, 0);
      return {
        ...run,
        tasksTotal,
        ...(deployment ? { deploymentName: deployment.name } : {}),
        ...(flow ? { dag: flow.dag, fingerprint: flow.fingerprint } : {}),
      };
    },
  });
}

/** POST /api/runs/:id/state: move the run forward; 409 when the transition goes back. */
function setState(
  app: FastifyInstance,
  { store, onRunsChanged, route, runEvent, findRun, mayTouch }: ApiContext,
): void {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.setState, {
      schema: {
        params: runId,
        body: z.object({
          state: stateName,
          reason: z.string().max(10_000).optional(),
          infraRef: z.string().optional(),
        }),
      },
    }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      mayTouch(req, run);
      const b = req.body as { state: (typeof RUN_STATES)[number]; reason?: string; infraRef?: string };
      if (b.state === "Crashed" && !b.reason?.trim())
        throw new ApiError(
          400,
          ApiCode.Invalid,
          `run ${run.id}: Crashed needs a reason`,
          "give the Kubernetes or OS reason the run crashed as reason (e.g. OOMKilled, the pod's last events)",
        );
      const r = await store.transitionRun(run.id, b.state, Date.now(), {
        ...(b.reason !== undefined ? { reason: b.reason } : {}),
        ...(b.infraRef !== undefined ? { infraRef: b.infraRef } : {}),
      });
      if (!r) throw notFound(`run ${run.id}`);
      if (!r.ok) throw new ApiError(409, ApiCode.Conflict, `run ${run.id}: ${b.state} refused: ${r.refused}`);
      if (r.changed) {
        runEvent(r.run, run.state);
        if (isTerminal(r.run.state)) onRunsChanged?.();
      }
      return r.run;
    },
  });
}

/** POST /api/runs/:id/cancel. */
function cancel(app: FastifyInstance, { store, onRunsChanged, route, runEvent, findRun }: ApiContext): void {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.cancel, { schema: { params: runId } }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      if (isTerminal(run.state))
        throw new ApiError(409, ApiCode.Conflict, `run ${run.id} is already ${run.state}`);
      // A run no agent holds has no infrastructure: it is Cancelled at once. Otherwise its agent
      // removes what it created, then records Cancelled.
      const to = run.state === "Scheduled" ? "Cancelled" : "Cancelling";
      const r = await store.transitionRun(run.id, to, Date.now(), { reason: "cancelled by a user" });
      if (!r?.ok)
        throw new ApiError(409, ApiCode.Conflict, `run ${run.id}: ${r && !r.ok ? r.refused : "gone"}`);
      if (r.changed) runEvent(r.run, run.state);
      onRunsChanged?.();
      return r.run;
    },
  });
}

/** POST /api/runs/:id/retry: a new run of the same deployment. */
function retry(app: FastifyInstance, { store, route, findRun, startRun }: ApiContext): void {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.retry, { schema: { params: runId } }),
    handler: async (req, reply) => {
      const run = await findRun((req.params as { id: string }).id);
      if (run.deploymentId === undefined) {
        throw new ApiError(
          409,
          ApiCode.Conflict,
          `run ${run.id} was not started from a deployment, so no agent can start it again`,
          "run the flow again with flotilla run, or deploy it with flotilla deploy",
        );
      }
      const d = await store.getDeployment(run.deploymentId);
      if (!d) throw notFound(`deployment of run ${run.id}`);
      return reply.status(201).send(await startRun(d.name, run.parameters, run.id));
    },
  });
}

/** POST /api/runs/:id/token: the run's own token, for the runner an agent launches. */
function runTokenRoute(app: FastifyInstance, { store, route, findRun }: ApiContext): void {
  app.withTypeProvider<ZodTypeProvider>().route({
    ...route(ROUTES.runToken, { schema: { params: runId } }),
    handler: async (req, reply) => {
      const run = await findRun((req.params as { id: string }).id);
      if (isTerminal(run.state))
        throw new ApiError(
          409,
          ApiCode.Conflict,
          `run ${run.id} is already ${run.state}: it reports no more`,
        );
      const { token, record } = await mintRunToken(store, run.id);
      return reply.status(201).send({ ...record, token });
    },
  });
}
