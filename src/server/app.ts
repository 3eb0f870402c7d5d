// The HTTP API as a Fastify 5 application over a Store: the composition of zod-validated route
// plugins under /api (one per resource, in routes/), token auth with scopes, the error answers,
// the OpenAPI document at /api/openapi.json. No listening and no loops here (server.ts does
// that), so tests build it over any store.

import swagger from "@fastify/swagger";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Store, TokenRecord } from "../store/store.ts";
import { ApiCode, ApiError } from "./api-error.ts";
import type { EventBus } from "./bus.ts";
import { agentRoutes } from "./routes/agents.ts";
import { apiContext } from "./routes/context.ts";
import { dbRoutes } from "./routes/db.ts";
import { deploymentRoutes } from "./routes/deployments.ts";
import { eventRoutes } from "./routes/events.ts";
import { runRecordRoutes } from "./routes/run-records.ts";
import { runRoutes } from "./routes/runs.ts";
import { scheduleRoutes } from "./routes/schedules.ts";
import { ROUTES, SESSION_COOKIE } from "./routes/table.ts";
import { tokenRoutes } from "./routes/tokens.ts";

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

/** Build the API application (not listening). */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
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
  app.setErrorHandler(sendError);

  const ctx = apiContext(options);
  app.withTypeProvider<ZodTypeProvider>().route({
    ...ctx.route(ROUTES.health),
    handler: async () => ({ ok: true, store: ctx.store.kind }),
  });
  app.get(ROUTES.openapi.path, { schema: { hide: true } }, async () => app.swagger());
  // One plugin per resource, each in its own encapsulated context (the error handler, the
  // compilers and the hooks are inherited); the OpenAPI document lists their routes in this order.
  await app.register(tokenRoutes, ctx);
  await app.register(runRoutes, ctx);
  await app.register(runRecordRoutes, ctx);
  await app.register(deploymentRoutes, ctx);
  await app.register(scheduleRoutes, ctx);
  await app.register(agentRoutes, ctx);
  await app.register(dbRoutes, ctx);
  await app.register(eventRoutes, ctx);

  if (options.dashboard) {
    await options.dashboard(app, {
      store: ctx.store,
      authenticate: ctx.authenticate,
      sessionCookie: SESSION_COOKIE,
    });
  }
  await app.ready();
  return app;
}

/** The API's error answer: an ApiError as it is, a validation error naming the field, a 4xx. */
function sendError(error: FastifyError, _req: unknown, reply: FastifyReply) {
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
}
