// The Store port over a SqlDriver: every query of both adapters, written once in the SQL that
// SQLite and PostgreSQL share (ON CONFLICT, RETURNING-free, ms timestamps as BIGINT, JSON as
// TEXT). Where the dialects must differ (claim locking) the driver's dialect decides.

import { randomUUID } from "node:crypto";
import type { SqlDriver, SqlExec, SqlValue } from "./driver.ts";
import { formatLogCursor, parseLogCursor } from "./log-cursor.ts";
import { MIGRATIONS, migrationSql, statements } from "./migrations.ts";
import {
  LIVE_STATES,
  type RunStateName,
  refuseTransition,
  settledState,
  TERMINAL_STATES,
} from "./run-state.ts";
import type {
  AgentRecord,
  DeploymentRecord,
  FlowRecord,
  FlowRunDetail,
  FlowRunRecord,
  ListRunsQuery,
  LogLine,
  LogPage,
  LogQuery,
  NewRun,
  Page,
  RunEventRecord,
  RunListFigures,
  RunReport,
  ScalingDecision,
  ScheduleRecord,
  Store,
  TaskRunPage,
  TaskRunPageQuery,
  TaskRunRecord,
  TaskRunSummary,
  TaskRunUpdate,
  TokenRecord,
  TokenScope,
  TransitionResult,
  VacuumReport,
  WorkerSample,
} from "./store.ts";
import { taskRunJsonPrefix, taskRunJsonSql } from "./task-run-json.ts";
import { STATE_DIGITS, statesWithGaps, type TaskBrief } from "./task-run-summary.ts";

type Row = Record<string, unknown>;

/** Task states a later report never overwrites. */
const TERMINAL_TASK = new Set(["Success", "Failed", "Skipped", "TriggerFailed", "TimedOut", "Mapped"]);
const LIVE_SQL = LIVE_STATES.map((s) => `'${s}'`).join(", ");
const TERMINAL_SQL = TERMINAL_STATES.map((s) => `'${s}'`).join(", ");

const opt = <T>(v: unknown): T | undefined => (v === null || v === undefined ? undefined : (v as T));
const num = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const json = (v: unknown): unknown => (typeof v === "string" ? JSON.parse(v) : v);
const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

function flowOf(r: Row): FlowRecord {
  return defined({
    id: String(r.id),
    name: String(r.name),
    fingerprint: String(r.fingerprint),
    image: opt<string>(r.image),
    module: opt<string>(r.module),
    dag: json(r.dag),
    parameterSchema: json(r.parameter_schema),
    createdAt: Number(r.created_at),
  });
}

function deploymentOf(r: Row): DeploymentRecord {
  return defined({
    id: String(r.id),
    name: String(r.name),
    flowId: String(r.flow_id),
    flowName: String(r.flow_name),
    parameters: json(r.parameters) as Record<string, unknown>,
    pool: String(r.pool),
    concurrencyLimit: num(r.concurrency_limit),
    image: r.image === null || r.image === undefined ? undefined : String(r.image),
    module: r.module === null || r.module === undefined ? undefined : String(r.module),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  });
}

function scheduleOf(r: Row): ScheduleRecord {
  return defined({
    id: String(r.id),
    deploymentId: String(r.deployment_id),
    cron: opt<string>(r.cron),
    intervalMs: num(r.interval_ms),
    timezone: String(r.timezone),
    catchUp: String(r.catch_up) as ScheduleRecord["catchUp"],
    paused: Number(r.paused) === 1,
    lastTickAt: num(r.last_tick_at),
    createdAt: Number(r.created_at),
  });
}

function runOf(r: Row): FlowRunRecord {
  return defined({
    id: String(r.id),
    flowName: String(r.flow_name),
    flowId: opt<string>(r.flow_id),
    deploymentId: opt<string>(r.deployment_id),
    scheduleId: opt<string>(r.schedule_id),
    scheduledAt: Number(r.scheduled_at),
    state: String(r.state) as RunStateName,
    reason: opt<string>(r.reason),
    parameters: json(r.parameters) as Record<string, unknown>,
    pool: opt<string>(r.pool),
    agentId: opt<string>(r.agent_id),
    leaseUntil: num(r.lease_until),
    infraRef: opt<string>(r.infra_ref),
    retryOf: opt<string>(r.retry_of),
    createdAt: Number(r.created_at),
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
    updatedAt: Number(r.updated_at),
  });
}

function eventOf(r: Row): RunEventRecord {
  return defined({
    id: Number(r.id),
    runId: String(r.run_id),
    ts: Number(r.ts),
    type: "state" as const,
    from: opt<RunStateName>(r.from_state),
    to: String(r.to_state) as RunStateName,
    message: opt<string>(r.message),
  });
}

function taskRunOf(r: Row): TaskRunRecord {
  // built field by field, not through `defined`: a run's 10,000 task runs are read in one call
  const t: TaskRunRecord = {
    runId: String(r.run_id),
    slug: String(r.slug),
    mapIndex: Number(r.map_index),
    attempt: Number(r.attempt),
    state: String(r.state),
  };
  if (r.started_at !== null && r.started_at !== undefined) t.startedAt = Number(r.started_at);
  if (r.ended_at !== null && r.ended_at !== undefined) t.endedAt = Number(r.ended_at);
  if (r.worker !== null && r.worker !== undefined) t.worker = r.worker as string;
  if (r.message !== null && r.message !== undefined) t.message = r.message as string;
  if (r.error !== null && r.error !== undefined) t.error = json(r.error) as TaskRunRecord["error"];
  return t;
}

