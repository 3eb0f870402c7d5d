// Logs of a run: follow (stick to the end as lines arrive), search, by task and by worker, the
// lines the agent wrote about the runner's pod (why it never started: image pull, unschedulable),
// and a link that downloads every line the server kept as a text file.

import { useEffect, useMemo, useRef, useState } from "react";
import { formatTime } from "../format.ts";
import type { LogLine } from "../types.ts";

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

/**
 * Where a line comes from: its `source` when the server gives one (the agent stores the Events of
 * the run's Job and pods with source `k8s`, shown as `kubernetes`), else guessed from older lines'
 * worker field; `flow` for the runner's and tasks' own lines.
 */
export function lineSource(l: LogLine): string {
  if (l.source) return l.source === "k8s" ? "kubernetes" : l.source;
  if (l.worker === "kubernetes" || /^(pod|event)\b/i.test(l.worker ?? "")) return "kubernetes";
  if (/^agent\b/i.test(l.worker ?? "")) return "agent";
  return "flow";
}

const SOURCE_NAMES: Record<string, string> = { flow: "Flow", kubernetes: "Kubernetes", agent: "Agent" };
const sourceName = (s: string) => SOURCE_NAMES[s] ?? s;

/** Lines about infrastructure (pod events, the agent, the runner's termination message). */
export function isInfraLine(l: LogLine): boolean {
  return (
    lineSource(l) !== "flow" ||
    /\b(ImagePullBackOff|ErrImagePull|Unschedulable|FailedScheduling|OOMKilled|Evicted|BackOff)\b/.test(
      l.message,
    )
  );
}

/** Lines by time: pod events the agent stores come in later than the flow lines around them. */
function byTime(lines: LogLine[]): LogLine[] {
  for (let i = 1; i < lines.length; i++)
    if ((lines[i]?.ts ?? 0) < (lines[i - 1]?.ts ?? 0)) return [...lines].sort((a, b) => a.ts - b.ts);
  return lines;
}

export function Logs({
  lines: unordered,
  slug,
  follow: followInitially = true,
  compact,
  download,
}: {
  lines: LogLine[];
  /** Where the whole of these logs downloads from (a URL of the API). */
  download?: string;
  /** Only this task's lines (the task panel). */
  slug?: string;
  follow?: boolean;
  compact?: boolean;
}) {
  const [search, setSearch] = useState("");
  const [task, setTask] = useState(slug ?? "");
  const [worker, setWorker] = useState("");
  const [level, setLevel] = useState("");
  const [source, setSource] = useState("");
  const [follow, setFollow] = useState(followInitially);
  const box = useRef<HTMLElement>(null);
  const lines = useMemo(() => byTime(unordered), [unordered]);

  const tasks = useMemo(
    () => [...new Set(lines.map((l) => l.slug).filter(Boolean))].sort() as string[],
    [lines],
  );
  const workers = useMemo(
    () => [...new Set(lines.map((l) => l.worker).filter(Boolean))].sort() as string[],
    [lines],
  );
  const sources = useMemo(() => [...new Set(lines.map(lineSource))].sort(), [lines]);
  const shown = useMemo(() => {
    const q = search.toLowerCase();
    const minLevel = level ? LEVELS.indexOf(level) : -1;
    return lines.filter(
      (l) =>
        (!task || l.slug === task) &&
        (!worker || l.worker === worker) &&
        (!source || lineSource(l) === source) &&
        (minLevel < 0 || LEVELS.indexOf(l.level) >= minLevel) &&
        (!q || l.message.toLowerCase().includes(q)),
    );
  }, [lines, search, task, worker, level, source]);
  const visible = shown.length > 5000 ? shown.slice(-5000) : shown;

  useEffect(() => {
    const el = box.current;
    if (follow && el && visible.length >= 0) el.scrollTop = el.scrollHeight;
  }, [visible, follow]);

  return (
    <div className={compact ? "logs compact" : "logs"}>
      <div className="filters">
        <label>
          Search{" "}
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="text in the line"
          />
        </label>
        {!slug && (
          <label>
            Task{" "}
            <select value={task} onChange={(e) => setTask(e.target.value)}>
              <option value="">all tasks</option>
              {tasks.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
        )}
        <label>
          Worker{" "}
          <select value={worker} onChange={(e) => setWorker(e.target.value)}>
            <option value="">all workers</option>
            {workers.map((w) => (
              <option key={w}>{w}</option>
            ))}
          </select>
        </label>
        {(sources.length > 1 || source) && (
          <label>
            Source{" "}
            <select value={source} onChange={(e) => setSource(e.target.value)}>
              <option value="">all sources</option>
              {sources.map((x) => (
                <option key={x} value={x}>
                  {sourceName(x)}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          Level{" "}
          <select value={level} onChange={(e) => setLevel(e.target.value)}>
            <option value="">any level</option>
            {LEVELS.slice(2).map((l) => (
              <option key={l} value={l}>
                {l} and above
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        {download && (
          // every line the server kept (not only those loaded here), secrets scrubbed, as a file
          <a className="button download" href={download} download>
            Download logs
          </a>
        )}
      </div>
      <section
        className="loglines"
        ref={box}
        aria-label="Log lines"
        aria-live={follow ? "polite" : "off"}
        onScroll={(e) => {
          const el = e.currentTarget;
          const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          if (follow !== atEnd && !atEnd) setFollow(false);
        }}
      >
        {visible.length === 0 && (
          <p className="muted">{lines.length ? "No line matches." : "No log line yet."}</p>
        )}
        {shown.length > visible.length && (
          <p className="muted">
            … {shown.length - visible.length} earlier lines not shown (search to narrow).
          </p>
        )}
        {visible.map((l, i) => {
          const from = lineSource(l);
          return (
            <div
              // biome-ignore lint/suspicious/noArrayIndexKey: log lines have no id; the list only grows at the end
              key={`${l.ts}-${i}`}
              className={`logline lv-${l.level}${isInfraLine(l) ? " infra" : ""}`}
              data-source={from}
            >
              <span className="ts">{formatTime(l.ts)}</span>
              <span className="lv">{l.level.toUpperCase()}</span>
              {from !== "flow" && <span className={`src src-${from}`}>{sourceName(from)}</span>}
              {(l.slug || l.worker) && (
                <span className="where">
                  {l.slug
                    ? `${l.slug}${l.mapIndex !== undefined && l.mapIndex >= 0 ? `[${l.mapIndex}]` : ""}`
                    : ""}
                  {l.slug && l.worker ? " @ " : ""}
                  {l.worker ?? ""}
                </span>
              )}
              <span className="msg">{l.message}</span>
            </div>
          );
        })}
      </section>
    </div>
  );
}
