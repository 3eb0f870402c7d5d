// The server's API records as the dashboard reads them (times in ms since the epoch). The UI talks
// to the server over HTTP only, so these mirror the API's JSON rather than import server code.

export interface FlowRun {
  id: string;
  flowName: string;
  deploymentId?: string;
  deploymentName?: string;
  scheduleId?: string;
  scheduledAt?: number;
  state: string;
  reason?: string;
  parameters?: Record<string, unknown>;
  pool?: string;
  agentId?: string;
  infraRef?: string;
  retryOf?: string;
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  updatedAt?: number;
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

export interface TaskRun {
  runId?: string;
  slug: string;
  /** -1 for an unmapped task run or a mapped task's parent. */
  mapIndex: number;
  attempt: number;
  state: string;
  startedAt?: number;
  endedAt?: number;
  worker?: string;
  message?: string;
  error?: unknown;
}

export interface LogLine {
  ts: number;
  level: string;
  message: string;
  slug?: string;
  mapIndex?: number;
  worker?: string;
  /** Where the line comes from: `kubernetes` (the run's pod events), `agent`; absent for the flow's own. */
  source?: string;
}

export interface WorkerSample {
  ts: number;
  count: number;
  pending: number;
  target?: number;
}

export interface ScalingDecision {
  ts: number;
  count: number;
  pending: number;
  reason: string;
}

export interface RunEvent {
  id: number;
  runId: string;
  ts: number;
  type: string;
  from?: string;
  to: string;
  message?: string;
}

export interface Deployment {
  id: string;
  name: string;
  flowId: string;
  flowName: string;
  parameters: Record<string, unknown>;
  pool: string;
  concurrencyLimit?: number;
  createdAt: number;
  updatedAt: number;
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

export interface Schedule {
  id: string;
  deploymentId: string;
  cron?: string;
  intervalMs?: number;
  timezone: string;
  catchUp: string;
  paused: boolean;
  lastTickAt?: number;
  createdAt: number;
  nextRuns?: number[];
}

export interface Agent {
  id: string;
  pool: string;
  name: string;
  lastSeenAt: number;
  createdAt: number;
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
