// The API's agents: the list of agents heard from, and what an agent calls in its loop (heartbeat,
// claim the due runs of its pool under a lease, renew its leases).

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AgentRecord } from "../../store/store.ts";
import type { ApiContext } from "./context.ts";
import { runId } from "./schemas.ts";
import { ROUTES } from "./table.ts";

/** The agents resource: list, heartbeat, claim, renew. */
export async function agentRoutes(
  app: FastifyInstance,
  { store, route, runEvent, publish }: ApiContext,
): Promise<void> {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  // an agent heard from for the first time is news to the dashboard (and to whoever waits for it)
  const heard = (a: AgentRecord) => {
    if (a.createdAt === a.lastSeenAt) publish({ type: "agent", data: { agent: a } });
  };
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
      heard(a);
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
      heard(await store.heartbeatAgent({ id, pool: b.pool, name: b.name }, now));
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
}
