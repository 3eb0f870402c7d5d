// Deployments and their schedules: next fire times, pause/resume, and "Run" with a form generated
// from the flow's parameter schema.

import { useState } from "react";
import { api, useResource } from "../api.ts";
import { ConfirmButton } from "../components/confirm.tsx";
import { collect, fieldsOf, ParamForm } from "../components/param-form.tsx";
import { endpoints } from "../endpoints.ts";
import { useLiveEvents, useThrottled } from "../events.ts";
import { ago, formatDuration, formatTime } from "../format.ts";
import { navigate } from "../router.tsx";
import { type Deployment, type FlowRun, items, type Schedule } from "../types.ts";

function describeSchedule(s: Schedule): string {
  const what = s.cron ? `cron ${s.cron}` : s.intervalMs ? `every ${formatDuration(s.intervalMs)}` : "manual";
  return `${what} (${s.timezone}), catch-up ${s.catchUp}`;
}

function StartRun({ d }: { d: Deployment }) {
  const detail = useResource<Deployment>(endpoints.deployment(d.name));
  const fields = fieldsOf(
    detail.data?.parameterSchema ?? d.parameterSchema,
    detail.data?.parameters ?? d.parameters,
  );
  const [values, setValues] = useState<Record<string, string>>({});
  return (
    <ConfirmButton
      label={`Run ${d.name}`}
      title={`Start a run of ${d.name}`}
      body={
        <p>
          Flow <strong>{d.flowName}</strong> on pool <strong>{d.pool}</strong>. Values left as they are use
          the deployment's defaults.
        </p>
      }
      confirm="Start the run"
      onConfirm={async () => {
        const created = await api<FlowRun | { run?: FlowRun }>(endpoints.startDeployment(d.name), {
          method: "POST",
          json: { parameters: collect(fields, values) },
        });
        const id = (created as FlowRun).id ?? (created as { run?: FlowRun }).run?.id;
        if (id) navigate(`/runs/${encodeURIComponent(id)}`);
      }}
    >
      <ParamForm fields={fields} values={values} onChange={setValues} />
    </ConfirmButton>
  );
}

function ScheduleRow({ s, reload }: { s: Schedule; reload: () => void }) {
  const [error, setError] = useState<string>();
  const toggle = async () => {
    setError(undefined);
    try {
      await api(s.paused ? endpoints.resume(s.id) : endpoints.pause(s.id), { method: "POST", json: {} });
      reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <li className="schedule" data-schedule={s.id}>
      <span className={`badge ${s.paused ? "st-cancelled" : "st-success"}`}>
        {s.paused ? "– Paused" : "✓ Active"}
      </span>{" "}
      {describeSchedule(s)}
      {s.nextRuns && s.nextRuns.length > 0 && !s.paused && (
        <span className="muted">
          {" "}
          · next:{" "}
          {s.nextRuns
            .slice(0, 5)
            .map((t) => formatTime(t))
            .join(", ")}
        </span>
      )}
      {s.lastTickAt && <span className="muted"> · last tick {ago(s.lastTickAt)}</span>}{" "}
      <button type="button" onClick={toggle}>
        {s.paused ? "Resume" : "Pause"}
      </button>
      {error && (
        <span className="error" role="alert">
          {" "}
          {error}
        </span>
      )}
    </li>
  );
}

export function DeploymentsPage() {
  const deployments = useResource<Deployment[] | { items: Deployment[] }>(endpoints.deployments());
  const schedules = useResource<Schedule[] | { items: Schedule[] }>(endpoints.schedules());
  const reload = useThrottled(() => {
    deployments.reload();
    schedules.reload();
  }, 500);
  useLiveEvents((e) => /deploy|schedul/.test(e.type), reload);
  const all = items(deployments.data);
  const scheds = items(schedules.data);
  return (
    <section aria-labelledby="dep-title">
      <div className="pagehead">
        <h1 id="dep-title">Deployments</h1>
        <span className="muted">
          register one with <code>flotilla deploy flow.ts --name NAME</code>
        </span>
      </div>
      {deployments.error && (
        <p className="error" role="alert">
          Could not load deployments: {deployments.error.message}
        </p>
      )}
      {deployments.data && all.length === 0 && <p className="muted empty">No deployment yet.</p>}
      <ul className="cards">
        {all.map((d) => {
          const mine = [...scheds.filter((s) => s.deploymentId === d.id), ...(d.schedules ?? [])].filter(
            (s, i, a) => a.findIndex((x) => x.id === s.id) === i,
          );
          return (
            <li key={d.id} className="card deployment" data-deployment={d.name}>
              <div className="cardhead">
                <h2>{d.name}</h2>
                <StartRun d={d} />
              </div>
              <p className="muted">
                flow <strong>{d.flowName}</strong> · pool <strong>{d.pool}</strong>
                {d.concurrencyLimit ? ` · at most ${d.concurrencyLimit} at once` : ""} · updated{" "}
                {ago(d.updatedAt)}
              </p>
              {mine.length > 0 ? (
                <ul className="schedules">
                  {mine.map((s) => (
                    <ScheduleRow key={s.id} s={s} reload={reload} />
                  ))}
                </ul>
              ) : (
                <p className="muted small">No schedule: runs start by hand or from the API.</p>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