function tokenOf(r: Row): TokenRecord {
  return defined({
    id: String(r.id),
    name: String(r.name),
    scope: String(r.scope) as TokenScope,
    runId: opt<string>(r.run_id),
    createdAt: Number(r.created_at),
  });
}

function agentOf(r: Row): AgentRecord {
  return {
    id: String(r.id),
    pool: String(r.pool),
    name: String(r.name),
    lastSeenAt: Number(r.last_seen_at),
    createdAt: Number(r.created_at),
  };
}

const RUN_COLUMNS =
  "id, flow_name, flow_id, deployment_id, schedule_id, scheduled_at, state, reason, parameters, pool, agent_id, lease_until, infra_ref, retry_of, created_at, started_at, ended_at, updated_at";
const DEPLOYMENT_SELECT =
  "SELECT d.id, d.name, d.flow_id, f.name AS flow_name, d.parameters, d.pool, d.concurrency_limit, d.image, d.module, d.created_at, d.updated_at FROM deployments d JOIN flows f ON f.id = d.flow_id";

function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(`${createdAt}:${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: number; id: string } | undefined {
  const text = Buffer.from(cursor, "base64url").toString();
  const i = text.indexOf(":");
  const createdAt = Number(text.slice(0, i));
  if (i <= 0 || !Number.isFinite(createdAt)) return undefined;
  return { createdAt, id: text.slice(i + 1) };
}

/** Keep, per task run, the update the store would keep (a final state is never overwritten). */
function dedupe(updates: readonly TaskRunUpdate[]): TaskRunUpdate[] {
  const byKey = new Map<string, TaskRunUpdate>();
  for (const u of updates) {
    const key = `${u.slug}\u0000${u.mapIndex}`;
    const prev = byKey.get(key);
    if (prev === undefined || !TERMINAL_TASK.has(prev.state) || TERMINAL_TASK.has(u.state)) {
      byKey.set(
        key,
        prev && u.startedAt === undefined && prev.startedAt !== undefined
          ? { ...u, startedAt: prev.startedAt }
          : u,
      );
    }
  }
  return [...byKey.values()];
}

const TASK_ROWS_PER_STATEMENT = 200;
/**
 * The first key of the transaction-scoped advisory lock a PostgreSQL writer holds on a run's logs
 * from its log chunk's insert to its commit (the second key: the run id's hash).
 */
const LOG_LOCK_CLASS = 4242;

export class SqlStore implements Store {
  readonly kind: "sqlite" | "postgres";
  readonly #db: SqlDriver;

  private constructor(db: SqlDriver) {
    this.#db = db;
    this.kind = db.dialect;
  }

  /** Open a store over a driver, applying pending migrations. */
  static async open(db: SqlDriver): Promise<SqlStore> {
    const store = new SqlStore(db);
    try {
      await store.#migrate();
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
    return store;
  }

  async #migrate(): Promise<void> {
    await this.#db.run(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    );
    await this.#db.transaction(async (tx) => {
      if (this.#db.dialect === "postgres") await tx.all("SELECT pg_advisory_xact_lock(424242)");
      const done = new Set(
        (await tx.all<Row>("SELECT version FROM schema_migrations")).map((r) => Number(r.version)),
      );
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        for (const s of statements(migrationSql(m, this.#db.dialect))) await tx.run(s);
        await tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [
          m.version,
          m.name,
          Date.now(),
        ]);
      }
    });
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  // ---- flows and deployments

  async registerFlow(f: Omit<FlowRecord, "id" | "createdAt">): Promise<FlowRecord> {
    const id = randomUUID();
    await this.#db.run(
      "INSERT INTO flows (id, name, fingerprint, image, module, dag, parameter_schema, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, fingerprint) DO UPDATE SET image = excluded.image, module = excluded.module",
      [
        id,
        f.name,
        f.fingerprint,
        f.image ?? null,
        f.module ?? null,
        JSON.stringify(f.dag),
        JSON.stringify(f.parameterSchema),
        Date.now(),
      ],
    );
    const rows = await this.#db.all<Row>("SELECT * FROM flows WHERE name = ? AND fingerprint = ?", [
      f.name,
      f.fingerprint,
    ]);
    return flowOf(rows[0]!);
  }

  async getFlow(id: string): Promise<FlowRecord | undefined> {
    const rows = await this.#db.all<Row>("SELECT * FROM flows WHERE id = ?", [id]);
    return rows[0] ? flowOf(rows[0]) : undefined;
  }

  async putDeployment(d: {
    name: string;
    flowId: string;
    parameters: Record<string, unknown>;
    pool: string;
    concurrencyLimit?: number;
    image?: string;
    module?: string;
  }): Promise<DeploymentRecord> {
    const now = Date.now();
    await this.#db.run(
      "INSERT INTO deployments (id, name, flow_id, parameters, pool, concurrency_limit, image, module, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET flow_id = excluded.flow_id, parameters = excluded.parameters, pool = excluded.pool, concurrency_limit = excluded.concurrency_limit, image = excluded.image, module = excluded.module, updated_at = excluded.updated_at",
      [
        randomUUID(),
        d.name,
        d.flowId,
        JSON.stringify(d.parameters),
        d.pool,
        d.concurrencyLimit ?? null,
        d.image ?? null,
        d.module ?? null,
        now,
        now,
      ],
    );
    return (await this.getDeployment(d.name))!;
  }

  async getDeployment(nameOrId: string): Promise<DeploymentRecord | undefined> {
    const rows = await this.#db.all<Row>(`${DEPLOYMENT_SELECT} WHERE d.name = ? OR d.id = ?`, [
      nameOrId,
      nameOrId,
    ]);
    return rows[0] ? deploymentOf(rows[0]) : undefined;
  }

  async listDeployments(): Promise<DeploymentRecord[]> {
    return (await this.#db.all<Row>(`${DEPLOYMENT_SELECT} ORDER BY d.name`)).map(deploymentOf);
  }

  async deleteDeployment(id: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      await tx.run("DELETE FROM schedules WHERE deployment_id = ?", [id]);
      return (await tx.run("DELETE FROM deployments WHERE id = ?", [id])) > 0;
    });
  }

  // ---- schedules

  async setSchedule(
    deploymentId: string,
    s: Omit<ScheduleRecord, "id" | "deploymentId" | "createdAt" | "paused" | "lastTickAt"> | undefined,
    now: number,
  ): Promise<ScheduleRecord | undefined> {
    const id = randomUUID();
    await this.#db.transaction(async (tx) => {
      await tx.run("DELETE FROM schedules WHERE deployment_id = ?", [deploymentId]);
      if (s === undefined) return;
      await tx.run(
        "INSERT INTO schedules (id, deployment_id, cron, interval_ms, timezone, catch_up, paused, last_tick_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
        [id, deploymentId, s.cron ?? null, s.intervalMs ?? null, s.timezone, s.catchUp, now, now],
      );
    });
    return s === undefined ? undefined : this.getSchedule(id);
  }

  async listSchedules(deploymentId?: string): Promise<ScheduleRecord[]> {
    const rows =
      deploymentId === undefined
        ? await this.#db.all<Row>("SELECT * FROM schedules ORDER BY created_at")
        : await this.#db.all<Row>("SELECT * FROM schedules WHERE deployment_id = ? ORDER BY created_at", [
            deploymentId,
          ]);
    return rows.map(scheduleOf);
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const rows = await this.#db.all<Row>("SELECT * FROM schedules WHERE id = ?", [id]);
    return rows[0] ? scheduleOf(rows[0]) : undefined;
  }

  async setSchedulePaused(id: string, paused: boolean): Promise<ScheduleRecord | undefined> {
    await this.#db.run("UPDATE schedules SET paused = ? WHERE id = ?", [paused ? 1 : 0, id]);
    return this.getSchedule(id);
  }

  async createScheduledRuns(
    schedule: ScheduleRecord,
    deployment: DeploymentRecord,
    ticks: readonly number[],
    lastTickAt: number,
  ): Promise<FlowRunRecord[]> {
    const created: string[] = [];
    await this.#db.transaction(async (tx) => {
      const now = Date.now();
      for (const t of ticks) {
        const id = randomUUID();
        const n = await tx.run(
          `INSERT INTO flow_runs (${RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 'Scheduled', NULL, ?, ?, NULL, NULL, NULL, NULL, ?, NULL, NULL, ?) ON CONFLICT (schedule_id, scheduled_at) DO NOTHING`,
          [
            id,
            deployment.flowName,
            deployment.flowId,
            deployment.id,
            schedule.id,
            t,
            JSON.stringify(deployment.parameters),
            deployment.pool,
            now,
            now,
          ],
        );
        if (n > 0) {
          created.push(id);
          await this.#event(
            tx,
            id,
            now,
            undefined,
            "Scheduled",
            `scheduled for ${new Date(t).toISOString()}`,
          );
        }
      }
      await tx.run(
        "UPDATE schedules SET last_tick_at = ? WHERE id = ? AND (last_tick_at IS NULL OR last_tick_at < ?)",
        [lastTickAt, schedule.id, lastTickAt],
      );
    });
    const out: FlowRunRecord[] = [];
    for (const id of created) {
      const r = await this.getRun(id);
      if (r) out.push(r);
    }
    return out;
  }

  // ---- runs

  async createRun(run: NewRun, now: number): Promise<FlowRunRecord> {
    const id = run.id ?? randomUUID();
    const state = run.state ?? "Scheduled";
    await this.#db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO flow_runs (${RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL, ?, ?, ?, NULL, ?)`,
        [
          id,
          run.flowName,
          run.flowId ?? null,
          run.deploymentId ?? null,
          run.scheduleId ?? null,
          run.scheduledAt ?? now,
          state,
          JSON.stringify(run.parameters ?? {}),
          run.pool ?? null,
          run.retryOf ?? null,
          now,
          state === "Running" ? now : null,
          now,
        ],
      );
      await this.#event(tx, id, now, undefined, state, run.retryOf ? `retry of ${run.retryOf}` : undefined);
    });
    return (await this.getRun(id))!;
  }

  async #event(
    tx: SqlExec,
    runId: string,
    ts: number,
    from: RunStateName | undefined,
    to: RunStateName,
    message: string | undefined,
  ): Promise<void> {
    await tx.run(
      "INSERT INTO run_events (run_id, ts, type, from_state, to_state, message) VALUES (?, ?, 'state', ?, ?, ?)",
      [runId, ts, from ?? null, to, message ?? null],
    );
  }

  async #runRow(exec: SqlExec, id: string): Promise<FlowRunRecord | undefined> {
    const rows = await exec.all<Row>(`SELECT ${RUN_COLUMNS} FROM flow_runs WHERE id = ?`, [id]);
    return rows[0] ? runOf(rows[0]) : undefined;
  }

  async getRun(id: string): Promise<FlowRunDetail | undefined> {
    const run = await this.#runRow(this.#db, id);
    if (run === undefined) return undefined;
    const counts = await this.#db.all<Row>(
      "SELECT state, COUNT(*) AS n FROM task_runs WHERE run_id = ? GROUP BY state",
      [id],
    );
    return { ...run, taskCounts: Object.fromEntries(counts.map((c) => [String(c.state), Number(c.n)])) };
  }

  async findRunIds(prefix: string, limit: number): Promise<string[]> {
    const rows = await this.#db.all<Row>(
      "SELECT id FROM flow_runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT ?",
      [prefix.length, prefix.toLowerCase(), limit],
    );
    return rows.map((r) => String(r.id));
  }

  async listRuns(q: ListRunsQuery): Promise<Page<FlowRunRecord>> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 500);
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (q.state !== undefined) {
      where.push("state = ?");
      params.push(q.state);
    }
    if (q.deploymentId !== undefined) {
      where.push("deployment_id = ?");
      params.push(q.deploymentId);
    }
    if (q.flowName !== undefined) {
      where.push("flow_name = ?");
      params.push(q.flowName);
    }
    if (q.since !== undefined) {
      where.push("created_at >= ?");
      params.push(q.since);
    }
    if (q.until !== undefined) {
      where.push("created_at < ?");
      params.push(q.until);
    }
    const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    if (cursor !== undefined) {
      where.push("(created_at < ? OR (created_at = ? AND id < ?))");
      params.push(cursor.createdAt, cursor.createdAt, cursor.id);
    }
    const rows = await this.#db.all<Row>(
      `SELECT ${RUN_COLUMNS} FROM flow_runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const items = rows.slice(0, limit).map(runOf);
    const last = items[items.length - 1];
    return rows.length > limit && last ? { items, next: encodeCursor(last.createdAt, last.id) } : { items };
  }

  async runListFigures(runIds: readonly string[]): Promise<Map<string, RunListFigures>> {
    const out = new Map<string, RunListFigures>();
    if (runIds.length === 0) return out;
    for (const id of runIds) out.set(id, { taskCounts: {}, tasksTotal: 0, tasksDone: 0 });
    const marks = runIds.map(() => "?").join(", ");
    const counts = await this.#db.all<Row>(
      `SELECT run_id, state, COUNT(*) AS n, SUM(terminal) AS done FROM task_runs WHERE run_id IN (${marks}) GROUP BY run_id, state`,
      [...runIds],
    );
    for (const c of counts) {
      const f = out.get(String(c.run_id));
      if (!f) continue;
      f.taskCounts[String(c.state)] = Number(c.n);
      f.tasksTotal += Number(c.n);
      f.tasksDone += Number(c.done);
    }
    const peaks = await this.#db.all<Row>(
      `SELECT run_id, MAX(count) AS peak FROM worker_samples WHERE run_id IN (${marks}) GROUP BY run_id`,
      [...runIds],
    );
    for (const p of peaks) {
      const f = out.get(String(p.run_id));
      if (f && p.peak !== null) f.workersPeak = Number(p.peak);
    }
    return out;
  }

  async transitionRun(
    id: string,
    reported: RunStateName,
    now: number,
    details: { reason?: string; infraRef?: string } = {},
  ): Promise<TransitionResult | undefined> {
    return this.#db.transaction(async (tx) => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const run = await this.#runRow(tx, id);
        if (run === undefined) return undefined;
        const to = settledState(run.state, reported, run.agentId !== undefined);
        if (run.state === to) {
          if (details.infraRef !== undefined && details.infraRef !== run.infraRef) {
            await tx.run("UPDATE flow_runs SET infra_ref = ?, updated_at = ? WHERE id = ?", [
              details.infraRef,
              now,
              id,
            ]);
            return { ok: true as const, run: { ...run, infraRef: details.infraRef }, changed: false };
          }
          return { ok: true as const, run, changed: false };
        }
        const refused = refuseTransition(run.state, to);
        if (refused !== undefined) return { ok: false as const, run, refused };
        const terminal = TERMINAL_STATES.includes(to);
        const n = await tx.run(
          `UPDATE flow_runs SET state = ?, reason = COALESCE(?, reason), infra_ref = COALESCE(?, infra_ref), updated_at = ?,
             started_at = CASE WHEN started_at IS NULL AND ? = 'Running' THEN ? ELSE started_at END,
             ended_at = CASE WHEN ? = 1 THEN ? ELSE ended_at END,
             lease_until = CASE WHEN ? = 1 THEN NULL ELSE lease_until END
           WHERE id = ? AND state = ?`,
          [
            to,
            details.reason ?? null,
            details.infraRef ?? null,
            now,
            to,
            now,
            terminal ? 1 : 0,
            now,
            terminal ? 1 : 0,
            id,
            run.state,
          ],
        );
        if (n === 0) continue; // another writer moved it first: decide again on the new state
        await this.#event(tx, id, now, run.state, to, details.reason);
        // a run that ended reports no more: its own tokens go with it
        if (terminal) await tx.run("DELETE FROM tokens WHERE run_id = ?", [id]);
        // and a task run it left unfinished (running when it was cancelled or crashed, never
        // started) would show as running forever: it ends Failed, saying why
        if (terminal && to !== "Success") {
          await tx.run(
            `UPDATE task_runs SET state = 'Failed', terminal = 1, ended_at = ?, message = ?
             WHERE run_id = ? AND terminal = 0`,
            [now, `the run ended ${to} before this task run finished`, id],
          );
        }
        return { ok: true as const, run: (await this.#runRow(tx, id))!, changed: true };
      }
      throw new Error(`run ${id}: too many concurrent state changes`);
    });
  }

  async runEvents(runId: string): Promise<RunEventRecord[]> {
    return (await this.#db.all<Row>("SELECT * FROM run_events WHERE run_id = ? ORDER BY id", [runId])).map(
      eventOf,
    );
  }

  async eventsAfter(afterId: number, limit: number): Promise<RunEventRecord[]> {
    return (
      await this.#db.all<Row>("SELECT * FROM run_events WHERE id > ? ORDER BY id LIMIT ?", [afterId, limit])
    ).map(eventOf);
  }

  // ---- reports

  async report(runId: string, report: RunReport): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const updates = dedupe(report.taskRuns ?? []);
      for (let i = 0; i < updates.length; i += TASK_ROWS_PER_STATEMENT) {
        const slice = updates.slice(i, i + TASK_ROWS_PER_STATEMENT);
        const params: SqlValue[] = [];
        for (const u of slice) {
          params.push(
            runId,
            u.slug,
            u.mapIndex,
            u.attempt,
            u.state,
            TERMINAL_TASK.has(u.state) ? 1 : 0,
            u.startedAt ?? null,
            u.endedAt ?? null,
            u.worker ?? null,
            u.message ?? null,
            u.error === undefined ? null : JSON.stringify(u.error),
          );
        }
        await tx.run(
          `INSERT INTO task_runs (run_id, slug, map_index, attempt, state, terminal, started_at, ended_at, worker, message, error)
           VALUES ${slice.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
           ON CONFLICT (run_id, slug, map_index) DO UPDATE SET attempt = CASE WHEN excluded.attempt > task_runs.attempt THEN excluded.attempt ELSE task_runs.attempt END, state = excluded.state,
             terminal = excluded.terminal, started_at = COALESCE(task_runs.started_at, excluded.started_at),
             ended_at = excluded.ended_at, worker = COALESCE(excluded.worker, task_runs.worker),
             message = excluded.message, error = excluded.error
           WHERE task_runs.terminal = 0 OR excluded.terminal = 1`,
          params,
        );
      }
      // a retried attempt is kept in the task's history (retries are rare: one row each)
      for (const u of report.taskRuns ?? []) {
        if (u.state !== "Retrying") continue;
        await tx.run(
          `INSERT INTO task_run_attempts (run_id, slug, map_index, attempt, state, started_at, ended_at, worker, message, error)
           VALUES (?, ?, ?, ?, ?, COALESCE(?, (SELECT started_at FROM task_runs WHERE run_id = ? AND slug = ? AND map_index = ?)), ?, ?, ?, ?)
           ON CONFLICT (run_id, slug, map_index, attempt) DO NOTHING`,
          [
            runId,
            u.slug,
            u.mapIndex,
            u.attempt,
            u.state,
            u.startedAt ?? null,
            runId,
            u.slug,
            u.mapIndex,
            u.endedAt ?? null,
            u.worker ?? null,
            u.message ?? null,
            u.error === undefined ? null : JSON.stringify(u.error),
          ],
        );
      }
      const logs = report.logs ?? [];
      if (logs.length > 0) {
        // PostgreSQL: a run's log chunks take their ids in commit order (the logs cursor is an id),
        // so a reader never passes a chunk another writer of the run commits later
        if (this.#db.dialect === "postgres")
          await tx.all(`SELECT pg_advisory_xact_lock(${LOG_LOCK_CLASS}, hashtext(?))`, [runId]);
        await tx.run(
          "INSERT INTO log_chunks (run_id, ts_first, ts_last, line_count, lines) VALUES (?, ?, ?, ?, ?)",
          [
            runId,
            logs[0]!.ts,
            logs[logs.length - 1]!.ts,
            logs.length,
            logs.map((l) => JSON.stringify(l)).join("\n"),
          ],
        );
      }
      for (const s of report.samples ?? []) {
        await tx.run("INSERT INTO worker_samples (run_id, ts, count, pending) VALUES (?, ?, ?, ?)", [
          runId,
          s.ts,
          s.count,
          s.pending,
        ]);
      }
      for (const d of report.decisions ?? []) {
        await tx.run(
          "INSERT INTO scaling_decisions (run_id, ts, count, pending, reason) VALUES (?, ?, ?, ?, ?)",
          [runId, d.ts, d.count, d.pending, d.reason],
        );
      }
    });
  }

  async taskRuns(runId: string): Promise<TaskRunRecord[]> {
    const rows = await this.#db.all<Row>(
      "SELECT run_id, slug, map_index, attempt, state, started_at, ended_at, worker, message, error FROM task_runs WHERE run_id = ? ORDER BY slug, map_index",
      [runId],
    );
    return rows.map(taskRunOf);
  }

  async taskRunsJson(runId: string): Promise<{ items: string; attempts: string }> {
    const prefix = taskRunJsonPrefix(runId);
    const texts = async (table: "task_runs" | "task_run_attempts", orderBy: string) => {
      const rows = await this.#db.all<{ j: string }>(taskRunJsonSql(this.#db.dialect, table, orderBy), [
        prefix,
        runId,
      ]);
      let out = "[";
      for (let i = 0; i < rows.length; i++) out += (i === 0 ? "" : ",") + rows[i]!.j;
      return `${out}]`;
    };
    return {
      items: await texts("task_runs", "slug, map_index"),
      attempts: await texts("task_run_attempts", "slug, map_index, attempt"),
    };
  }

  async taskRunSummary(runId: string, limit: number): Promise<TaskRunSummary> {
    // counts by state first (they name the states), then each task's states as one string the
    // database joins (a 10,000-way map is one row, not 10,000)
    const byState = await this.#db.all<Row>(
      "SELECT slug, state, COUNT(*) AS n, MIN(started_at) AS s, MAX(ended_at) AS e FROM task_runs WHERE run_id = ? AND map_index >= 0 GROUP BY slug, state ORDER BY slug",
      [runId],
    );
    const codes = [...new Set(byState.map((r) => String(r.state)))].slice(0, STATE_DIGITS.length);
    const digit = codes.map((c, i) => [c, STATE_DIGITS[i] as string] as const);
    const join = this.#db.dialect === "postgres" ? "string_agg" : "group_concat";
    const strings =
      byState.length === 0
        ? []
        : await this.#db.all<Row>(
            `SELECT slug, COUNT(*) AS n, MAX(map_index) AS mx,
         ${join}(CASE state ${digit.map(() => "WHEN ? THEN ?").join(" ")} ELSE '${STATE_DIGITS.at(-1)}' END, '' ORDER BY map_index) AS states
       FROM task_runs WHERE run_id = ? AND map_index >= 0 GROUP BY slug ORDER BY slug`,
            [...digit.flat(), runId],
          );
    const tasks = await this.#briefs(runId, byState, strings);
    const shown = await this.#db.all<Row>(
      `SELECT run_id, slug, map_index, attempt, state, started_at, ended_at, worker, message, error FROM task_runs
       WHERE run_id = ? AND (map_index < 0 OR state NOT IN ('Pending', 'Success'))
       ORDER BY CASE WHEN map_index < 0 THEN 0 ELSE 1 END, slug, map_index LIMIT ?`,
      [runId, limit + 1],
    );
    const items = shown.slice(0, limit).map(taskRunOf);
    let more = 0;
    if (shown.length > limit) {
      const n = await this.#db.all<Row>(
        "SELECT COUNT(*) AS n FROM task_runs WHERE run_id = ? AND map_index >= 0 AND state NOT IN ('Pending', 'Success')",
        [runId],
      );
      more = Number(n[0]?.n ?? 0) - items.filter((r) => r.mapIndex >= 0).length;
    }
    return { tasks, codes, items, more, attempts: await this.taskRunAttempts(runId) };
  }

  /** Each mapped task's brief from the counts and joined states (a task with gaps in its map indexes read child by child). */
  async #briefs(runId: string, byState: Row[], strings: Row[]): Promise<TaskBrief[]> {
    const out = new Map<string, TaskBrief>();
    for (const r of byState) {
      const slug = String(r.slug);
      let b = out.get(slug);
      if (!b) {
        b = { slug, counts: {}, total: 0, states: "" };
        out.set(slug, b);
      }
      b.counts[String(r.state)] = Number(r.n);
      b.total += Number(r.n);
      if (r.s !== null && (b.startedAt === undefined || Number(r.s) < b.startedAt)) b.startedAt = Number(r.s);
      if (r.e !== null && (b.endedAt === undefined || Number(r.e) > b.endedAt)) b.endedAt = Number(r.e);
    }
    for (const r of strings) {
      const b = out.get(String(r.slug));
      if (!b) continue;
      if (Number(r.mx) + 1 === Number(r.n)) {
        b.states = String(r.states ?? "");
        continue;
      }
      const children = await this.#db.all<Row>(
        "SELECT map_index FROM task_runs WHERE run_id = ? AND slug = ? AND map_index >= 0 ORDER BY map_index",
        [runId, b.slug],
      );
      b.states = statesWithGaps(
        children.map((c) => Number(c.map_index)),
        String(r.states ?? ""),
      );
    }
    return [...out.values()];
  }

  async taskRunsOfTask(runId: string, slug: string, page?: TaskRunPageQuery): Promise<TaskRunPage> {
    const cols = "run_id, slug, map_index, attempt, state, started_at, ended_at, worker, message, error";
    if (page === undefined) {
      const items = await this.#db.all<Row>(
        `SELECT ${cols} FROM task_runs WHERE run_id = ? AND slug = ? ORDER BY map_index`,
        [runId, slug],
      );
      const attempts = await this.#db.all<Row>(
        `SELECT ${cols} FROM task_run_attempts WHERE run_id = ? AND slug = ? ORDER BY map_index, attempt`,
        [runId, slug],
      );
      return { items: items.map(taskRunOf), attempts: attempts.map(taskRunOf) };
    }
    // keyset on map index (the primary key's order): a page never repeats or skips a child
    const where = ["run_id = ?", "slug = ?", "map_index > ?"];
    const params: SqlValue[] = [runId, slug, Math.max(page.after ?? -1, -1)];
    if (page.states?.length) {
      where.push(`state ${page.exclude ? "NOT IN" : "IN"} (${page.states.map(() => "?").join(", ")})`);
      params.push(...page.states);
    }
    const limit = Math.min(Math.max(page.limit, 1), 100_000);
    const rows = await this.#db.all<Row>(
      `SELECT ${cols} FROM task_runs WHERE ${where.join(" AND ")} ORDER BY map_index LIMIT ?`,
      [...params, limit + 1],
    );
    const items = rows.slice(0, limit).map(taskRunOf);
    const last = items.at(-1);
    const attempts =
      items.length === 0
        ? []
        : await this.#db.all<Row>(
            `SELECT ${cols} FROM task_run_attempts WHERE run_id = ? AND slug = ? AND map_index >= ? AND map_index <= ? ORDER BY map_index, attempt`,
            [runId, slug, items[0]!.mapIndex, last!.mapIndex],
          );
    const wanted = new Set(items.map((r) => r.mapIndex));
    return {
      items,
      attempts: attempts.map(taskRunOf).filter((a) => wanted.has(a.mapIndex)),
      ...(rows.length > limit && last ? { next: last.mapIndex } : {}),
    };
  }

  async taskRunAttempts(runId: string): Promise<TaskRunRecord[]> {
    const rows = await this.#db.all<Row>(
      "SELECT run_id, slug, map_index, attempt, state, started_at, ended_at, worker, message, error FROM task_run_attempts WHERE run_id = ? ORDER BY slug, map_index, attempt",
      [runId],
    );
    return rows.map(taskRunOf);
  }

  async logs(runId: string, q: { contains?: string; limit?: number } = {}): Promise<LogLine[]> {
    return (await this.logPage(runId, q)).items;
  }

  async logPage(runId: string, q: LogQuery = {}): Promise<LogPage> {
    const limit = Math.min(Math.max(q.limit ?? 1000, 1), 100_000);
    const needle = q.contains?.toLowerCase() || undefined;
    const after = q.after === undefined ? undefined : parseLogCursor(q.after);
    const where = ["run_id = ?"];
    const params: SqlValue[] = [runId];
    if (after) {
      where.push("id >= ?");
      params.push(after.chunk);
    }
    if (needle !== undefined) {
      where.push("LOWER(lines) LIKE ? ESCAPE '\\'");
      params.push(`%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    // from a cursor, lines come oldest first and a chunk holds at least one line: limit + 1 chunks
    // are enough unless a filter drops lines
    const bound = after && needle === undefined ? ` LIMIT ${limit + 1}` : "";
    const rows = await this.#db.all<Row>(
      `SELECT id, lines FROM log_chunks WHERE ${where.join(" AND ")} ORDER BY id${bound}`,
      params,
    );
    const out: LogLine[] = [];
    let next = q.after ?? formatLogCursor(0, 0);
    for (const r of rows) {
      const chunk = Number(r.id);
      const texts = String(r.lines).split("\n");
      for (let i = after && chunk === after.chunk ? after.line : 0; i < texts.length; i++) {
        const line = JSON.parse(texts[i]!) as LogLine;
        const position = formatLogCursor(chunk, i + 1);
        if (needle && !line.message.toLowerCase().includes(needle)) {
          if (!after || out.length < limit) next = position;
          continue;
        }
        if (after && out.length === limit) return { items: out, next };
        out.push(line);
        next = position;
      }
    }
    // without a cursor: the last `limit` lines, and the cursor after the last one
    if (out.length > limit) return { items: out.slice(out.length - limit), next };
    return { items: out, next };
  }

  async workerSamples(runId: string): Promise<WorkerSample[]> {
    const rows = await this.#db.all<Row>(
      "SELECT ts, count, pending FROM worker_samples WHERE run_id = ? ORDER BY ts",
      [runId],
    );
    return rows.map((r) => ({ ts: Number(r.ts), count: Number(r.count), pending: Number(r.pending) }));
  }

  async scalingDecisions(runId: string): Promise<ScalingDecision[]> {
    const rows = await this.#db.all<Row>(
      "SELECT ts, count, pending, reason FROM scaling_decisions WHERE run_id = ? ORDER BY ts",
      [runId],
    );
    return rows.map((r) => ({
      ts: Number(r.ts),
      count: Number(r.count),
      pending: Number(r.pending),
      reason: String(r.reason),
    }));
  }

  // ---- agents and claims

  async claimRuns(
    agentId: string,
    pool: string,
    limit: number,
    now: number,
    leaseUntil: number,
    poolLimit?: number,
  ): Promise<FlowRunRecord[]> {
    const pg = this.#db.dialect === "postgres";
    const claimed = await this.#db.transaction(async (tx) => {
      // One claimer per pool at a time, so the live counts below cannot be raced past a limit;
      // SKIP LOCKED keeps claimers of other pools (and the scheduler) from waiting on these rows.
      if (pg) await tx.all("SELECT pg_advisory_xact_lock(hashtext(?))", [`flotilla-pool:${pool}`]);
      const live = await tx.all<Row>(
        `SELECT deployment_id, COUNT(*) AS n FROM flow_runs WHERE pool = ? AND state IN (${LIVE_SQL}) GROUP BY deployment_id`,
        [pool],
      );
      const liveBy = new Map(live.map((r) => [String(r.deployment_id), Number(r.n)]));
      let poolLive = live.reduce((a, r) => a + Number(r.n), 0);
      const candidates = await tx.all<Row>(
        `SELECT r.id, r.deployment_id, d.concurrency_limit FROM flow_runs r LEFT JOIN deployments d ON d.id = r.deployment_id
         WHERE r.state = 'Scheduled' AND r.pool = ? AND r.scheduled_at <= ? ORDER BY r.scheduled_at, r.id LIMIT ?${pg ? " FOR UPDATE OF r SKIP LOCKED" : ""}`,
        [pool, now, Math.max(limit * 4, 16)],
      );
      const out: string[] = [];
      for (const c of candidates) {
        if (out.length >= limit) break;
        if (poolLimit !== undefined && poolLive >= poolLimit) break;
        const dep = String(c.deployment_id);
        const depLimit = num(c.concurrency_limit);
        if (depLimit !== undefined && (liveBy.get(dep) ?? 0) >= depLimit) continue;
        const n = await tx.run(
          "UPDATE flow_runs SET state = 'Pending', agent_id = ?, lease_until = ?, updated_at = ? WHERE id = ? AND state = 'Scheduled'",
          [agentId, leaseUntil, now, String(c.id)],
        );
        if (n === 0) continue;
        await this.#event(tx, String(c.id), now, "Scheduled", "Pending", `claimed by agent ${agentId}`);
        liveBy.set(dep, (liveBy.get(dep) ?? 0) + 1);
        poolLive++;
        out.push(String(c.id));
      }
      return out;
    });
    const runs: FlowRunRecord[] = [];
    for (const id of claimed) {
      const r = await this.#runRow(this.#db, id);
      if (r) runs.push(r);
    }
    return runs;
  }

  async renewLeases(agentId: string, runIds: readonly string[], leaseUntil: number): Promise<number> {
    if (runIds.length === 0) return 0;
    return this.#db.run(
      `UPDATE flow_runs SET lease_until = ? WHERE agent_id = ? AND state IN (${LIVE_SQL}) AND id IN (${runIds.map(() => "?").join(", ")})`,
      [leaseUntil, agentId, ...runIds],
    );
  }

  async expiredLeases(now: number): Promise<FlowRunRecord[]> {
    const rows = await this.#db.all<Row>(
      `SELECT ${RUN_COLUMNS} FROM flow_runs WHERE state IN (${LIVE_SQL}) AND lease_until IS NOT NULL AND lease_until < ?`,
      [now],
    );
    return rows.map(runOf);
  }

  async heartbeatAgent(a: { id: string; pool: string; name: string }, now: number): Promise<AgentRecord> {
    await this.#db.run(
      "INSERT INTO agents (id, pool, name, last_seen_at, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET pool = excluded.pool, name = excluded.name, last_seen_at = excluded.last_seen_at",
      [a.id, a.pool, a.name, now, now],
    );
    const rows = await this.#db.all<Row>("SELECT * FROM agents WHERE id = ?", [a.id]);
    return agentOf(rows[0]!);
  }

  async listAgents(): Promise<AgentRecord[]> {
    return (await this.#db.all<Row>("SELECT * FROM agents ORDER BY last_seen_at DESC")).map(agentOf);
  }

  // ---- tokens

  async createToken(
    t: { name: string; scope: TokenScope; hash: string; runId?: string },
    now: number,
  ): Promise<TokenRecord> {
    const id = randomUUID();
    await this.#db.run(
      "INSERT INTO tokens (id, name, scope, hash, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      [id, t.name, t.scope, t.hash, t.runId ?? null, now],
    );
    return defined({ id, name: t.name, scope: t.scope, runId: t.runId, createdAt: now });
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    const rows = await this.#db.all<Row>(
      "SELECT id, name, scope, run_id, created_at FROM tokens WHERE hash = ?",
      [hash],
    );
    return rows[0] ? tokenOf(rows[0]) : undefined;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (
      await this.#db.all<Row>("SELECT id, name, scope, run_id, created_at FROM tokens ORDER BY created_at")
    ).map(tokenOf);
  }

  async countTokens(): Promise<number> {
    const rows = await this.#db.all<Row>("SELECT COUNT(*) AS n FROM tokens");
    return Number(rows[0]?.n ?? 0);
  }

  // ---- retention

  async vacuum(olderThan: number, dryRun: boolean): Promise<VacuumReport> {
    const old = `SELECT id FROM flow_runs WHERE state IN (${TERMINAL_SQL}) AND ended_at < ?`;
    return this.#db.transaction(async (tx) => {
      const count = async (table: string) =>
        Number(
          (await tx.all<Row>(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id IN (${old})`, [olderThan]))[0]
            ?.n ?? 0,
        );
      const report: VacuumReport = {
        olderThan,
        dryRun,
        runs: Number((await tx.all<Row>(`SELECT COUNT(*) AS n FROM (${old}) o`, [olderThan]))[0]?.n ?? 0),
        taskRuns: await count("task_runs"),
        logChunks: await count("log_chunks"),
        events: await count("run_events"),
        samples: (await count("worker_samples")) + (await count("scaling_decisions")),
      };
      if (!dryRun) {
        for (const table of [
          "task_runs",
          "task_run_attempts",
          "log_chunks",
          "run_events",
          "worker_samples",
          "scaling_decisions",
          "tokens",
        ]) {
          await tx.run(`DELETE FROM ${table} WHERE run_id IN (${old})`, [olderThan]);
        }
        await tx.run(`DELETE FROM flow_runs WHERE id IN (${old})`, [olderThan]);
      }
      return report;
    });
  }
}
