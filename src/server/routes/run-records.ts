// What a run recorded, written by its runner's reporter in batches (task runs, log lines, worker
// samples, scaling decisions) and read by the dashboard and the CLI: the run's task runs, logs,
// cluster figures and state transitions. Each batch is also published on the event bus for the
// live dashboard.

import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { hasSecrets, scrub } from "../../secrets/redact.ts";
import type { Store } from "../../store/store.ts";
import { notFound } from "../api-error.ts";
import { LOG_FORMATS, type LogDownloadQuery, logDownload, logFileName } from "../log-download.ts";
import type { ApiContext } from "./context.ts";
import { runId } from "./schemas.ts";
import { ROUTES } from "./table.ts";

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
  source: z.string().max(40).optional(),
  object: z.string().max(300).optional(),
  reason: z.string().max(200).optional(),
});

/** A task run as the task-runs answer lists it (documentation: the answer is the store's JSON text). */
const taskRunRecord = taskRunUpdate.extend({ runId: z.string() });
const taskBrief = z.object({
  slug: z.string(),
  counts: z.record(z.string(), z.number()).describe("its children by state"),
  total: z.number().describe("how many children it has"),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  states: z
    .string()
    .describe(
      "child i's state is codes[k] where k is the place of character i in 0-9a-zA-Z; '-': no child i",
    ),
});
const taskRunsAnswer = z.object({
  items: z
    .array(taskRunRecord)
    .describe(
      "the run's task runs, by slug and map index; with ?view=summary every task run of an unmapped task or a mapped task's parent, then the children neither Pending nor Success (at most ?limit); with ?slug= that task's",
    ),
  attempts: z.array(taskRunRecord).describe("earlier attempts of retried task runs, oldest first"),
  tasks: z.array(taskBrief).optional().describe("?view=summary: each mapped task's children in brief"),
  codes: z.array(z.string()).optional().describe("?view=summary: the states `states` writes"),
  more: z
    .number()
    .optional()
    .describe("?view=summary: children neither Pending nor Success left out of items"),
  next: z
    .number()
    .optional()
    .describe("?slug= with a page: pass it as ?after= for the next page (absent on the last)"),
});

/** GET /api/runs/:id/task-runs: every task run, the run's task runs in brief, or one task's. */
function taskRunsRoute(
  app: FastifyInstance,
  { store, route, findRun }: Pick<ApiContext, "store" | "route" | "findRun">,
): void {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  z$.route({
    ...route(ROUTES.taskRuns, {
      schema: {
        params: runId,
        querystring: z.object({
          view: z.enum(["all", "summary"]).default("all"),
          slug: z.string().min(1).optional(),
          limit: z.coerce
            .number()
            .int()
            .min(0)
            .max(100_000)
            .optional()
            .describe("?view=summary: children listed at most (2000); with ?slug=: a page of its children"),
          after: z.coerce
            .number()
            .int()
            .min(-1)
            .optional()
            .describe("with ?slug=: the children after this map index (the `next` of the page before)"),
          states: z
            .string()
            .regex(/^!?[A-Za-z]+(,[A-Za-z]+)*$/, "state names joined by commas, `!` first for none of them")
            .optional()
            .describe("with ?slug= and a page: only children in these states (!A,B: in neither)"),
        }),
        response: { 200: taskRunsAnswer },
      },
    }),
    handler: async (req, reply) => {
      const run = await findRun((req.params as { id: string }).id);
      const q = req.query as {
        view: "all" | "summary";
        slug?: string;
        limit?: number;
        after?: number;
        states?: string;
      };
      // the dashboard's first paint (?view=summary) and a task it opens (?slug=, a page of its
      // children at a time with ?limit or ?after): small answers, sent as JSON text (the response
      // schema documents them, it is not applied)
      if (q.slug !== undefined || q.view === "summary") {
        const paged = q.limit !== undefined || q.after !== undefined || q.states !== undefined;
        const exclude = q.states?.startsWith("!") ?? false;
        const states = q.states?.replace(/^!/, "").split(",");
        const answer =
          q.slug === undefined
            ? await store.taskRunSummary(run.id, q.limit ?? 2000)
            : await store.taskRunsOfTask(
                run.id,
                q.slug,
                paged
                  ? {
                      limit: q.limit ?? 500,
                      ...(q.after !== undefined ? { after: q.after } : {}),
                      ...(states ? { states, exclude } : {}),
                    }
                  : undefined,
              );
        return reply.type("application/json; charset=utf-8").send(JSON.stringify(answer));
      }
      // { items, attempts } as the database wrote their JSON: sent as it is, never parsed here
      const { items, attempts } = await store.taskRunsJson(run.id);
      return reply.type("application/json; charset=utf-8").send(`{"items":${items},"attempts":${attempts}}`);
    },
  });
}

/**
 * The batch with the secrets this server knows (its admin token) scrubbed from its log lines: the
 * runner scrubbed its own secrets already, and what is kept is what every answer shows.
 */
function scrubbedReport(b: Parameters<Store["report"]>[1]): Parameters<Store["report"]>[1] {
  if (!b.logs?.length || !hasSecrets()) return b;
  return { ...b, logs: b.logs.map((l) => ({ ...l, message: scrub(l.message) })) };
}

/** GET /api/runs/:id/logs/download: the run's (or a task's) log lines as a file, streamed. */
function logDownloadRoute(
  app: FastifyInstance,
  { store, route, findRun }: Pick<ApiContext, "store" | "route" | "findRun">,
): void {
  app.withTypeProvider<ZodTypeProvider>().route({
    ...route(ROUTES.logsDownload, {
      schema: {
        params: runId,
        querystring: z.object({
          format: z.enum(LOG_FORMATS).default("text"),
          task: z.string().min(1).optional(),
          index: z.coerce.number().int().min(0).optional(),
        }),
      },
    }),
    handler: async (req, reply) => {
      const run = await findRun((req.params as { id: string }).id);
      const q = req.query as LogDownloadQuery;
      const name = logFileName(run.flowName, run.id, q);
      return reply
        .type(q.format === "ndjson" ? "application/x-ndjson; charset=utf-8" : "text/plain; charset=utf-8")
        .header("content-disposition", `attachment; filename="${name}"`)
        .header("cache-control", "no-store")
        .send(Readable.from(logDownload(store, run.id, q)));
    },
  });
}

/** A run's records: task runs, logs, cluster figures, state transitions, and the reporter's batch. */
export async function runRecordRoutes(
  app: FastifyInstance,
  { store, route, publish, findRun, mayTouch }: ApiContext,
): Promise<void> {
  const z$ = app.withTypeProvider<ZodTypeProvider>();
  taskRunsRoute(app, { store, route, findRun });
  z$.route({
    ...route(ROUTES.logs, {
      schema: {
        params: runId,
        querystring: z.object({
          contains: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(100_000).default(1000),
          after: z
            .string()
            .regex(/^\d{1,15}\.\d{1,9}$/, "a cursor: the `next` of an earlier logs answer")
            .optional(),
        }),
      },
    }),
    handler: async (req) => {
      const run = await findRun((req.params as { id: string }).id);
      const q = req.query as { contains?: string; limit: number; after?: string };
      // { items, next }: pass next as ?after= for the lines that come after these
      return store.logPage(run.id, {
        limit: q.limit,
        ...(q.contains ? { contains: q.contains } : {}),
        ...(q.after !== undefined ? { after: q.after } : {}),
      });
    },
  });
  logDownloadRoute(app, { store, route, findRun });
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
      const b = scrubbedReport(req.body as Parameters<Store["report"]>[1]);
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
}
