// The storage port: what the server, scheduler and retention need from a database. Two adapters
// implement it over the same SQL (sql-store.ts): SQLite (better-sqlite3, the embedded default)
// and PostgreSQL (pg). Rows are plain data with camelCase fields and ms-since-epoch times.

import type { RunStateName } from "./run-state.ts";
import type { TaskBrief } from "./task-run-summary.ts";

/** A registered flow version: what `flotilla deploy` sends, and nothing else. */
export interface FlowRecord {
  id: string;
  name: string;
  fingerprint: string;
  image?: string;
  module?: string;
  /** The DAG as `describe` renders it (tasks and edges), JSON. */
  dag: unknown;
  /** The flow's parameters (name, required, default), JSON. */
  parameterSchema: unknown;
  createdAt: number;
}

export type CatchUp = "skip" | "once" | "all";
export type Pool = string;

export interface DeploymentRecord {
  id: string;
  name: string;
  flowId: string;
  flowName: string;
  parameters: Record<string, unknown>;
  pool: Pool;
  concurrencyLimit?: number;
  /** The image its runs run (a flow version may be deployed with several). */
  image?: string;
  /** Where its runner loads the flow: a file here (local pool) or a path in the image. */
  module?: string;
  createdAt: number;
  updatedAt: number;
}

export interface ScheduleRecord {
  id: string;
  deploymentId: string;
  cron?: string;
  intervalMs?: number;
  timezone: string;
  catchUp: CatchUp;
  paused: boolean;
  /** The last tick a run was created for (or skipped by the catch-up policy). */
  lastTickAt?: number;
  createdAt: number;
}

export interface FlowRunRecord {
  id: string;
  flowName: string;
  /** The registered flow version (its DAG), when known. */
  flowId?: string;
  deploymentId?: string;
  scheduleId?: string;
  scheduledAt: number;
  state: RunStateName;
  /** Why the run is in its state (the Kubernetes or OS reason of a crash, a failure's message). */
  reason?: string;
  parameters: Record<string, unknown>;
  pool?: Pool;
  agentId?: string;
  leaseUntil?: number;
  /** What the agent created for the run (a Job name, a process id). */
  infraRef?: string;
  retryOf?: string;
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  updatedAt: number;
}

/** A run with its task-run counts by state (`runs get`). */
export interface FlowRunDetail extends FlowRunRecord {
  taskCounts: Record<string, number>;
}

export interface RunEventRecord {
  id: number;
  runId: string;
  ts: number;
  type: "state";
  from?: RunStateName;
  to: RunStateName;
  message?: string;
}

export interface TaskRunRecord {
  runId: string;
  slug: string;
  /** -1 for an unmapped task run (or a mapped task's parent). */
  mapIndex: number;
  attempt: number;
  state: string;
  startedAt?: number;
  endedAt?: number;
  worker?: string;
  message?: string;
  error?: unknown;
}

export type TaskRunUpdate = Omit<TaskRunRecord, "runId">;

/** Which children of a mapped task to read ({@link Store.taskRunsOfTask}). */
export interface TaskRunPageQuery {
  /** Children with a map index above this one (default: from the first). */
  after?: number;
  limit: number;
  /** Only children in these states (`exclude`: in none of them). */
  states?: readonly string[];
  exclude?: boolean;
}

/** One task's task runs, or a page of its children, and their earlier attempts. */
export interface TaskRunPage {
  items: TaskRunRecord[];
  attempts: TaskRunRecord[];
  /** With a page query: the last map index of `items` when more may follow. */
  next?: number;
}

/** See {@link Store.taskRunSummary}. */
export interface TaskRunSummary {
  /** The mapped tasks that have children, by slug. */
  tasks: TaskBrief[];
  /** The states {@link TaskBrief.states} writes, by their character's place in STATE_DIGITS. */
  codes: string[];
  items: TaskRunRecord[];
  /** Children neither Pending nor Success left out of `items` (over its limit). */
  more: number;
  attempts: TaskRunRecord[];
}

export interface LogLine {
  ts: number;
  level: string;
  message: string;
  slug?: string;
  mapIndex?: number;
  worker?: string;
  /**
   * Where the line comes from when not the runner's own log: `k8s` for a Kubernetes Event of the
   * run's objects (recorded by the agent; `message` is `Reason: message`).
   */
  source?: string;
  /** The Kubernetes object an Event is about (`pod/NAME`, `job/NAME`). */
  object?: string;
  /** The Kubernetes Event's reason (ErrImagePull, FailedScheduling, Scheduled, …). */
  reason?: string;
}

