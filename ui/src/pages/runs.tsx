// The runs page (home): every run newest first with its state, flow, start, duration, task
// progress and peak workers (the server sends each row's figures); filters by flow, state and time,
// applied by the server; keyset paging (100,000 runs page as fast as 10); live: the page reloads
// when a run changes.

import { type KeyboardEvent, useEffect, useMemo, useState } from "react";
import { useResource } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { useLiveEvents, useThrottled } from "../events.ts";
import { between, formatDuration, formatTime, number, shortId } from "../format.ts";
import { Link, setQuery, useRoute } from "../router.tsx";
import { SegmentedBar, StateBadge } from "../states.tsx";
import { doneTotal } from "../tasks.ts";
import type { FlowRun, Page } from "../types.ts";

export const RUN_STATES = [
  "Scheduled",
  "Pending",
  "Starting",
  "Running",
  "Cancelling",
  "Success",
  "Failed",
  "Crashed",
  "Cancelled",
];

const RANGES: Record<string, number> = {
  "1h": 3600e3,
  "24h": 86400e3,
  "7d": 7 * 86400e3,
  "30d": 30 * 86400e3,
};
const PAGE = 50;

/** Focus moves between rows with the arrow keys (and j/k), Enter opens the run. */
function rowKeys(e: KeyboardEvent<HTMLTableSectionElement>): void {
  const keys: Record<string, number> = { ArrowDown: 1, j: 1, ArrowUp: -1, k: -1 };
  const step = keys[e.key];
  if (!step) return;
  const links = [...e.currentTarget.querySelectorAll<HTMLAnchorElement>("a.rowlink")];
  const i = links.indexOf(document.activeElement as HTMLAnchorElement);
  const next = links[Math.max(0, Math.min(links.length - 1, i + step))];
  if (next) {
    e.preventDefault();
    next.focus();
  }
}

export function RunsPage() {
  const { query } = useRoute();
  const flow = query.get("flow") ?? "";
  const state = query.get("state") ?? "";
  const range = query.get("range") ?? "";
  const cursor = query.get("cursor") ?? "";
  const [flowInput, setFlowInput] = useState(flow);
  const [cursors, setCursors] = useState<string[]>([]);
  const [now] = useState(() => Date.now());

  const path = useMemo(() => {
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (flow) p.set("flow", flow);
    if (state) p.set("state", state);
    const r = RANGES[range];
    if (r) p.set("since", String(now - r));
    if (cursor) p.set("cursor", cursor);
    return endpoints.runs(p);
  }, [flow, state, range, cursor, now]);
  const runs = useResource<Page<FlowRun>>(path);
  const reload = useThrottled(runs.reload, 500);
  useLiveEvents((e) => e.type.startsWith("run") || e.type === "state", reload);

  const rows = runs.data?.items ?? [];
  useEffect(() => {
    if (runs.data) performance.mark("flotilla:runs-page", { detail: { cursor, rows: rows.length } });
  }, [runs.data, cursor, rows.length]);

  const older = () => {
    if (!runs.data?.next) return;
    setCursors((c) => [...c, cursor]);
    setQuery({ cursor: runs.data.next });
  };
  const newer = () => {
    const prev = cursors[cursors.length - 1];
    setCursors((c) => c.slice(0, -1));
    setQuery({ cursor: prev || undefined });
  };

  return (
    <section aria-labelledby="runs-title">
      <div className="pagehead">
        <h1 id="runs-title">Runs</h1>
        {runs.data?.total !== undefined && (
          <span className="muted">{number.format(runs.data.total)} in all</span>
        )}
      </div>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([]);
          setQuery({ flow: flowInput.trim(), cursor: undefined });
        }}
      >
        <label>
          Flow{" "}
          <input
            name="flow"
            value={flowInput}
            placeholder="any flow"
            onChange={(e) => setFlowInput(e.target.value)}
            onBlur={() =>
              flowInput.trim() !== flow && setQuery({ flow: flowInput.trim(), cursor: undefined })
            }
          />
        </label>
        <label>
          State{" "}
          <select
            name="state"
            value={state}
            onChange={(e) => {
              setCursors([]);
              setQuery({ state: e.target.value, cursor: undefined });
            }}
          >
            <option value="">any state</option>
            {RUN_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Created{" "}
          <select
            name="range"
            value={range}
            onChange={(e) => {
              setCursors([]);
              setQuery({ range: e.target.value, cursor: undefined });
            }}
          >
            <option value="">any time</option>
            <option value="1h">last hour</option>
            <option value="24h">last 24 hours</option>
            <option value="7d">last 7 days</option>
            <option value="30d">last 30 days</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>

      {runs.error && !runs.data && (
        <p className="error" role="alert">
          Could not load runs: {runs.error.message}
        </p>
      )}
      <div className="tablewrap">
        <table className="runs" aria-busy={runs.loading}>
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col">Run</th>
              <th scope="col">Flow</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Tasks</th>
              <th scope="col" className="num">
                Workers peak
              </th>
            </tr>
          </thead>
          <tbody onKeyDown={rowKeys}>
            {rows.map((r) => {
              const dt = doneTotal(r);
              return (
                <tr key={r.id} data-run={r.id} data-state={r.state}>
                  <td className="c-state">
                    <StateBadge state={r.state} title={r.reason ? `${r.state}: ${r.reason}` : r.state} />
                  </td>
                  <td className="c-run">
                    <Link className="rowlink mono" to={`/runs/${encodeURIComponent(r.id)}`} title={r.id}>
                      {shortId(r.id)}
                    </Link>
                  </td>
                  <td className="c-flow">
                    <span className="flowname">{r.flowName}</span>
                    {r.deploymentName && <span className="muted"> · {r.deploymentName}</span>}
                  </td>
                  <td className="c-start">{formatTime(r.startedAt ?? r.scheduledAt ?? r.createdAt)}</td>
                  <td className="c-dur" data-label="took">
                    {r.startedAt ? formatDuration(between(r.startedAt, r.endedAt)) : "—"}
                  </td>
                  <td className="c-tasks">
                    {dt && dt.total > 0 ? (
                      <span className="tasks">
                        {r.taskCounts && <SegmentedBar counts={r.taskCounts} compact />}
                        <span className="tasks-text">
                          {number.format(dt.done)}/{number.format(dt.total)}
                        </span>
                      </span>
                    ) : (
                      "—"
                    )}
                  </td>
                  <td className="num c-workers" data-label="workers peak">
                    {r.workersPeak ?? "—"}
                  </td>
                </tr>
              );
            })}
            {runs.data && rows.length === 0 && (
              <tr>
                <td colSpan={7} className="empty">
                  No runs{flow || state || range ? " match these filters" : " yet: start one with "}
                  {!(flow || state || range) && <code>flotilla run flow.ts --server URL</code>}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <button type="button" onClick={newer} disabled={!cursor}>
          ← Newer
        </button>
        <span className="muted">
          {rows.length > 0 ? `${rows.length} run${rows.length === 1 ? "" : "s"} on this page` : ""}
        </span>
        <button type="button" onClick={older} disabled={!runs.data?.next}>
          Older →
        </button>
      </nav>
    </section>
  );
}
