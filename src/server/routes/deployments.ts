// The API's deployments: a flow version registered with its parameters, pool and schedule
// (`flotilla deploy`), listed, read, deleted, and started as a run.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Store } from "../../store/store.ts";
import { checkParameters } from "../parameters.ts";
import type { ApiContext } from "./context.ts";
import { flowBody, json, name } from "./schemas.ts";
import { ROUTES } from "./table.ts";

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

/** The deployments resource: list, create or replace, get, delete, start a run. */
export async function deploymentRoutes(
  app: FastifyInstance,
  { store, route, publish, findDeployment, startRun }: ApiContext,
): Promise<void> {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
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
      if (b.schedule) (await import("../../scheduler/expand.ts")).validateSchedule(b.schedule);
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
}
