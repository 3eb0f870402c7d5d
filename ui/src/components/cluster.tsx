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

/**
 * Series on one time axis (seconds), as step lines: workers running, the target (running plus
 * requested: what the scaling policy asked for) and workers pending (requested, not started).
 */
function series(samples: WorkerSample[], decisions: ScalingDecision[]): uPlot.AlignedData {
  const points = [...samples, ...decisions].sort((a, b) => a.ts - b.ts);
  const times: number[] = [];
  const workers: number[] = [];
  const target: number[] = [];
  const pending: number[] = [];
  for (const p of points) {
    const t = p.ts / 1000;
    const value = [
      p.count,
      ("target" in p ? p.target : undefined) ?? p.count + p.pending,
      p.pending,
    ] as const;
    if (times[times.length - 1] === t) {
      workers[workers.length - 1] = value[0];
      target[target.length - 1] = value[1];
      pending[pending.length - 1] = value[2];
      continue;
    }
    times.push(t);
    workers.push(value[0]);
    target.push(value[1]);
    pending.push(value[2]);
  }
  return [times, workers, target, pending];
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
        {
          label: "Pending workers",
          stroke: cssVar("--warning"),
          width: 1.5,
          fill: "rgba(217,119,6,0.10)",
          paths: uPlot.paths.stepped?.({ align: 1 }),
        },
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
          <dt>Pending workers</dt>
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
                Running
              </th>
              <th scope="col" className="num">
                Target
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
                <td className="num">{d.count + d.pending}</td>
                <td>{d.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
