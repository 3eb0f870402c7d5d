// The timeline: task runs as bars in one lane per worker (Dask's task stream after the fact), drawn
// on a canvas so 10,000 bars stay cheap. Hovering a bar names it; clicking opens its task. A text
// summary per lane sits beside the picture for keyboards and screen readers.

import { useEffect, useMemo, useRef, useState } from "react";
import { formatDuration, formatTime } from "../format.ts";
import { stateGroup } from "../states.tsx";
import { busyTime, type Lane, workerLanes } from "../tasks.ts";
import type { TaskRun } from "../types.ts";

const LANE_H = 26;
const LABEL_W = 150;
const AXIS_H = 22;

/** Where time `t` falls on a canvas `width` wide showing t0..t1 after the lane labels. */
function toX(t: number, t0: number, t1: number, width: number): number {
  return LABEL_W + ((t - t0) / (t1 - t0)) * (width - LABEL_W - 8);
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export function Gantt({
  taskRuns,
  onSelect,
  now,
}: {
  taskRuns: TaskRun[];
  onSelect: (slug: string, mapIndex: number) => void;
  now: number;
}) {
  const lanes = useMemo(() => workerLanes(taskRuns), [taskRuns]);
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(900);
  const [hover, setHover] = useState<{ x: number; y: number; run: TaskRun } | undefined>();

  const t0 = Math.min(...lanes.flatMap((l) => l.runs.map((r) => r.startedAt ?? now)), now);
  const t1 = Math.max(...lanes.flatMap((l) => l.runs.map((r) => r.endedAt ?? now)), t0 + 1000);
  const height = AXIS_H + lanes.length * LANE_H + 4;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(320, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx) return;
    const x = (t: number) => toX(t, t0, t1, width);
    const dpr = window.devicePixelRatio || 1;
    c.width = width * dpr;
    c.height = height * dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    // Axis: a tick per fifth of the span.
    ctx.fillStyle = cssVar("--muted");
    ctx.strokeStyle = cssVar("--grid");
    for (let i = 0; i <= 5; i++) {
      const t = t0 + ((t1 - t0) * i) / 5;
      const px = x(t);
      ctx.beginPath();
      ctx.moveTo(px, AXIS_H - 4);
      ctx.lineTo(px, height);
      ctx.stroke();
      ctx.textAlign = i === 5 ? "right" : i === 0 ? "left" : "center";
      ctx.fillText(`+${formatDuration(t - t0)}`, px, AXIS_H / 2);
    }
    ctx.textAlign = "left";
    const colours: Record<string, string> = {};
    lanes.forEach((lane, i) => {
      const y = AXIS_H + i * LANE_H;
      if (i % 2 === 0) {
        ctx.fillStyle = cssVar("--stripe");
        ctx.fillRect(0, y, width, LANE_H);
      }
      ctx.fillStyle = cssVar("--fg");
      ctx.fillText(lane.worker.length > 20 ? `…${lane.worker.slice(-19)}` : lane.worker, 6, y + LANE_H / 2);
      for (const r of lane.runs) {
        const g = stateGroup(r.state);
        colours[g] ??= cssVar(`--${g}`);
        ctx.fillStyle = colours[g] as string;
        const a = x(r.startedAt ?? now);
        const b = Math.max(a + 1.5, x(r.endedAt ?? now));
        ctx.fillRect(a, y + 4, b - a, LANE_H - 8);
      }
    });
  }, [lanes, width, height, t0, t1, now]);

  const hit = (e: React.MouseEvent<HTMLCanvasElement>): TaskRun | undefined => {
    const rect = e.currentTarget.getBoundingClientRect();
    const px = e.clientX - rect.left;
    const lane: Lane | undefined = lanes[Math.floor((e.clientY - rect.top - AXIS_H) / LANE_H)];
    if (!lane || px < LABEL_W) return undefined;
    const t = t0 + ((px - LABEL_W) / (width - LABEL_W - 8)) * (t1 - t0);
    const slack = ((t1 - t0) / width) * 2;
    return lane.runs.find((r) => (r.startedAt ?? now) - slack <= t && t <= (r.endedAt ?? now) + slack);
  };

  if (lanes.length === 0) return <p className="muted empty">No task run has started yet.</p>;
  return (
    <div className="gantt" ref={box}>
      <p className="muted small">
        {lanes.length} lane{lanes.length === 1 ? "" : "s"} · {formatTime(t0)} → {formatTime(t1)} ·{" "}
        {formatDuration(t1 - t0)}
      </p>
      <div className="gantt-canvas">
        <canvas
          ref={canvas}
          style={{ width, height }}
          role="img"
          aria-label={`Timeline of task runs on ${lanes.length} workers`}
          onMouseMove={(e) => {
            const run = hit(e);
            setHover(run ? { x: e.nativeEvent.offsetX, y: e.nativeEvent.offsetY, run } : undefined);
          }}
          onMouseLeave={() => setHover(undefined)}
          onClick={(e) => {
            const run = hit(e);
            if (run) onSelect(run.slug, run.mapIndex);
          }}
        />
        {hover && (
          <div className="tooltip" style={{ left: hover.x + 12, top: hover.y + 8 }}>
            <strong>
              {hover.run.slug}
              {hover.run.mapIndex >= 0 ? `[${hover.run.mapIndex}]` : ""}
            </strong>{" "}
            {hover.run.state} · {formatDuration((hover.run.endedAt ?? now) - (hover.run.startedAt ?? now))}
            {hover.run.worker ? ` · ${hover.run.worker}` : ""}
          </div>
        )}
      </div>
      <table className="compact lanes">
        <caption className="sr-only">Task runs per worker</caption>
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col" className="num">
              Task runs
            </th>
            <th scope="col" className="num" title="Time with at least one task run running">
              Busy
            </th>
          </tr>
        </thead>
        <tbody>
          {lanes.map((l) => (
            <tr key={l.worker}>
              <td className="mono">{l.worker}</td>
              <td className="num">{l.runs.length.toLocaleString()}</td>
              <td className="num">{formatDuration(busyTime(l.runs, now))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
