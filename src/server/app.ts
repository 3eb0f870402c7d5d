// The HTTP API as a Fastify 5 application over a Store: zod-validated routes under /api, token
// auth with scopes, the OpenAPI document at /api/openapi.json, the SSE stream. No listening and
// no loops here (server.ts does that), so tests build it over any store.

import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import { z } from "zod";
import { isTerminal, RUN_STATES } from "../store/run-state.ts";
import type { FlowRunRecord, Store, TokenRecord, TokenScope } from "../store/store.ts";
import { ApiCode, ApiError, notFound } from "./api-error.ts";
import { createToken, hashToken, requestToken, TOKEN_SCOPES } from "./auth.ts";
import type { BusEvent, EventBus } from "./bus.ts";
import { checkParameters } from "./parameters.ts";
import { ROUTES, type RouteInfo, SESSION_COOKIE } from "./routes.ts";
import { streamEvents } from "./sse.ts";

/** What a dashboard hook gets to register its routes (static files, the session exchange). */
export interface DashboardContext {
  store: Store;
  /** The token's record when the token is valid. */
  authenticate(token: string): Promise<TokenRecord | undefined>;
  /** The cookie name the API reads a token from. */
  sessionCookie: string;
}

export interface AppOptions {
  store: Store;
  bus: EventBus;
  /** Registers the dashboard's routes. */
  dashboard?: (app: FastifyInstance, context: DashboardContext) => void | Promise<void>;
  /** Called when a run was cancelled or created, so an embedded agent can react at once. */
  onRunsChanged?: () => void;
}

declare module "fastify" {
  interface FastifyRequest {
    token?: TokenRecord;
  }
}

const runId = z.object({ id: z.string().min(1).max(100) });
const name = z.object({ name: z.string().min(1).max(200) });
const stateName = z.enum(RUN_STATES);
const json = z.record(z.string(), z.unknown());

/** Task runs a `task-runs` event carries at most; a bigger batch's event has only their count. */
const LIVE_TASK_RUNS_MAX = 5000;
const taskRunUpdate = z.object({
  slug: z.string().min(1),
  mapIndex: z.number().int().min(-1),
  attempt: z.number().int().min(0),
  state: z.string().min(1),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  worker: z.string().optional(),
  message: z.string().optional(),
  error: z.unknown().optional(),
});
const logLine = z.object({
  ts: z.number(),
  level: z.string(),
  message: z.string(),
  slug: z.string().optional(),
  mapIndex: z.number().int().optional(),
  worker: z.string().optional(),
});
const flowBody = z.object({
  name: z.string().min(1),
  fingerprint: z.string().min(1),
  image: z.string().optional(),
  module: z.string().optional(),
  dag: z.unknown(),
  parameterSchema: z.array(
    z.object({
      name: z.string(),
      required: z.boolean(),
      default: z.unknown().optional(),
      description: z.string().optional(),
    }),
  ),
});

function scheduleBody() {
  return z
    .object({
      cron: z.string().optional(),
      intervalMs: z.number().int().positive().optional(),
      timezone: z.string().default("UTC"),
      catchUp: z.enum(["skip", "once", "all"]).default("skip"),
    })
    .refine((s) => (s.cron === undefined) !== (s.intervalMs === undefined), {
      message: "give a cron expression or an interval, not both",
    });
}

