// The run page: header (state, reason, flow, times, parameters, Cancel/Retry) over four tabs —
// Graph (live task states, a mapped task is one node with counts; or the tasks as a list a
// keyboard reaches every one of, filtered by state), Timeline (per worker), Logs,
// Cluster (workers, target and pending over time with each scaling decision). Everything reloads
// from the event stream, throttled, so a 10,000-task run costs a few requests a second at most.

import { type KeyboardEvent, lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, useResource } from "../api.ts";
import { ConfirmButton } from "../components/confirm.tsx";
import { Dag } from "../components/dag.tsx";
import { Gantt } from "../components/gantt.tsx";
import { Logs } from "../components/logs.tsx";
import { RunEvents } from "../components/run-events.tsx";
import { TaskList } from "../components/task-list.tsx";
import { TaskPanel } from "../components/task-panel.tsx";
import { endpoints } from "../endpoints.ts";
import { useLiveEvents, useThrottled } from "../events.ts";
import { between, formatDuration, formatTime, number } from "../format.ts";
import { Link, navigate, setQuery, useRoute } from "../router.tsx";
import { isFinal, SegmentedBar, StateBadge } from "../states.tsx";
import { useTaskRuns } from "../task-runs.ts";
import { doneTotal, shareUnchanged, summarizeTasks, type TaskSummary, taskCounts } from "../tasks.ts";
import {
  type FlowRun,
  items,
  type LogLine,
  type RunEvent,
  type ScalingDecision,
  type WorkerSample,
} from "../types.ts";
import { NotFoundPage } from "./not-found.tsx";

// The cluster panel and its plotting library (uPlot) load when the Cluster tab opens, so a run's
// graph paints without them.
const ClusterPanel = lazy(() =>
  import("../components/cluster.tsx").then((m) => ({ default: m.ClusterPanel })),
);

const TABS = [
  ["graph", "Graph"],
  ["timeline", "Timeline"],
  ["logs", "Logs"],
  ["cluster", "Cluster"],
] as const;
type Tab = (typeof TABS)[number][0];

function useNow(live: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [live]);
  return live ? now : now;
}

let graphMarked = false;

