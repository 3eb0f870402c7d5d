// The API's schedules: listed with their next ticks, paused and resumed (resuming starts from
// now; the ticks missed while paused are not caught up).

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { notFound } from "../api-error.ts";
import type { ApiContext } from "./context.ts";
import { runId } from "./schemas.ts";
import { ROUTES } from "./table.ts";

/** The schedules resource: list, pause, resume. */
export async function scheduleRoutes(
  app: FastifyInstance,
  { store, route, publish }: ApiContext,
): Promise<void> {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.listSchedules),
    handler: async () => {
      const { nextTicks } = await import("../../scheduler/expand.ts");
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
}
