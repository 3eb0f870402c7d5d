// The cluster panel, Flotilla's own: the run's worker count, its target and the pending task runs
// over time (uPlot), each scaling decision marked on the plot and listed with its reason.

import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatTime } from "../format.ts";
import type { ScalingDecision, WorkerSample } from "../types.ts";

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** Series on one time axis (seconds): workers, target (a step line through the decisions), pending. */
function series(samples: WorkerSample[], decisions: ScalingDecision[]): uPlot.AlignedData {
  const times = [...new Set([...samples.map((s) => s.ts), ...decisions.map((d) => d.ts)])].sort(
    (a, b) => a - b,
  );
  const byTs = new Map(samples.map((s) => [s.ts, s]));
  const sortedDecisions = [...decisions].sort((a, b) => a.ts - b.ts);
  const workers: (number | null)[] = [];
  const target: (number | null)[] = [];
  const pending: (number | null)[] = [];
  let di = 0;
  let tgt: number | null = null;
  let last: WorkerSample | undefined;
  for (const t of times) {
    while (di < sortedDecisions.length && (sortedDecisions[di]?.ts ?? Infinity) <= t)
      tgt = sortedDecisions[di++]?.count ?? tgt;
    const s = byTs.get(t);
    if (s) last = s;
    workers.push(last ? last.count : null);
    target.push(s?.target ?? tgt);
    pending.push(last ? last.pending : null);
  }
  return [times.map((t) => t / 1000), workers, target, pending];
}

export function ClusterPanel({
  samples,
  decisions,
}: {
  samples: WorkerSample[];
  decisions: ScalingDecision[];
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [width, setWidth] = useState(800);
  const data = useMemo(() => series(samples, decisions), [samples, decisions]);
  const peak = Math.max(0, ...samples.map((s) => s.count));
  const lastSample = samples[samples.length - 1];

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(Math.max(300, el.clientWidth)));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const el = box.current;
    if (!el || data[0].length === 0) return;
    const marks = decisions.map((d) => d.ts / 1000);
    const opts: uPlot.Options = {
      width,
      height: 260,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(2, Math.ceil(max * 1.15))] } },
      axes: [{ stroke: cssVar("--muted") }, { stroke: cssVar("--muted"), label: "count" }],
      series: [
        {},
        {
          label: "Workers",
          stroke: cssVar("--running"),
          width: 2,
          paths: uPlot.paths.stepped?.({ align: 1 }),
        },
        {
          label: "Target",
          stroke: cssVar("--success"),
          width: 2,
          dash: [6, 4],
          paths: uPlot.paths.stepped?.({ align: 1 }),
        },
        { label: "Pending task runs", stroke: cssVar("--warning"), width: 1.5, fill: "rgba(217,119,6,0.08)" },
      ],
      hooks: {
        draw: [
          (u) => {
            // Each scaling decision as a vertical marker.
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = cssVar("--muted");
            ctx.setLineDash([2, 3]);
            for (const t of marks) {
              const px = Math.round(u.valToPos(t, "x", true));
              ctx.beginPath();
              ctx.moveTo(px, u.bbox.top);
              ctx.lineTo(px, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
    plot.current?.destroy();
    plot.current = new uPlot(opts, data, el);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [data, decisions, width]);

  return (
    <div className="cluster">
      <dl className="facts">
        <div>
          <dt>Workers now</dt>
          <dd data-testid="workers-now">{lastSample ? lastSample.count : "—"}</dd>
        </div>
        <div>
          <dt>Peak</dt>
          <dd data-testid="workers-peak">{samples.length ? peak : "—"}</dd>
        </div>
        <div>
          <dt>Pending task runs</dt>
          <dd>{lastSample ? lastSample.pending : "—"}</dd>
        </div>
        <div>
          <dt>Scaling decisions</dt>
          <dd>{decisions.length}</dd>
        </div>
      </dl>
      {data[0].length === 0 && (
        <p className="muted empty">This run reported no worker samples (it ran without a worker cluster).</p>
      )}
      <div
        ref={box}
        className="plot"
        hidden={data[0].length === 0}
        role="img"
        aria-label={`Workers over time, peak ${peak}`}
      />
      {decisions.length > 0 && (
        <table className="compact decisions">
          <caption>Scaling decisions</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col" className="num">
                Workers →
              </th>
              <th scope="col" className="num">
                Pending
              </th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {decisions.map((d, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: decisions have no id; two may share a time
              <tr key={`${d.ts}-${i}`}>
                <td>{formatTime(d.ts)}</td>
                <td className="num">{d.count}</td>
                <td className="num">{d.pending}</td>
                <td>{d.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
