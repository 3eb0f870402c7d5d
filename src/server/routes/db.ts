// The API's database upkeep: deleting the finished runs older than a cutoff (`flotilla db vacuum`).

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { ApiContext } from "./context.ts";
import { ROUTES } from "./table.ts";

/** The database upkeep: vacuum. */
export async function dbRoutes(app: FastifyInstance, { store, route }: ApiContext): Promise<void> {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
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
}
