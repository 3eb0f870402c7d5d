// The task panel beside the graph: a task's attempts, times, worker, error and logs; for a mapped
// task its counts and its child task runs (failed first), a virtualized list that asks for the
// next page of children as it is scrolled, each openable for its own error.

import { useEffect, useMemo, useRef, useState } from "react";
import { formatDuration, formatTime } from "../format.ts";
import { isFinal, SegmentedBar, StateBadge, stateGroup } from "../states.tsx";
import { errorText, type TaskSummary, taskState } from "../tasks.ts";
import type { LogLine, TaskRun } from "../types.ts";
import { Logs } from "./logs.tsx";

/**
 * The order children are listed in: failed, retrying, running, then the others but Success, then
 * Success, each by index. It is the order their pages come in, so a page adds rows at the end.
 */
const RANK = { failed: 0, warning: 1, running: 2, pending: 3, cancelled: 3, skipped: 3, success: 4 };
/** A child row's height (styles.css: table.children tbody tr) and the rows drawn beyond the view. */
const ROW_H = 33;
const OVERSCAN = 12;
/** The next page is asked for when the view comes within this many rows of the last one loaded. */
const AHEAD = 60;

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
  onMore,
  paged = 0,
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
  /** Asks for the next page of the task's children (a mapped task). */
  onMore?: () => void;
  /** How many children its pages brought so far (the list asks for more when scrolled near them). */
  paged?: number;
  /** Where the task's (or its child's) whole logs download from. */
  logsDownload?: (slug: string, index: number | undefined) => string;
  now: number;
  onIndex: (i: number | undefined) => void;
  onClose: () => void;
}) {
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(420);
  const list = useRef<HTMLDivElement>(null);
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
  // Only the rows in view (and a few more) are drawn; the list is as tall as every child, and the
  // next page is asked for as the view nears the last row loaded.
  const total = summary?.mapped ? Math.max(summary.total, children.length) : children.length;
  const last = Math.min(children.length, Math.ceil((scrollTop + viewH) / ROW_H) + OVERSCAN);
  // (a view past the rows loaded draws none of them until their pages come)
  const first = Math.min(last, Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN));
  const shown = children.slice(first, last);
  const wantMore =
    summary?.mapped === true && !childrenLoaded && !child && last + AHEAD >= Math.min(paged, children.length);
  useEffect(() => {
    if (wantMore) onMore?.();
  });
  // biome-ignore lint/correctness/useExhaustiveDependencies: another task's list starts at its top
  useEffect(() => {
    setScrollTop(0);
    if (list.current) list.current.scrollTop = 0;
  }, [slug]);
  const listed = summary?.mapped === true && !child;
  // biome-ignore lint/correctness/useExhaustiveDependencies: the list's box is there while listed
  useEffect(() => {
    const el = list.current;
    if (!el) return;
    const o = new ResizeObserver(() => setViewH(el.clientHeight || 420));
    o.observe(el);
    return () => o.disconnect();
  }, [listed]);

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
            <p className="muted small" role="status" data-testid="children-loaded">
              {children.length.toLocaleString()} of its {summary.total.toLocaleString()} task runs loaded (the
              failed and running first); more load as you scroll.
            </p>
          )}
          {!child && (
            <div
              className="tablewrap childlist"
              ref={list}
              onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
              data-paged={paged}
            >
              <table className="compact children" aria-rowcount={total + 1}>
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
                  {first > 0 && (
                    <tr className="spacer" style={{ height: first * ROW_H }}>
                      <td colSpan={5} />
                    </tr>
                  )}
                  {shown.map((c, k) => (
                    <tr key={c.mapIndex} data-index={c.mapIndex} aria-rowindex={first + k + 2}>
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
                  {total > last && (
                    <tr className="spacer" style={{ height: (total - last) * ROW_H }}>
                      <td colSpan={5} />
                    </tr>
                  )}
                </tbody>
              </table>
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
