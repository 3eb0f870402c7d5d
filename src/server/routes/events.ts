// The API's server-sent-events stream at /api/events (the stream itself is sse.ts).

import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { streamEvents } from "../sse.ts";
import type { ApiContext } from "./context.ts";
import { ROUTES } from "./table.ts";

/** The event stream (every event, or one run's with ?run=). */
export async function eventRoutes(app: FastifyInstance, { store, bus, route }: ApiContext): Promise<void> {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
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
}
