// The task panel beside the graph: a task's attempts, times, worker, error and logs; for a mapped
// task its counts and its child task runs (failed first, paged), each openable for its own error.

import { useEffect, useMemo, useRef, useState } from "react";
import { formatDuration, formatTime } from "../format.ts";
import { isFinal, SegmentedBar, StateBadge, stateGroup } from "../states.tsx";
import { errorText, type TaskSummary, taskState } from "../tasks.ts";
import type { LogLine, TaskRun } from "../types.ts";
import { Logs } from "./logs.tsx";

const PAGE = 100;
const RANK = { failed: 0, warning: 1, running: 2, pending: 3, success: 4, cancelled: 5, skipped: 6 };

/** Every attempt of one task run, oldest first: the earlier ones as they ended, then the current one. */
function Attempts({ r, earlier, now }: { r: TaskRun; earlier: TaskRun[]; now: number }) {
  if (earlier.length === 0) return null;
  const all = [...earlier.filter((a) => a.attempt < r.attempt), r];
  return (
    <div className="attempts">
      <h3>Attempts</h3>
      <table className="compact" data-testid="attempts">
        <thead>
          <tr>
            <th scope="col" className="num">
              #
            </th>
            <th scope="col">State</th>
            <th scope="col" className="num">
              Took
            </th>
            <th scope="col">Why it ended</th>
          </tr>
        </thead>
        <tbody>
          {all.map((a) => (
            <tr key={a.attempt} data-attempt={a.attempt}>
              <td className="num">{a.attempt}</td>
              <td>
                <StateBadge state={a.state} />
              </td>
              <td className="num" title={formatTime(a.startedAt)}>
                {a.startedAt !== undefined ? formatDuration((a.endedAt ?? now) - a.startedAt) : "—"}
              </td>
              <td className="why">
                {a === r && !isFinal(a.state) ? "" : (errorText(a)?.split("\n")[0] ?? "")}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RunFacts({ r, now, attempts }: { r: TaskRun; now: number; attempts: TaskRun[] }) {
  const err = errorText(r);
  const earlier = attempts.filter((a) => a.slug === r.slug && a.mapIndex === r.mapIndex);
  return (
    <>
      <dl className="facts">
        <div>
          <dt>State</dt>
          <dd>
            <StateBadge state={r.state} />
          </dd>
        </div>
        <div>
          <dt>Attempt</dt>
          <dd data-testid="attempt">{r.attempt}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatTime(r.startedAt)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{r.startedAt !== undefined ? formatDuration((r.endedAt ?? now) - r.startedAt) : "—"}</dd>
        </div>
        <div>
          <dt>Worker</dt>
          <dd className="mono">{r.worker ?? "—"}</dd>
        </div>
      </dl>
      {err && (
        <div className="task-error">
          <h3>Error</h3>
          <pre data-testid="task-error">{err}</pre>
        </div>
      )}
      {!err && r.message && <p className="muted">{r.message}</p>}
      <Attempts r={r} earlier={earlier} now={now} />
    </>
  );
}

export function TaskPanel({
  slug,
  summary,
  taskRuns,
  childrenLoaded,
  attempts,
  index,
  logs,
  logsDownload,
  now,
  onIndex,
  onClose,
}: {
  slug: string;
  summary: TaskSummary | undefined;
  taskRuns: TaskRun[];
  /** Whether `taskRuns` holds every child of the task (else the failed and running ones, until they come). */
  childrenLoaded: boolean;
  /** Earlier attempts of retried task runs. */
  attempts: TaskRun[];
  index: number | undefined;
  logs: LogLine[];
  /** Where the task's (or its child's) whole logs download from. */
  logsDownload?: (slug: string, index: number | undefined) => string;
  now: number;
  onIndex: (i: number | undefined) => void;
  onClose: () => void;
}) {
  const [page, setPage] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: focus moves to the panel when another task opens
  useEffect(() => {
    heading.current?.focus();
  }, [slug]);
  const children = useMemo(
    () =>
      taskRuns
        .filter((r) => r.slug === slug && r.mapIndex >= 0)
        .sort((a, b) => RANK[stateGroup(a.state)] - RANK[stateGroup(b.state)] || a.mapIndex - b.mapIndex),
    [taskRuns, slug],
  );
  const child = index !== undefined ? children.find((c) => c.mapIndex === index) : undefined;
  const head = summary?.head;
  const taskLogs = useMemo(
    () => logs.filter((l) => l.slug === slug && (index === undefined || l.mapIndex === index)),
    [logs, slug, index],
  );
  const pages = Math.ceil(children.length / PAGE);
  const shown = children.slice(page * PAGE, (page + 1) * PAGE);

  return (
    <aside
      className="taskpanel card"
      aria-labelledby="task-title"
      data-slug={slug}
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <div className="taskpanel-head">
        <h2 id="task-title" tabIndex={-1} ref={heading}>
          {slug}
          {child ? `[${child.mapIndex}]` : ""}
        </h2>
        <button type="button" onClick={onClose} aria-label="Close the task panel">
          ✕
        </button>
      </div>
      {!summary && <p className="muted">This task has not run.</p>}
      {summary && !summary.mapped && head && <RunFacts r={head} now={now} attempts={attempts} />}
      {summary && !summary.mapped && !head && (
        <p className="muted">
          Not started yet
          {summary.upstream.length > 0 ? `: it runs after ${summary.upstream.join(", ")}` : ""}.
        </p>
      )}
      {summary?.mapped && (
        <>
          <p>
            Mapped over <strong>{summary.total.toLocaleString()}</strong> inputs ·{" "}
            <StateBadge state={taskState(summary)} />
          </p>
          <SegmentedBar counts={summary.counts} />
          {child && (
            <div className="child">
              <button type="button" className="link" onClick={() => onIndex(undefined)}>
                ← all {summary.total.toLocaleString()} children
              </button>
              <RunFacts r={child} now={now} attempts={attempts} />
            </div>
          )}
          {!child && !childrenLoaded && children.length < summary.total && (
            <p className="muted small" role="status">
              Loading its {summary.total.toLocaleString()} task runs ({children.length.toLocaleString()} shown
              so far, the failed and running first)…
            </p>
          )}
          {!child && (
            <div className="tablewrap">
              <table className="compact children">
                <caption className="sr-only">Child task runs, failed first</caption>
                <colgroup>
                  <col className="c-index" />
                  <col className="c-state" />
                  <col className="c-try" />
                  <col className="c-took" />
                  <col />
                </colgroup>
                <thead>
                  <tr>
                    <th scope="col" className="num">
                      Index
                    </th>
                    <th scope="col">State</th>
                    <th scope="col" className="num" title="Attempt">
                      Try
                    </th>
                    <th scope="col" className="num" title="Duration">
                      Took
                    </th>
                    <th scope="col">Worker</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((c) => (
                    <tr key={c.mapIndex} data-index={c.mapIndex}>
                      <td className="num">
                        <button type="button" className="link" onClick={() => onIndex(c.mapIndex)}>
                          [{c.mapIndex}]
                        </button>
                      </td>
                      <td>
                        <StateBadge state={c.state} title={errorText(c)} />
                      </td>
                      <td className="num">{c.attempt}</td>
                      <td className="num">
                        {c.startedAt !== undefined && stateGroup(c.state) !== "pending"
                          ? formatDuration((c.endedAt ?? now) - c.startedAt)
                          : "—"}
                      </td>
                      <td className="mono worker" title={c.worker}>
                        {/* the end of a long pod name tells workers apart: cut at its start */}
                        <span>{c.worker ?? "—"}</span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {pages > 1 && (
                <nav className="pager" aria-label="Child pages">
                  <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
                    ←
                  </button>
                  <span className="muted">
                    {page + 1} / {pages}
                  </span>
                  <button type="button" disabled={page >= pages - 1} onClick={() => setPage(page + 1)}>
                    →
                  </button>
                </nav>
              )}
            </div>
          )}
        </>
      )}
      <h3>Logs</h3>
      <Logs
        lines={taskLogs}
        slug={slug}
        compact
        follow={false}
        {...(logsDownload ? { download: logsDownload(slug, index) } : {})}
      />
    </aside>
  );
}
