// Agents: each one's pool, when it was last seen, and the runs it has in flight.

import { useEffect, useState } from "react";
import { api, useResource } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { useLiveEvents, useThrottled } from "../events.ts";
import { ago, formatTime } from "../format.ts";
import { Link } from "../router.tsx";
import { type Agent, type FlowRun, items, type Page } from "../types.ts";

/** States of a run an agent holds. */
const LIVE = ["Pending", "Starting", "Running", "Cancelling"];

/** The live runs by agent id (the server's runs list, one call per live state). */
function useRunsInFlight(tick: number): Map<string, FlowRun[]> {
  const [byAgent, setByAgent] = useState(new Map<string, FlowRun[]>());
  // biome-ignore lint/correctness/useExhaustiveDependencies: reloaded on each tick
  useEffect(() => {
    let live = true;
    void Promise.all(
      LIVE.map((state) =>
        api<Page<FlowRun>>(endpoints.runs(new URLSearchParams({ state, limit: "500" }))).catch(
          () => undefined,
        ),
      ),
    ).then((pages) => {
      if (!live) return;
      const m = new Map<string, FlowRun[]>();
      for (const r of pages.flatMap((p) => p?.items ?? [])) {
        if (!r.agentId) continue;
        m.set(r.agentId, [...(m.get(r.agentId) ?? []), r]);
      }
      setByAgent(m);
    });
    return () => {
      live = false;
    };
  }, [tick]);
  return byAgent;
}

/** An agent not seen for this long is shown as gone. */
const STALE_MS = 60_000;

export function AgentsPage() {
  const agents = useResource<Agent[] | { items: Agent[] }>(endpoints.agents());
  const reload = useThrottled(agents.reload, 1000);
  useLiveEvents((e) => /agent|run/.test(e.type), reload);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => {
      setNow(Date.now());
      agents.reload();
    }, 10_000);
    return () => clearInterval(t);
  }, [agents.reload]);
  const all = items(agents.data);
  const inFlight = useRunsInFlight(now);
  return (
    <section aria-labelledby="agents-title">
      <div className="pagehead">
        <h1 id="agents-title">Agents</h1>
        <span className="muted">
          start one with <code>flotilla agent --pool POOL --server URL</code>
        </span>
      </div>
      {agents.error && (
        <p className="error" role="alert">
          Could not load agents: {agents.error.message}
        </p>
      )}
      <div className="tablewrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Pool</th>
              <th scope="col">Last seen</th>
              <th scope="col" className="num">
                Runs in flight
              </th>
            </tr>
          </thead>
          <tbody>
            {all.map((a) => {
              const stale = now - a.lastSeenAt > STALE_MS;
              return (
                <tr key={a.id} data-agent={a.id}>
                  <td>
                    <span className={`badge ${stale ? "st-failed" : "st-success"}`}>
                      {stale ? "✕ Gone" : "✓ Live"}
                    </span>{" "}
                    {a.name} <span className="muted mono small">{a.id.slice(0, 8)}</span>
                  </td>
                  <td>{a.pool}</td>
                  <td title={formatTime(a.lastSeenAt)}>{ago(a.lastSeenAt, now)}</td>
                  <td className="num">
                    {a.runsInFlight ?? a.runs?.length ?? inFlight.get(a.id)?.length ?? 0}
                    {(a.runs ?? inFlight.get(a.id)?.map((r) => r.id) ?? []).slice(0, 3).map((id) => (
                      <Link key={id} to={`/runs/${encodeURIComponent(id)}`} className="mono small">
                        {" "}
                        {id.slice(0, 8)}
                      </Link>
                    ))}
                  </td>
                </tr>
              );
            })}
            {agents.data && all.length === 0 && (
              <tr>
                <td colSpan={4} className="empty">
                  No agent has connected. <code>flotilla server</code> runs a local one for the local pool.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
