// What several `flotilla server` processes on one PostgreSQL share besides the tables: events
// fan out through LISTEN/NOTIFY (each server relays what it publishes and re-publishes what the
// others did, so an SSE subscriber of any server sees every server's events), and one of them
// runs the scheduler loop: the holder of a session-level advisory lock (pg_try_advisory_lock) on
// a dedicated connection. When the leader dies its connection closes, PostgreSQL releases the
// lock and the next server to try takes over. Both use their own connections, never the pool's.

import { randomUUID } from "node:crypto";
import type { Client } from "pg";

/** The NOTIFY channel of server events. */
export const EVENTS_CHANNEL = "flotilla_events";
/** The advisory lock key of the scheduler leader (a constant of Flotilla's). */
export const SCHEDULER_LOCK_KEY = 0x466c6f74; // "Flot"
/** NOTIFY payloads must stay below 8000 bytes. */
const MAX_PAYLOAD = 7800;

export interface Coordination {
  /** This process's id in the payloads (its own notifications are not re-published). */
  readonly origin: string;
  /** Send an event to the other servers. Never throws. */
  notify(event: object): void;
  /** True while this process holds the scheduler lock (tries to take it when not). */
  leader(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Connect the LISTEN and the lock connections; `onEvent` gets the events other servers notify.
 * An event too big for one NOTIFY is sent without its data's bulk (its run and count stay), as the
 * SSE stream already does for big task-run batches.
 */
export async function openCoordination(
  url: string,
  onEvent: (event: Record<string, unknown>) => void,
  onError: (e: unknown) => void = () => {},
): Promise<Coordination> {
  const pg = (await import("pg")).default;
  const origin = randomUUID();
  const connect = async (): Promise<Client> => {
    const c = new pg.Client({ connectionString: url });
    c.on("error", onError);
    await c.connect();
    return c;
  };
  const listener = await connect();
  listener.on("notification", (n) => {
    if (n.channel !== EVENTS_CHANNEL || !n.payload) return;
    try {
      const msg = JSON.parse(n.payload) as { origin: string; event: Record<string, unknown> };
      if (msg.origin !== origin) onEvent(msg.event);
    } catch (e) {
      onError(e);
    }
  });
  await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
  const sender = await connect();
  let lock: Client | undefined;
  let held = false;
  let closed = false;
  return {
    origin,
    notify(event) {
      if (closed) return;
      let payload = JSON.stringify({ origin, event });
      if (Buffer.byteLength(payload) > MAX_PAYLOAD) {
        const e = event as { type?: string; runId?: string; data?: { count?: number } };
        payload = JSON.stringify({
          origin,
          event: {
            type: e.type,
            runId: e.runId,
            data: { runId: e.runId, ...(e.data?.count !== undefined ? { count: e.data.count } : {}) },
          },
        });
      }
      sender.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, payload]).catch(onError);
    },
    async leader() {
      if (closed) return false;
      if (held && lock) {
        // still ours while its connection lives
        try {
          await lock.query("SELECT 1");
          return true;
        } catch {
          held = false;
          await lock.end().catch(() => {});
          lock = undefined;
        }
      }
      try {
        lock ??= await connect();
        const r = await lock.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [
          SCHEDULER_LOCK_KEY,
        ]);
        held = r.rows[0]?.ok === true;
      } catch (e) {
        onError(e);
        held = false;
        await lock?.end().catch(() => {});
        lock = undefined;
      }
      return held;
    },
    async close() {
      closed = true;
      await Promise.all([listener.end(), sender.end(), lock?.end()].map((p) => p?.catch(() => {})));
    },
  };
}
