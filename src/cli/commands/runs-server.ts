// `flotilla runs list|get|logs|cancel|retry|create --server URL` (or FLOTILLA_API_URL): flow runs
// as the server keeps them, over its API. Ids may be given by a unique prefix (tables show 8
// characters); `-o json` prints the API's records. `runs logs -f` follows the run's log lines
// until it reaches a final state; `--tail N` starts from the last N.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { sleepOrAbort } from "../../core/sleep.ts";
import { ApiClient, serverUrl } from "../../server/client.ts";
import { isTerminal } from "../../store/run-state.ts";
import type { FlowRunDetail, FlowRunRecord, LogLine, Page, TaskRunRecord } from "../../store/store.ts";
import { formatServerLine, parseTail } from "../log-lines.ts";
import { LOG_FORMATS, outputOption, renderDocument, renderOutput, SERVER_FORMATS } from "../output.ts";
import { followUntilStopped } from "../signals.ts";

export interface ServerCallOptions {
  server?: string;
  token?: string;
  output?: string;
}

/** True when `runs` should talk to a server: --server on the command line, or FLOTILLA_API_URL. */
export function wantsServer(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return argv.some((a) => a === "--server" || a.startsWith("--server=")) || Boolean(env.FLOTILLA_API_URL);
}

/** The API client for --server/--token (or FLOTILLA_API_URL/FLOTILLA_API_TOKEN). */
export function clientFor(o: ServerCallOptions): ApiClient {
  const url = serverUrl(o.server);
  if (url === undefined) {
    throw new FlotillaError(ErrorCode.Usage, "no server given", {
      hint: "pass --server URL (the URL flotilla server printed) or set FLOTILLA_API_URL",
      usage: true,
    });
  }
  return new ApiClient({ url, ...(o.token ? { token: o.token } : {}) });
}

export const shortId = (id: string) => id.slice(0, 8);
const enc = encodeURIComponent;

function time(ms: number | undefined): string {
  return ms === undefined ? "-" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
}

