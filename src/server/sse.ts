// The server-sent-events stream at /api/events: every bus event (or one run's, with ?run=),
// named by type, with the run-event id on state changes so a reconnecting client's
// Last-Event-ID replays the state changes it missed. A comment every 15 s keeps proxies open.

import type { FastifyReply, FastifyRequest } from "fastify";
import type { Store } from "../store/store.ts";
import type { BusEvent, EventBus } from "./bus.ts";

const HEARTBEAT_MS = 15_000;
/** Events buffered for a slow client before it is dropped (it reconnects and catches up). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

function frame(e: BusEvent): string {
  return `${e.id !== undefined ? `id: ${e.id}\n` : ""}event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export async function streamEvents(
  req: FastifyRequest,
  reply: FastifyReply,
  o: { store: Store; bus: EventBus; run?: string | undefined },
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 1000\n\n");
  const wanted = (e: BusEvent) => o.run === undefined || e.runId === o.run;
  let closed = false;
  const send = (e: BusEvent) => {
    if (closed || !wanted(e)) return;
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(frame(e));
  };
  // subscribe first, then replay, so nothing falls between the two
  const pending: BusEvent[] = [];
  let replaying = true;
  const unsubscribe = o.bus.subscribe((e) => (replaying ? pending.push(e) : send(e)));
  const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), HEARTBEAT_MS);
  const close = () => {
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
  };
  req.raw.once("close", close);
  res.once("close", close);

  const last = Number(req.headers["last-event-id"]);
  let lastId = 0;
  if (Number.isInteger(last) && last > 0) {
    for (const ev of await o.store.eventsAfter(last, 10_000)) {
      lastId = ev.id;
      send({
        id: ev.id,
        type: "run.state",
        runId: ev.runId,
        data: { runId: ev.runId, from: ev.from, to: ev.to, state: ev.to },
      });
    }
  }
  replaying = false;
  for (const e of pending) if (e.id === undefined || e.id > lastId) send(e);
}