/** Which log lines of a run to read. */
export interface LogQuery {
  /** Only lines whose message contains this (case-insensitive). */
  contains?: string;
  /** At most this many lines (1..100,000). @default 1000 */
  limit?: number;
  /**
   * Only lines after this cursor (a `next` of an earlier page), oldest first; without it, the
   * run's last `limit` lines.
   */
  after?: string;
}

/** Log lines and the cursor after the last line read (pass it as `after` for the lines to come). */
export interface LogPage {
  items: LogLine[];
  next: string;
}

export interface WorkerSample {
  ts: number;
  count: number;
  pending: number;
}

export interface ScalingDecision {
  ts: number;
  count: number;
  pending: number;
  reason: string;
}

/** One reporter batch for one run, written in one transaction. */
export interface RunReport {
  taskRuns?: TaskRunUpdate[];
  logs?: LogLine[];
  samples?: WorkerSample[];
  decisions?: ScalingDecision[];
}

export type TokenScope = "admin" | "agent" | "runner" | "read";

export interface TokenRecord {
  id: string;
  name: string;
  scope: TokenScope;
  /** The run a runner token may report to. */
  runId?: string;
  createdAt: number;
}

export interface AgentRecord {
  id: string;
  pool: Pool;
  name: string;
  lastSeenAt: number;
  createdAt: number;
}

export interface ListRunsQuery {
  state?: RunStateName;
  deploymentId?: string;
  flowName?: string;
  /** Only runs created at or after this time (ms since the epoch). */
  since?: number;
  /** Only runs created before this time. */
  until?: number;
  /** Page size, 1..500. */
  limit?: number;
  /** The `next` cursor of the previous page. */
  cursor?: string;
}

/** A run list row's figures: its task runs by state and the most workers it ran at once. */
export interface RunListFigures {
  taskCounts: Record<string, number>;
  /** Task runs in all, and those in a final state. */
  tasksTotal: number;
  tasksDone: number;
  workersPeak?: number;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  next?: string;
}

export interface NewRun {
  id?: string;
  flowName: string;
  flowId?: string;
  deploymentId?: string;
  scheduleId?: string;
  scheduledAt?: number;
  parameters?: Record<string, unknown>;
  pool?: Pool;
  retryOf?: string;
  /** Default Scheduled; a run started by `flotilla run --server` is created Running. */
  state?: RunStateName;
}

export type TransitionResult =
  | { ok: true; run: FlowRunRecord; changed: boolean }
  | { ok: false; run: FlowRunRecord; refused: string };

export interface VacuumReport {
  olderThan: number;
  runs: number;
  taskRuns: number;
  logChunks: number;
  events: number;
  samples: number;
  dryRun: boolean;
}

/** The storage port. */
export interface Store {
  readonly kind: "sqlite" | "postgres";
  close(): Promise<void>;

  registerFlow(flow: Omit<FlowRecord, "id" | "createdAt">): Promise<FlowRecord>;
  getFlow(id: string): Promise<FlowRecord | undefined>;

  /** Create or replace the deployment of this name. */
  putDeployment(d: {
    name: string;
    flowId: string;
    parameters: Record<string, unknown>;
    pool: Pool;
    concurrencyLimit?: number;
    image?: string;
    module?: string;
  }): Promise<DeploymentRecord>;
  /** By name or id. */
  getDeployment(nameOrId: string): Promise<DeploymentRecord | undefined>;
  listDeployments(): Promise<DeploymentRecord[]>;
  /** Deletes the deployment and its schedules; its runs stay as history. */
  deleteDeployment(id: string): Promise<boolean>;

  /** Replaces the deployment's schedules with this one (or none). */
  setSchedule(
    deploymentId: string,
    s: Omit<ScheduleRecord, "id" | "deploymentId" | "createdAt" | "paused" | "lastTickAt"> | undefined,
    now: number,
  ): Promise<ScheduleRecord | undefined>;
  listSchedules(deploymentId?: string): Promise<ScheduleRecord[]>;
  getSchedule(id: string): Promise<ScheduleRecord | undefined>;
  setSchedulePaused(id: string, paused: boolean): Promise<ScheduleRecord | undefined>;
  /**
   * Create the runs of these ticks of a schedule (unique on schedule and time: a tick already
   * created is not created again) and move its last tick forward. Returns the runs created.
   */
  createScheduledRuns(
    schedule: ScheduleRecord,
    deployment: DeploymentRecord,
    ticks: readonly number[],
    lastTickAt: number,
  ): Promise<FlowRunRecord[]>;