function duration(r: FlowRunRecord): string {
  if (r.startedAt === undefined) return "-";
  const ms = (r.endedAt ?? Date.now()) - r.startedAt;
  return ms < 1000
    ? `${ms}ms`
    : ms < 60_000
      ? `${(ms / 1000).toFixed(1)}s`
      : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** Columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((l) => (l[i] ?? "").length)));
  return `${rows
    .map((l) =>
      l
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

export async function listServerRuns(
  o: ServerCallOptions & {
    state?: string;
    deployment?: string;
    flow?: string;
    limit?: string;
    cursor?: string;
  },
): Promise<Page<FlowRunRecord>> {
  const q = new URLSearchParams();
  for (const k of ["state", "deployment", "flow", "limit", "cursor"] as const) {
    const v = o[k];
    if (v !== undefined) q.set(k, v);
  }
  return clientFor(o).get<Page<FlowRunRecord>>(`/api/runs${q.size ? `?${q}` : ""}`);
}

export async function printRuns(page: Page<FlowRunRecord>, output?: string): Promise<string> {
  if (output === "json" || output === "yaml") return renderDocument(page, output);
  const out = table([
    ["RUN", "FLOW", "STATE", "CREATED", "DURATION", "REASON"],
    ...page.items.map((r) => [
      shortId(r.id),
      r.flowName,
      r.state,
      time(r.createdAt),
      duration(r),
      (r.reason ?? "").slice(0, 60),
    ]),
  ]);
  return page.next ? `${out}(more: --cursor ${page.next})\n` : out;
}

export async function getServerRun(
  id: string,
  o: ServerCallOptions,
): Promise<{ run: FlowRunDetail & { deploymentName?: string }; taskRuns: TaskRunRecord[] }> {
  const client = clientFor(o);
  const run = await client.get<FlowRunDetail & { deploymentName?: string }>(`/api/runs/${enc(id)}`);
  const { items } = await client.get<{ items: TaskRunRecord[] }>(`/api/runs/${enc(run.id)}/task-runs`);
  return { run, taskRuns: items };
}

export async function printRun(
  r: Awaited<ReturnType<typeof getServerRun>>,
  output?: string,
): Promise<string> {
  if (output === "json" || output === "yaml")
    return renderDocument({ ...r.run, taskRuns: r.taskRuns }, output);
  const run = r.run;
  const lines = [
    `Run ${run.id}`,
    `  flow:      ${run.flowName}${run.deploymentName ? `  (deployment ${run.deploymentName})` : ""}`,
    `  state:     ${run.state}${run.reason ? `  ${run.reason}` : ""}`,
    `  created:   ${time(run.createdAt)}   started: ${time(run.startedAt)}   ended: ${time(run.endedAt)}   (${duration(run)})`,
    `  tasks:     ${
      Object.entries(run.taskCounts)
        .map(([s, n]) => `${n} ${s}`)
        .join(", ") || "none reported"
    }`,
  ];
  if (Object.keys(run.parameters).length) lines.push(`  parameters: ${JSON.stringify(run.parameters)}`);
  const shown = r.taskRuns.filter((t) => t.mapIndex < 0 || t.state !== "Success").slice(0, 200);
  let out = `${lines.join("\n")}\n`;
  if (shown.length) {
    out += `\n${table([
      ["TASK", "STATE", "ATTEMPT", "WORKER", "MESSAGE"],
      ...shown.map((t) => [
        t.mapIndex >= 0 ? `${t.slug}[${t.mapIndex}]` : t.slug,
        t.state,
        String(t.attempt),
        t.worker ?? "-",
        (t.message ?? "").slice(0, 80),
      ]),
    ])}`;
    if (shown.length < r.taskRuns.length)
      out += `(${r.taskRuns.length - shown.length} more successful mapped task runs; -o json lists all)\n`;
  }
  return out;
}

/** The most lines one logs call returns (the API's own limit). */
const MAX_LOG_LINES = 100_000;

export async function serverRunLogs(
  id: string,
  o: ServerCallOptions & { grep?: string; tail?: string },
): Promise<LogLine[]> {
  const tail = parseTail(o.tail ?? "-1");
  return fetchLogs(clientFor(o), id, tail ?? MAX_LOG_LINES, o.grep);
}

async function fetchLogs(client: ApiClient, id: string, limit: number, grep?: string): Promise<LogLine[]> {
  if (limit === 0) return [];
  return (await fetchLogPage(client, id, limit, grep)).items;
}

/** One logs call: the last `limit` lines, or with `after` the lines after that cursor. */
async function fetchLogPage(
  client: ApiClient,
  id: string,
  limit: number,
  grep?: string,
  after?: string,
): Promise<{ items: LogLine[]; next: string }> {
  const q = new URLSearchParams({ limit: String(Math.max(1, Math.min(limit, MAX_LOG_LINES))) });
  if (grep) q.set("contains", grep);
  if (after !== undefined) q.set("after", after);
  return client.get<{ items: LogLine[]; next: string }>(`/api/runs/${enc(id)}/logs?${q}`);
}

/** What {@link followServerLogs} takes. */
export interface FollowServerLogsOptions extends ServerCallOptions {
  grep?: string;
  /** Start from the last N lines; all when undefined. */
  tail?: number;
  /** How often the server is asked for new lines. @default 500 */
  pollMs?: number;
  /** Stops following (Ctrl-C, or a caller's deadline). */
  signal?: AbortSignal;
}

/**
 * Follow a run's log lines on a server: give `write` the lines kept so far (the last `tail`), then
 * each new one, until the run is in a final state (Success, Failed, Crashed, Cancelled) and its
 * last lines are printed. After the first call each poll asks only for the lines after the
 * cursor the server gave (`?after=`), so a long run's log is never read again. Every call has the
 * client's deadline; `signal` stops it. Resolves with the run's final record (undefined when
 * stopped).
 */
export async function followServerLogs(
  id: string,
  write: (line: LogLine) => void,
  o: FollowServerLogsOptions = {},
): Promise<FlowRunRecord | undefined> {
  const client = clientFor(o);
  const poll = o.pollMs ?? 500;
  let run = await client.get<FlowRunRecord>(`/api/runs/${enc(id)}`);
  const first = await fetchLogPage(client, run.id, o.tail === undefined ? MAX_LOG_LINES : o.tail, o.grep);
  const shown = o.tail === undefined ? first.items : o.tail === 0 ? [] : first.items.slice(-o.tail);
  for (const l of shown) write(l);
  let cursor = first.next;
  while (!o.signal?.aborted) {
    const final = isTerminal(run.state);
    // every line after the cursor, a page at a time
    for (;;) {
      const page = await fetchLogPage(client, run.id, MAX_LOG_LINES, o.grep, cursor);
      for (const l of page.items) write(l);
      cursor = page.next;
      if (page.items.length < MAX_LOG_LINES || o.signal?.aborted) break;
    }
    // the state was final before these lines were read: they were the last ones
    if (final) return run;
    await sleepOrAbort(poll, o.signal);
    if (o.signal?.aborted) break;
    run = await client.get<FlowRunRecord>(`/api/runs/${enc(run.id)}`);
  }
  return undefined;
}

/** Log lines readable (`time LEVEL [task[i] @worker] message`), or one JSON object a line with -o json. */
export function printLogs(lines: LogLine[], output?: string): string {
  return lines.map((l) => `${output === "json" ? JSON.stringify(l) : formatServerLine(l)}\n`).join("");
}

export function parseParams(list: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of list) {
    const eq = p.indexOf("=");
    if (eq <= 0) {
      throw new FlotillaError(
        ErrorCode.ParameterInvalid,
        `--param ${p}: expected key=value (e.g. --param n=10)`,
        { usage: true },
      );
    }
    const raw = p.slice(eq + 1);
    let v: unknown = raw;
    try {
      v = JSON.parse(raw);
    } catch {}
    out[p.slice(0, eq)] = v;
  }
  return out;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The `runs` command over a server. */
export const runsServerCommand = (program: Command): void => {
  const runs = program
    .command("runs")
    .description("flow runs kept by a Flotilla server: list, get, logs, cancel, retry, create");
  const connection = (c: Command) =>
    c
      .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
      .option("--token <token>", "API token (default: $FLOTILLA_API_TOKEN, else the home's admin token)");
  const common = (c: Command) => connection(c).addOption(outputOption(SERVER_FORMATS));
  common(runs.command("list").description("list runs, newest first"))
    .option("--state <state>", "only runs in this state")
    .option("--deployment <name>", "only runs of this deployment")
    .option("--flow <name>", "only runs of this flow")
    .option("--limit <n>", "page size (1-500)", "50")
    .option("--cursor <c>", "the next page, as printed under the previous one")
    .option("-A, --all-namespaces", "(runs on Kubernetes only: a server's runs are in no namespace)")
    .option("-l, --selector <selector>", "(runs on Kubernetes only: a server's runs have no labels)")
    .action(async (o: ServerCallOptions & { limit?: string; allNamespaces?: boolean; selector?: string }) => {
      if (o.allNamespaces || o.selector !== undefined) {
        throw new FlotillaError(
          ErrorCode.Usage,
          `${o.allNamespaces ? "-A" : "-l"} does nothing with --server: a server's runs are in no namespace and have no labels`,
          {
            hint: "filter with --flow, --deployment or --state; or drop --server for the runs on Kubernetes",
            usage: true,
          },
        );
      }
      process.stdout.write(await printRuns(await listServerRuns(o), o.output));
    });
  common(
    runs
      .command("get")
      .argument("<run-id>", "a run id or a unique prefix")
      .description("one run with its task runs"),
  ).action(async (id: string, o: ServerCallOptions) => {
    process.stdout.write(await printRun(await getServerRun(id, o), o.output));
  });
  connection(
    runs
      .command("logs")
      .argument("<run-id>", "a run id or a unique prefix")
      .description("the run's log lines: readable, or one JSON object a line with -o json"),
  )
    .addOption(outputOption(LOG_FORMATS))
    .option("--grep <text>", "only lines containing this text")
    .option("--tail <n>", "only the last N lines (-1: all)", "-1")
    .option("-f, --follow", "keep printing new lines until the run is in a final state")
    .action(async (id: string, o: ServerCallOptions & { grep?: string; tail: string; follow?: boolean }) => {
      const { tail: tailText, follow, ...call } = o;
      const tail = parseTail(tailText);
      if (!follow) {
        process.stdout.write(printLogs(await serverRunLogs(id, o), o.output));
        return;
      }
      await followUntilStopped((signal) =>
        followServerLogs(id, (l) => process.stdout.write(printLogs([l], o.output)), {
          ...call,
          ...(tail !== undefined ? { tail } : {}),
          signal,
        }),
      );
    });
  common(
    runs
      .command("cancel")
      .argument("<run-id>")
      .description("cancel the run (its agent removes what it created)"),
  ).action(async (id: string, o: ServerCallOptions) => {
    const r = await clientFor(o).post<FlowRunRecord>(`/api/runs/${enc(id)}/cancel`);
    process.stdout.write(await renderOutput(o.output, r, () => `run ${shortId(r.id)} ${r.state}\n`));
  });
  common(
    runs
      .command("retry")
      .argument("<run-id>")
      .description("start a new run of the same deployment and parameters"),
  ).action(async (id: string, o: ServerCallOptions) => {
    const r = await clientFor(o).post<FlowRunRecord>(`/api/runs/${enc(id)}/retry`);
    process.stdout.write(
      await renderOutput(o.output, r, () => `run ${r.id} ${r.state} (retry of ${shortId(id)})\n`),
    );
  });
  common(runs.command("create").argument("<deployment>").description("start a run of a deployment"))
    .option("--param <key=value>", "a parameter (repeatable); the value is JSON, or a string", collect)
    .action(async (deployment: string, o: ServerCallOptions & { param?: string[] }) => {
      const r = await clientFor(o).post<FlowRunRecord>(`/api/deployments/${enc(deployment)}/runs`, {
        parameters: parseParams(o.param),
      });
      process.stdout.write(await renderOutput(o.output, r, () => `run ${r.id} ${r.state}\n`));
    });
};