/** Build the API application (not listening). */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { store, bus } = options;
  const app = Fastify({ logger: false, bodyLimit: 32 * 1024 * 1024 });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      info: {
        title: "Flotilla API",
        version: "1",
        description: "Run history, deployments, schedules and agents.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((error, _req, reply) => {
    if (error instanceof ApiError) return reply.status(error.status).send(error.body());
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const where = `${error.validationContext ?? "body"}${first?.instancePath ? first.instancePath.replaceAll("/", ".") : ""}`;
      return reply
        .status(400)
        .send(new ApiError(400, ApiCode.Invalid, `${where}: ${first?.message ?? "invalid"}`).body());
    }
    const e = error as { statusCode?: number; message?: string };
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      return reply
        .status(e.statusCode)
        .send(new ApiError(e.statusCode, ApiCode.Invalid, e.message ?? "bad request").body());
    }
    return reply
      .status(500)
      .send(new ApiError(500, ApiCode.Internal, `internal error: ${(error as Error).message}`).body());
  });

  const authenticate = async (token: string) => store.findToken(hashToken(token));
  const guard =
    (route: RouteInfo) =>
    async (req: FastifyRequest): Promise<void> => {
      if (route.scopes.length === 0) return;
      const token = requestToken(req.headers, SESSION_COOKIE);
      if (token === undefined) {
        throw new ApiError(
          401,
          ApiCode.Unauthorized,
          "this API needs a token",
          "send Authorization: Bearer <token> (flotilla tokens create, or the admin token in the Flotilla home)",
        );
      }
      const record = await authenticate(token);
      if (record === undefined)
        throw new ApiError(
          401,
          ApiCode.Unauthorized,
          "the token is not valid",
          "create one with flotilla tokens create",
        );
      if (!(route.scopes as readonly TokenScope[]).includes(record.scope)) {
        throw new ApiError(
          403,
          ApiCode.Forbidden,
          `a ${record.scope} token may not ${route.method} ${route.path}`,
          `use a token of scope ${route.scopes.join(" or ")}`,
        );
      }
      req.token = record;
    };

  const z$ = app.withTypeProvider<ZodTypeProvider>();
  const route = (r: RouteInfo, extra: { schema?: Record<string, unknown> } = {}) => ({
    method: r.method,
    url: r.path,
    preHandler: guard(r),
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
    options.onRunsChanged?.();
    return run;
  };

  z$.route({
    ...route(ROUTES.health),
    handler: async () => ({ ok: true, store: store.kind }),
  });
  app.get(ROUTES.openapi.path, { schema: { hide: true } }, async () => app.swagger());
  z$.route({
    ...route(ROUTES.whoami),
    handler: async (req) => req.token,
  });

  // ---- runs
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
  z$.route({
    ...route(ROUTES.taskRuns, { schema: { params: runId } }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      const [items, attempts] = await Promise.all([store.taskRuns(run.id), store.taskRunAttempts(run.id)]);
      return { items, attempts };
    },
  });
  z$.route({
    ...route(ROUTES.logs, {
      schema: {
        params: runId,
        querystring: z.object({
          contains: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(100_000).default(1000),
        }),
      },
    }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      const q = req.query as { contains?: string; limit: number };
      return {
        items: await store.logs(run.id, { limit: q.limit, ...(q.contains ? { contains: q.contains } : {}) }),
      };
    },
  });
  z$.route({
    ...route(ROUTES.cluster, { schema: { params: runId } }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      return { samples: await store.workerSamples(run.id), decisions: await store.scalingDecisions(run.id) };
    },
  });
  z$.route({
    ...route(ROUTES.runEvents, { schema: { params: runId } }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      return { items: await store.runEvents(run.id) };
    },
  });
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
      const r = await store.transitionRun(run.id, b.state, Date.now(), {
        ...(b.reason !== undefined ? { reason: b.reason } : {}),
        ...(b.infraRef !== undefined ? { infraRef: b.infraRef } : {}),
      });
      if (!r) throw notFound(`run ${run.id}`);
      if (!r.ok) throw new ApiError(409, ApiCode.Conflict, `run ${run.id}: ${b.state} refused: ${r.refused}`);
      if (r.changed) {
        runEvent(r.run, run.state);
        if (isTerminal(r.run.state)) options.onRunsChanged?.();
      }
      return r.run;
    },
  });
  z$.route({
    ...route(ROUTES.report, {
      schema: {
        params: runId,
        body: z.object({
          taskRuns: z.array(taskRunUpdate).max(100_000).optional(),
          logs: z.array(logLine).max(100_000).optional(),
          samples: z
            .array(z.object({ ts: z.number(), count: z.number().int(), pending: z.number().int() }))
            .optional(),
          decisions: z
            .array(
              z.object({
                ts: z.number(),
                count: z.number().int(),
                pending: z.number().int(),
                reason: z.string(),
              }),
            )
            .optional(),
        }),
      },
    }),
    handler: async (req, reply) => {
      const id = (req.params as { id: string }).id;
      const run = await store.getRun(id);
      if (!run) throw notFound(`run ${id}`);
      mayTouch(req, run);
      const b = req.body as Parameters<Store["report"]>[1];
      await store.report(run.id, b);
      if (b.taskRuns?.length) {
        // The changed task runs themselves, so a watching dashboard applies them without fetching
        // the run's every task run again; a batch too big for one event says only how many.
        publish({
          type: "task-runs",
          runId: run.id,
          data: {
            runId: run.id,
            count: b.taskRuns.length,
            ...(b.taskRuns.length <= LIVE_TASK_RUNS_MAX ? { taskRuns: b.taskRuns } : {}),
          },
        });
      }
      if (b.logs?.length)
        publish({
          type: "logs",
          runId: run.id,
          data: { runId: run.id, count: b.logs.length, lines: b.logs.slice(-50) },
        });
      const last = b.samples?.[b.samples.length - 1];
      if (last) publish({ type: "workers", runId: run.id, data: { runId: run.id, ...last } });
      for (const d of b.decisions ?? [])
        publish({ type: "scaling", runId: run.id, data: { runId: run.id, ...d } });
      return reply.status(204).send();
    },
  });
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
      options.onRunsChanged?.();
      return r.run;
    },
  });
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

  // ---- deployments and schedules
  z$.route({
    ...route(ROUTES.listDeployments),
    handler: async () => {
      const [deployments, schedules] = await Promise.all([store.listDeployments(), store.listSchedules()]);
      return {
        items: deployments.map((d) => ({
          ...d,
          schedules: schedules.filter((s) => s.deploymentId === d.id),
        })),
      };
    },
  });
  z$.route({
    ...route(ROUTES.putDeployment, {
      schema: {
        body: z.object({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, "letters, digits, . _ - (at most 100)"),
          flow: flowBody,
          parameters: json.default({}),
          pool: z.string().min(1).default("local"),
          concurrencyLimit: z.number().int().positive().optional(),
          schedule: scheduleBody().optional(),
        }),
      },
    }),
    handler: async (req, reply) => {
      const b = req.body as {
        name: string;
        flow: z.infer<typeof flowBody>;
        parameters: Record<string, unknown>;
        pool: string;
        concurrencyLimit?: number;
        schedule?: { cron?: string; intervalMs?: number; timezone: string; catchUp: "skip" | "once" | "all" };
      };
      if (b.schedule) (await import("../scheduler/expand.ts")).validateSchedule(b.schedule);
      checkParameters(b.name, b.flow.parameterSchema, b.parameters, { partial: true });
      const flow = await store.registerFlow(b.flow as Parameters<Store["registerFlow"]>[0]);
      const d = await store.putDeployment({
        name: b.name,
        flowId: flow.id,
        parameters: b.parameters,
        pool: b.pool,
        ...(b.concurrencyLimit !== undefined ? { concurrencyLimit: b.concurrencyLimit } : {}),
        ...(b.flow.image !== undefined ? { image: b.flow.image } : {}),
        ...(b.flow.module !== undefined ? { module: b.flow.module } : {}),
      });
      const schedule = await store.setSchedule(d.id, b.schedule, Date.now());
      publish({ type: "deployment", data: { deployment: d } });
      return reply.status(201).send({ ...d, schedules: schedule ? [schedule] : [] });
    },
  });
  z$.route({
    ...route(ROUTES.getDeployment, { schema: { params: name } }),
    handler: async (req) => {
      const d = await findDeployment((req.params as { name: string }).name);
      const flow = await store.getFlow(d.flowId);
      return {
        ...d,
        schedules: await store.listSchedules(d.id),
        ...(flow
          ? {
              parameterSchema: flow.parameterSchema,
              dag: flow.dag,
              fingerprint: flow.fingerprint,
              image: d.image ?? flow.image,
              module: d.module ?? flow.module,
            }
          : {}),
      };
    },
  });
  z$.route({
    ...route(ROUTES.deleteDeployment, { schema: { params: name } }),
    handler: async (req, reply) => {
      const d = await findDeployment((req.params as { name: string }).name);
      await store.deleteDeployment(d.id);
      publish({ type: "deployment", data: { deleted: d.name } });
      return reply.status(204).send();
    },
  });
  z$.route({
    ...route(ROUTES.startDeployment, {
      schema: { params: name, body: z.object({ parameters: json.default({}) }).default({ parameters: {} }) },
    }),
    handler: async (req, reply) => {
      const b = req.body as { parameters: Record<string, unknown> };
      return reply.status(201).send(await startRun((req.params as { name: string }).name, b.parameters));
    },
  });
  z$.route({
    ...route(ROUTES.listSchedules),
    handler: async () => {
      const { nextTicks } = await import("../scheduler/expand.ts");
      const now = Date.now();
      return {
        items: (await store.listSchedules()).map((s) => ({
          ...s,
          nextRuns: s.paused ? [] : nextTicks(s, now, 3),
        })),
      };
    },
  });
  for (const [r, paused] of [
    [ROUTES.pauseSchedule, true],
    [ROUTES.resumeSchedule, false],
  ] as const) {
    z$.route({
      ...route(r, { schema: { params: runId } }),
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const s = await store.getSchedule(id);
        if (!s) throw notFound(`schedule ${id}`, "list schedules with flotilla deployments get NAME");
        // Resuming starts from now: the ticks missed while paused are not caught up.
        if (!paused && s.paused) {
          const d = await store.getDeployment(s.deploymentId);
          if (d) await store.createScheduledRuns(s, d, [], Date.now());
        }
        const out = await store.setSchedulePaused(id, paused);
        publish({ type: "schedule", data: { schedule: out } });
        return out;
      },
    });
  }

  // ---- agents
  const agentBody = z.object({ pool: z.string().min(1), name: z.string().min(1).default("agent") });
  z$.route({
    ...route(ROUTES.listAgents),
    handler: async () => {
      const agents = await store.listAgents();
      return { items: agents };
    },
  });
  z$.route({
    ...route(ROUTES.heartbeat, { schema: { params: runId, body: agentBody } }),
    handler: async (req) => {
      const b = req.body as { pool: string; name: string };
      const a = await store.heartbeatAgent({ id: (req.params as { id: string }).id, ...b }, Date.now());
      return a;
    },
  });
  z$.route({
    ...route(ROUTES.claim, {
      schema: {
        params: runId,
        body: z.object({
          pool: z.string().min(1),
          name: z.string().default("agent"),
          limit: z.number().int().min(0).max(100).default(1),
          leaseMs: z.number().int().min(1000).max(3_600_000).default(30_000),
          poolLimit: z.number().int().positive().optional(),
        }),
      },
    }),
    handler: async (req) => {
      const id = (req.params as { id: string }).id;
      const b = req.body as {
        pool: string;
        name: string;
        limit: number;
        leaseMs: number;
        poolLimit?: number;
      };
      const now = Date.now();
      await store.heartbeatAgent({ id, pool: b.pool, name: b.name }, now);
      const runs =
        b.limit === 0 ? [] : await store.claimRuns(id, b.pool, b.limit, now, now + b.leaseMs, b.poolLimit);
      for (const r of runs) runEvent(r, "Scheduled");
      // the runs this agent holds that a user asked to cancel
      const cancelling = (await store.listRuns({ state: "Cancelling", limit: 500 })).items.filter(
        (r) => r.agentId === id,
      );
      return { runs, cancelling };
    },
  });
  z$.route({
    ...route(ROUTES.renew, {
      schema: {
        params: runId,
        body: z.object({
          runIds: z.array(z.string()).max(10_000),
          leaseMs: z.number().int().min(1000).max(3_600_000).default(30_000),
        }),
      },
    }),
    handler: async (req) => {
      const b = req.body as { runIds: string[]; leaseMs: number };
      const renewed = await store.renewLeases(
        (req.params as { id: string }).id,
        b.runIds,
        Date.now() + b.leaseMs,
      );
      return { renewed };
    },
  });

  // ---- tokens and retention
  z$.route({
    ...route(ROUTES.listTokens),
    handler: async () => ({ items: await store.listTokens() }),
  });
  z$.route({
    ...route(ROUTES.createToken, {
      schema: {
        body: z.object({
          name: z.string().min(1).max(200),
          scope: z.enum(TOKEN_SCOPES),
          runId: z.string().optional(),
        }),
      },
    }),
    handler: async (req, reply) => {
      const b = req.body as { name: string; scope: TokenScope; runId?: string };
      const { token, record } = await createToken(store, b.name, b.scope, b.runId);
      return reply.status(201).send({ ...record, token });
    },
  });
  z$.route({
    ...route(ROUTES.vacuum, {
      schema: {
        body: z.object({ olderThanMs: z.number().int().min(0), dryRun: z.boolean().default(false) }),
      },
    }),
    handler: async (req) => {
      const b = req.body as { olderThanMs: number; dryRun: boolean };
      return store.vacuum(Date.now() - b.olderThanMs, b.dryRun);
    },
  });

  // ---- the event stream
  z$.route({
    ...route(ROUTES.events, { schema: { querystring: z.object({ run: z.string().optional() }) } }),
    handler: async (req, reply) => {
      await streamEvents(req, reply as FastifyReply, {
        store,
        bus,
        run: (req.query as { run?: string }).run,
      });
    },
  });

  if (options.dashboard) {
    await options.dashboard(app, { store, authenticate, sessionCookie: SESSION_COOKIE });
  }
  await app.ready();
  return app;
}