  createRun(run: NewRun, now: number): Promise<FlowRunRecord>;
  getRun(id: string): Promise<FlowRunDetail | undefined>;
  /** The ids starting with `prefix` (at most `limit`). */
  findRunIds(prefix: string, limit: number): Promise<string[]>;
  /** Newest first, keyset-paged. */
  listRuns(q: ListRunsQuery): Promise<Page<FlowRunRecord>>;
  /** Task counts and workers peak of these runs (a page of the run list), by run id. */
  runListFigures(runIds: readonly string[]): Promise<Map<string, RunListFigures>>;
  /**
   * Move a run forward; refused (and not recorded) when it would go back or leave a final state.
   * Reaching a final state deletes the tokens bound to the run (its runner reports no more).
   */
  transitionRun(
    id: string,
    to: RunStateName,
    now: number,
    details?: { reason?: string; infraRef?: string },
  ): Promise<TransitionResult | undefined>;
  runEvents(runId: string): Promise<RunEventRecord[]>;
  /** Events of every run after `afterId`, oldest first (the SSE stream's catch-up). */
  eventsAfter(afterId: number, limit: number): Promise<RunEventRecord[]>;

  report(runId: string, report: RunReport): Promise<void>;
  taskRuns(runId: string): Promise<TaskRunRecord[]>;
  /**
   * {@link Store.taskRuns} and {@link Store.taskRunAttempts} as JSON array texts, built by the
   * database (the API sends them as they are: a 10,000-task run's answer without 10,000 objects).
   */
  taskRunsJson(runId: string): Promise<{ items: string; attempts: string }>;
  /** The earlier attempts of retried task runs (each as it ended: Retrying, with its error), oldest first. */
  taskRunAttempts(runId: string): Promise<TaskRunRecord[]>;
  /**
   * A run's task runs in brief (the dashboard's first paint): each mapped task's children by state
   * and one state character each ({@link TaskBrief}), the task runs worth showing (every task run
   * of an unmapped task or a mapped task's parent, then the children neither Pending nor Success,
   * at most `limit` of those) and how many such children were left out, and the earlier attempts.
   */
  taskRunSummary(runId: string, limit: number): Promise<TaskRunSummary>;
  /**
   * The task runs of one task of a run (slug, then map index) and their earlier attempts; with
   * `page`, a page of its children (map index ≥ 0) after `page.after` in map-index order (a keyset:
   * stable while states change), and `next` (pass it as `after`) when more may follow.
   */
  taskRunsOfTask(runId: string, slug: string, page?: TaskRunPageQuery): Promise<TaskRunPage>;
  logs(runId: string, q?: { contains?: string; limit?: number }): Promise<LogLine[]>;
  /** Log lines with a cursor: the last `limit`, or those after `after` (oldest first), and `next`. */
  logPage(runId: string, q?: LogQuery): Promise<LogPage>;
  workerSamples(runId: string): Promise<WorkerSample[]>;
  scalingDecisions(runId: string): Promise<ScalingDecision[]>;

  /**
   * Give up to `limit` Scheduled runs of the pool due by `now` to the agent (Pending, leased until
   * `leaseUntil`), respecting each deployment's concurrency limit and the pool's `poolLimit`
   * counted over live runs. Concurrent claims never get the same run.
   */
  claimRuns(
    agentId: string,
    pool: Pool,
    limit: number,
    now: number,
    leaseUntil: number,
    poolLimit?: number,
  ): Promise<FlowRunRecord[]>;
  /** Extend the agent's leases on these live runs. */
  renewLeases(agentId: string, runIds: readonly string[], leaseUntil: number): Promise<number>;
  /** Live runs whose lease ran out before `now` (their agent is gone). */
  expiredLeases(now: number): Promise<FlowRunRecord[]>;

  heartbeatAgent(a: { id: string; pool: Pool; name: string }, now: number): Promise<AgentRecord>;
  listAgents(): Promise<AgentRecord[]>;

  createToken(
    t: { name: string; scope: TokenScope; hash: string; runId?: string },
    now: number,
  ): Promise<TokenRecord>;
  findToken(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  countTokens(): Promise<number>;

  /** Delete finished runs (and everything of theirs) that ended before `olderThan`. */
  vacuum(olderThan: number, dryRun: boolean): Promise<VacuumReport>;
}
