// Agents: each one's pool, when it was last seen, and the runs it has in flight.

import { useEffect, useState } from "react";
import { useResource } from "../api.ts";
import { endpoints } from "../endpoints.ts";
import { useLiveEvents, useThrottled } from "../events.ts";
import { ago, formatTime } from "../format.ts";
import { Link } from "../router.tsx";
import { type Agent, items } from "../types.ts";

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
                    {a.runsInFlight ?? a.runs?.length ?? "—"}
                    {a.runs?.slice(0, 3).map((id) => (
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
