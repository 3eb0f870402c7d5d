// Versioned, plain-SQL migrations, applied in order inside a transaction and recorded in
// `schema_migrations`. One text serves both databases: the only word that differs is the
// auto-increment key, written `{{serial}}` and replaced per dialect. Never edit a released
// migration: add the next one.

export type Dialect = "sqlite" | "postgres";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const SERIAL: Record<Dialect, string> = {
  sqlite: "INTEGER PRIMARY KEY AUTOINCREMENT",
  postgres: "BIGSERIAL PRIMARY KEY",
};

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "history, deployments, schedules, tokens",
    sql: `
CREATE TABLE flows (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  image TEXT,
  module TEXT,
  dag TEXT NOT NULL,
  parameter_schema TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (name, fingerprint)
);
CREATE TABLE deployments (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  flow_id TEXT NOT NULL REFERENCES flows(id),
  parameters TEXT NOT NULL,
  pool TEXT NOT NULL,
  concurrency_limit INTEGER,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  cron TEXT,
  interval_ms BIGINT,
  timezone TEXT NOT NULL,
  catch_up TEXT NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  last_tick_at BIGINT,
  created_at BIGINT NOT NULL
);
CREATE TABLE flow_runs (
  id TEXT PRIMARY KEY,
  flow_name TEXT NOT NULL,
  deployment_id TEXT,
  schedule_id TEXT,
  scheduled_at BIGINT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT,
  parameters TEXT NOT NULL,
  pool TEXT,
  agent_id TEXT,
  lease_until BIGINT,
  infra_ref TEXT,
  retry_of TEXT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  ended_at BIGINT,
  updated_at BIGINT NOT NULL,
  UNIQUE (schedule_id, scheduled_at)
);
CREATE INDEX flow_runs_created ON flow_runs (created_at, id);
CREATE INDEX flow_runs_state_pool ON flow_runs (state, pool, scheduled_at);
CREATE INDEX flow_runs_deployment ON flow_runs (deployment_id, state);
CREATE INDEX flow_runs_ended ON flow_runs (ended_at);
CREATE TABLE run_events (
  id {{serial}},
  run_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  type TEXT NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  message TEXT
);
CREATE INDEX run_events_run ON run_events (run_id, id);
CREATE TABLE task_runs (
  run_id TEXT NOT NULL,
  slug TEXT NOT NULL,
  map_index INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  state TEXT NOT NULL,
  terminal INTEGER NOT NULL,
  started_at BIGINT,
  ended_at BIGINT,
  worker TEXT,
  message TEXT,
  error TEXT,
  PRIMARY KEY (run_id, slug, map_index)
);
CREATE TABLE log_chunks (
  id {{serial}},
  run_id TEXT NOT NULL,
  ts_first BIGINT NOT NULL,
  ts_last BIGINT NOT NULL,
  line_count INTEGER NOT NULL,
  lines TEXT NOT NULL
);
CREATE INDEX log_chunks_run ON log_chunks (run_id, id);
CREATE TABLE worker_samples (
  run_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  count INTEGER NOT NULL,
  pending INTEGER NOT NULL
);
CREATE INDEX worker_samples_run ON worker_samples (run_id, ts);
CREATE TABLE scaling_decisions (
  run_id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  count INTEGER NOT NULL,
  pending INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX scaling_decisions_run ON scaling_decisions (run_id, ts);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  scope TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  run_id TEXT,
  created_at BIGINT NOT NULL
);
CREATE TABLE agents (
  id TEXT PRIMARY KEY,
  pool TEXT NOT NULL,
  name TEXT NOT NULL,
  last_seen_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
`,
  },
  {
    version: 2,
    name: "a run knows its flow version",
    sql: `
ALTER TABLE flow_runs ADD COLUMN flow_id TEXT;
`,
  },
  {
    version: 3,
    name: "a deployment keeps its own image and module path",
    sql: `
ALTER TABLE deployments ADD COLUMN image TEXT;
ALTER TABLE deployments ADD COLUMN module TEXT;
`,
  },
  {
    version: 4,
    name: "the run list filtered by flow or state pages by an index",
    sql: `
CREATE INDEX flow_runs_flow_created ON flow_runs (flow_name, created_at, id);
CREATE INDEX flow_runs_state_created ON flow_runs (state, created_at, id);
`,
  },
  {
    version: 5,
    name: "a retried task run keeps its earlier attempts",
    sql: `
CREATE TABLE task_run_attempts (
  run_id TEXT NOT NULL,
  slug TEXT NOT NULL,
  map_index INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  state TEXT NOT NULL,
  started_at BIGINT,
  ended_at BIGINT,
  worker TEXT,
  message TEXT,
  error TEXT,
  PRIMARY KEY (run_id, slug, map_index, attempt)
);
`,
  },
];

/** The migration's SQL for a dialect. */
export function migrationSql(m: Migration, dialect: Dialect): string {
  return m.sql.replaceAll("{{serial}}", SERIAL[dialect]);
}

/** The statements of a migration, one by one (drivers run one statement per call). */
export function statements(sql: string): string[] {
  return sql
    .split(/;\s*\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
