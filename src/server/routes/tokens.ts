// The API's tokens: who the calling token is, the list of tokens (never their values), and a new
// token whose value is shown once.

import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { TokenScope } from "../../store/store.ts";
import { createToken, TOKEN_SCOPES } from "../auth.ts";
import type { ApiContext } from "./context.ts";
import { ROUTES } from "./table.ts";

/** The tokens resource: whoami, list, create. */
export async function tokenRoutes(app: FastifyInstance, { store, route }: ApiContext): Promise<void> {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.whoami),
    handler: async (req) => req.token,
  });
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
}