export function RunPage({ id }: { id: string }) {
  const { query } = useRoute();
  const tab = (TABS.find(([t]) => t === query.get("tab"))?.[0] ?? "graph") as Tab;
  const selected = query.get("task") ?? undefined;
  const selectedIndex = query.get("index");
  // the Graph tab shows the graph or, for the keyboard and big graphs, the tasks as a list
  const asList = query.get("view") === "list";

  const run = useResource<FlowRun>(endpoints.run(id));
  const taskRuns = useTaskRuns(id);
  const logs = useResource<LogLine[] | { items: LogLine[] }>(
    run.data && (tab === "logs" || selected) ? endpoints.logs(id) : null,
  );
  const events = useResource<{ items: RunEvent[] }>(run.data && tab === "logs" ? endpoints.events(id) : null);
  const cluster = useResource<{ samples?: WorkerSample[]; decisions?: ScalingDecision[] }>(
    run.data && tab === "cluster" ? endpoints.cluster(id) : null,
  );

  const reloadRun = useThrottled(run.reload, 300);
  const reloadLogs = useThrottled(logs.reload, 500);
  const reloadCluster = useThrottled(cluster.reload, 500);
  const reloadEvents = useThrottled(events.reload, 300);
  useLiveEvents(
    (e) => e.data.runId === id || e.data.run === id || e.data.id === id,
    (e) => {
      if (e === "reconnected") {
        run.reload();
        taskRuns.reload();
        logs.reload();
        cluster.reload();
        events.reload();
        return;
      }
      // task-runs events are applied by useTaskRuns
      const t = e.type;
      if (/task/.test(t)) return;
      if (/log/.test(t)) reloadLogs();
      else if (/work|scal|sample|cluster/.test(t)) reloadCluster();
      else {
        reloadRun();
        reloadLogs();
        reloadCluster();
        reloadEvents();
      }
    },
  );

  const trs = useMemo(() => taskRuns.taskRuns ?? [], [taskRuns.taskRuns]);
  // Unchanged tasks keep their summary object, so the graph draws again only the nodes that changed.
  const lastSummaries = useRef<Map<string, TaskSummary> | undefined>(undefined);
  const summaries = useMemo(() => {
    const next = shareUnchanged(lastSummaries.current, summarizeTasks(trs, run.data?.dag, taskRuns.children));
    lastSummaries.current = next;
    return next;
  }, [trs, run.data?.dag, taskRuns.children]);
  // The header's counts follow the live task runs once they are here (the run's own counts are
  // as of its last fetch); a mapped task counts its children, not its parent.
  const liveCounts = useMemo(
    () => (taskRuns.taskRuns ? taskCounts(summaries.values(), !isFinal(run.data?.state)) : undefined),
    [taskRuns.taskRuns, summaries, run.data?.state],
  );
  useEffect(() => {
    if (taskRuns.appliedAt !== undefined)
      performance.mark("flotilla:task-runs-applied", { detail: { at: Date.now() } });
  }, [taskRuns.appliedAt]);
  const tasks = useMemo(() => [...summaries.values()], [summaries]);
  // The page painted from the task runs in brief: the timeline fetches every task run.
  const mappedSelected = selected !== undefined && summaries.get(selected)?.mapped === true;
  // (an opened mapped task's children come a page at a time, as its list asks for them)
  const { want, more } = taskRuns;
  useEffect(() => {
    if (tab === "timeline") want();
  }, [tab, want]);
  const moreOfSelected = useCallback(() => {
    if (selected !== undefined && mappedSelected) more(selected);
  }, [selected, mappedSelected, more]);
  const live = run.data ? !isFinal(run.data.state) : false;
  const now = useNow(live);

  const onSelect = useCallback(
    (slug: string, index?: number) =>
      setQuery({ task: slug, index: index !== undefined && index >= 0 ? String(index) : undefined }),
    [],
  );
  const onPainted = useCallback((info: { nodes: number; engine: string; layoutMs: number }) => {
    if (graphMarked) return;
    graphMarked = true;
    performance.mark("flotilla:graph-painted", { detail: info });
  }, []);

  const tabKeys = (e: KeyboardEvent<HTMLDivElement>) => {
    const i = TABS.findIndex(([t]) => t === tab);
    const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = TABS[(i + step + TABS.length) % TABS.length]?.[0];
    setQuery({ tab: next === "graph" ? undefined : next }, { replace: true });
    requestAnimationFrame(() => document.getElementById(`tab-${next}`)?.focus());
  };

  if (run.error?.status === 404) return <NotFoundPage what="run" id={id} />;
  if (run.error && !run.data)
    return (
      <p className="error" role="alert">
        Could not load run {id}: {run.error.message}
      </p>
    );
  const r0 = run.data;
  if (!r0) return <p className="muted">Loading run…</p>;
  const r = liveCounts ? { ...r0, taskCounts: liveCounts } : r0;
  const dt = doneTotal(r);
  const cannotCancel = isFinal(r.state)
    ? `The run has ended (${r.state}).`
    : r.state === "Cancelling"
      ? "The run is being cancelled already."
      : undefined;
  const cannotRetry = !isFinal(r.state)
    ? `The run is still ${r.state}: it can be retried once it has ended.`
    : r.state === "Success"
      ? "The run succeeded: there is nothing to retry."
      : !r.deploymentId
        ? "Only a deployment's run can be retried (an agent starts it again): this one was started by flotilla run, so run the flow again with flotilla run."
        : undefined;
  const params = Object.entries(r.parameters ?? {});
  // A long reason (a pod that cannot start, with its last events) shows its first line here; the
  // whole of it is in the run's events on the Logs tab.
  const [reasonHead = "", ...reasonRest] = (r.reason ?? "").split("\n");
  const reasonMore = reasonRest.length > 0 && tab !== "logs";

  return (
    <article className="runpage" aria-labelledby="run-title" data-run={r.id}>
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/">Runs</Link> <span aria-hidden="true">›</span> <span className="mono">{r.id}</span>
      </nav>
      <header className="runhead">
        <div className="runtitle">
          <h1 id="run-title">{r.flowName}</h1>
          <StateBadge state={r.state} />
          <div className="actions">
            <ConfirmButton
              label="Cancel run"
              title={`Cancel ${r.flowName}?`}
              body={
                <p>
                  Run <code>{r.id}</code> stops: its runner and workers are removed, and running task runs are
                  not awaited.
                </p>
              }
              confirm="Cancel the run"
              danger
              disabled={cannotCancel !== undefined}
              why={cannotCancel}
              onConfirm={async () => {
                await api(endpoints.cancel(r.id), { method: "POST", json: {} });
                run.reload();
              }}
            />
            <ConfirmButton
              label="Retry run"
              title={`Retry ${r.flowName}?`}
              body={<p>A new run of the same flow starts with the same parameters.</p>}
              confirm="Start a new run"
              disabled={cannotRetry !== undefined}
              why={cannotRetry}
              onConfirm={async () => {
                const created = await api<FlowRun | { run?: FlowRun }>(endpoints.retry(r.id), {
                  method: "POST",
                  json: {},
                });
                const nid = (created as FlowRun).id ?? (created as { run?: FlowRun }).run?.id;
                if (nid) navigate(`/runs/${encodeURIComponent(nid)}`);
              }}
            />
          </div>
        </div>
        {r.reason && (
          <p
            className={`reason ${r.state === "Failed" || r.state === "Crashed" ? "error" : "muted"}`}
            data-testid="reason"
          >
            {reasonHead}
            {reasonMore && (
              <>
                {" "}
                <Link to={`/runs/${encodeURIComponent(r.id)}?tab=logs`} className="more">
                  details in the run's events
                </Link>
              </>
            )}
          </p>
        )}
        <dl className="facts">
          <div>
            <dt>{r.startedAt ? "Started" : "Scheduled for"}</dt>
            <dd>{formatTime(r.startedAt ?? r.scheduledAt)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{r.startedAt ? formatDuration(between(r.startedAt, r.endedAt, now)) : "—"}</dd>
          </div>
          <div>
            <dt>Tasks</dt>
            <dd data-testid="tasks-done">
              {dt && dt.total > 0
                ? `${number.format(dt.done)} / ${number.format(dt.total)} done`
                : isFinal(r.state)
                  ? "none ran"
                  : "none yet"}
            </dd>
          </div>
          {r.workersPeak !== undefined && (
            <div>
              <dt>Workers peak</dt>
              <dd>{r.workersPeak}</dd>
            </div>
          )}
          {r.deploymentName && (
            <div>
              <dt>Deployment</dt>
              <dd>{r.deploymentName}</dd>
            </div>
          )}
          {r.pool && (
            <div>
              <dt>Pool</dt>
              <dd>{r.pool}</dd>
            </div>
          )}
          {r.infraRef && (
            <div>
              <dt>Infrastructure</dt>
              <dd className="mono">{r.infraRef}</dd>
            </div>
          )}
          {r.retryOf && (
            <div>
              <dt>Retry of</dt>
              <dd>
                <Link to={`/runs/${encodeURIComponent(r.retryOf)}`} className="mono">
                  {r.retryOf.slice(0, 8)}
                </Link>
              </dd>
            </div>
          )}
        </dl>
        {r.taskCounts && Object.keys(r.taskCounts).length > 0 && <SegmentedBar counts={r.taskCounts} />}
        {params.length > 0 && (
          <details className="params-view">
            <summary>Parameters ({params.length})</summary>
            <dl>
              {params.map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd className="mono">{JSON.stringify(v)}</dd>
                </div>
              ))}
            </dl>
          </details>
        )}
      </header>

      <div className="tabbar">
        <div className="tabs" role="tablist" aria-label="Run views" onKeyDown={tabKeys}>
          {TABS.map(([t, label]) => (
            <button
              key={t}
              id={`tab-${t}`}
              type="button"
              role="tab"
              aria-selected={tab === t}
              aria-controls="tabpanel"
              tabIndex={tab === t ? 0 : -1}
              onClick={() => setQuery({ tab: t === "graph" ? undefined : t }, { replace: true })}
            >
              {label}
            </button>
          ))}
        </div>
        {tab === "graph" && (
          <fieldset className="viewswitch">
            <legend className="sr-only">Show the tasks as</legend>
            <button
              type="button"
              aria-pressed={!asList}
              onClick={() => setQuery({ view: undefined }, { replace: true })}
            >
              Graph
            </button>
            <button
              type="button"
              aria-pressed={asList}
              onClick={() => setQuery({ view: "list" }, { replace: true })}
            >
              List
            </button>
          </fieldset>
        )}
      </div>
      <div className="runbody">
        <section id="tabpanel" role="tabpanel" aria-labelledby={`tab-${tab}`} className="tabpanel">
          {tab === "graph" &&
            (!taskRuns.taskRuns ? (
              <p className="muted empty">Loading task runs…</p>
            ) : asList ? (
              <TaskList tasks={tasks} selected={selected} onSelect={onSelect} />
            ) : (
              <Dag tasks={tasks} selected={selected} onSelect={onSelect} onPainted={onPainted} />
            ))}
          {tab === "timeline" && <Gantt taskRuns={trs} onSelect={onSelect} now={now} />}
          {tab === "logs" && (
            <>
              <RunEvents events={events.data?.items ?? []} />
              <Logs lines={items(logs.data)} download={`/api${endpoints.logsDownload(r.id)}`} />
            </>
          )}
          {tab === "cluster" && (
            <Suspense fallback={<p className="muted empty">Loading the cluster panel…</p>}>
              <ClusterPanel samples={cluster.data?.samples ?? []} decisions={cluster.data?.decisions ?? []} />
            </Suspense>
          )}
        </section>
        {selected && (
          <TaskPanel
            summary={summaries.get(selected)}
            slug={selected}
            taskRuns={trs}
            childrenLoaded={taskRuns.has(selected)}
            attempts={taskRuns.attempts}
            index={selectedIndex === null ? undefined : Number(selectedIndex)}
            logs={items(logs.data)}
            onMore={moreOfSelected}
            paged={taskRuns.pagedRows(selected)}
            logsDownload={(slug, index) => `/api${endpoints.logsDownload(r.id, slug, index)}`}
            now={now}
            onIndex={(i) => setQuery({ index: i === undefined ? undefined : String(i) })}
            onClose={() => setQuery({ task: undefined, index: undefined })}
          />
        )}
      </div>
    </article>
  );
}
