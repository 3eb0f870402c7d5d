// The run's events, oldest first: every state it went through, when, and why. This is where a
// runner pod that never started explains itself: the agent records the Kubernetes reason (image
// pull, unschedulable) with the pod's last events in the message of the run's Crashed event.

import { formatTime } from "../format.ts";
import { StateBadge } from "../states.tsx";
import type { RunEvent } from "../types.ts";

export function RunEvents({ events }: { events: RunEvent[] }) {
  if (events.length === 0) return null;
  return (
    <section className="run-events" aria-labelledby="run-events-title">
      <h2 id="run-events-title">Run events</h2>
      <ol>
        {events.map((e) => (
          <li key={e.id} data-to={e.to}>
            <span className="ts">{formatTime(e.ts)}</span>
            <StateBadge state={e.to} />
            {e.message && <pre className="event-message">{e.message}</pre>}
          </li>
        ))}
      </ol>
    </section>
  );
}
