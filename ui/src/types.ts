// The server's API records as the dashboard reads them (times in ms since the epoch): the store's
// record types (src/store/store.ts, one source of truth) as the API's JSON carries them, plus what
// the API adds (a run's counts and DAG, an agent's runs). Type-only imports: nothing of the server
// is bundled (the UI talks to it over HTTP only).

import type {
  AgentRecord,
  DeploymentRecord,
  FlowRunRecord,
  RunEventRecord,
  ScalingDecision as ScalingDecisionRecord,
  ScheduleRecord,
  LogLine as StoreLogLine,
  TaskRunRecord,
  WorkerSample as WorkerSampleRecord,
} from "../../src/store/store.ts";
import type { TaskBrief } from "../../src/store/task-run-summary.ts";

/** A run as GET /api/runs and /api/runs/:id answer it (the list's rows carry its figures). */
export interface FlowRun
  extends Omit<FlowRunRecord, "state" | "scheduledAt" | "parameters" | "updatedAt" | "leaseUntil"> {
  /** The run's state (a RunStateName; a string, so a newer server's state still shows). */
  state: string;
  scheduledAt?: number;
  parameters?: Record<string, unknown>;
  updatedAt?: number;
  deploymentName?: string;
  /** Task runs by state (run detail; the list may carry it too). */
  taskCounts?: Record<string, number>;
  tasksTotal?: number;
  tasksDone?: number;
  workersPeak?: number;
  /** The flow's DAG (`describe` JSON) when the server knows it. */
  dag?: FlowDag;
}

export interface FlowDag {
  tasks?: { slug: string; task?: string; mapped?: boolean; upstream?: string[]; retries?: number }[];
  edges?: { upstream: string; downstream: string; mapped?: boolean }[];
}

/** A task run (the store's record; a live update's carries no run id). */
export type TaskRun = Omit<TaskRunRecord, "runId"> & { runId?: string };

/** GET /api/runs/:id/task-runs (?view=summary adds tasks, codes and more; see the store's TaskRunSummary). */
export interface TaskRunsAnswer {
  items: TaskRun[];
  attempts?: TaskRun[];
  tasks?: TaskBrief[];
  codes?: string[];
  more?: number;
  /** A page of one task's children: the `after` of the next page (absent on the last). */
  next?: number;
}

export type LogLine = StoreLogLine & {
  /** Where the line comes from: `kubernetes` (the run's pod events), `agent`; absent for the flow's own. */
  source?: string;
};

export type WorkerSample = WorkerSampleRecord & { target?: number };

export type ScalingDecision = ScalingDecisionRecord;

/** A run's state transition (the store's record; `to`/`from` as strings, so a newer server's state still shows). */
export type RunEvent = Omit<RunEventRecord, "type" | "from" | "to"> & {
  type: string;
  from?: string;
  to: string;
};

export interface Deployment extends DeploymentRecord {
  parameterSchema?: ParameterSchema;
  schedules?: Schedule[];
}

/** A flow's parameters as `describe` lists them, or a JSON schema object. */
export type ParameterSchema =
  | { name: string; required: boolean; default?: unknown; description?: string; type?: string }[]
  | { type?: string; properties?: Record<string, JsonSchema>; required?: string[] };

export interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
  title?: string;
}

export interface Schedule extends Omit<ScheduleRecord, "catchUp"> {
  catchUp: string;
  nextRuns?: number[];
}

export interface Agent extends AgentRecord {
  runsInFlight?: number;
  runs?: string[];
}

export interface Page<T> {
  items: T[];
  next?: string;
  total?: number;
}

/** Lists come as a bare array or as { items }. */
export function items<T>(x: T[] | { items?: T[] } | undefined): T[] {
  if (!x) return [];
  return Array.isArray(x) ? x : (x.items ?? []);
}
