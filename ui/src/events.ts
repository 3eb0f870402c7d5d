// Live updates: one EventSource on the server's event stream for the whole page. Pages subscribe
// with a filter; the connection state drives the "reconnecting" banner, and a reconnect tells every
// subscriber to reload, since events sent while the server was away are lost.

import { useEffect, useRef } from "react";
import { api, setOnline, setSession } from "./api.ts";

/** One event from the server's stream: its SSE event name plus its JSON data. */
export interface LiveEvent {
  type: string;
  data: Record<string, unknown>;
}

type Handler = (e: LiveEvent | "reconnected") => void;

/** SSE event names the server sends (a `message` without a name is also handled). */
export const EVENT_TYPES = [
  "run",
  "run.state",
  "run.created",
  "run.updated",
  "task",
  "task.state",
  "task-run",
  "task-runs",
  "log",
  "logs",
  "worker",
  "workers",
  "scaling",
  "deployment",
  "schedule",
  "agent",
] as const;

const handlers = new Set<Handler>();
let source: EventSource | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let retryDelay = 500;
let everOpened = false;

function dispatch(e: LiveEvent | "reconnected"): void {
  for (const h of handlers) h(e);
}

function connect(): void {
  if (source || handlers.size === 0) return;
  const es = new EventSource("/api/events", { withCredentials: true });
  source = es;
  es.onopen = () => {
    retryDelay = 500;
    setOnline(true);
    if (everOpened) dispatch("reconnected");
    everOpened = true;
  };
  const onEvent = (ev: MessageEvent<string>) => {
    let data: Record<string, unknown> = {};
    try {
      data = JSON.parse(ev.data) as Record<string, unknown>;
    } catch {
      data = { text: ev.data };
    }
    const type = ev.type === "message" && typeof data.type === "string" ? data.type : ev.type;
    dispatch({ type, data });
  };
  es.onmessage = onEvent;
  for (const t of EVENT_TYPES) es.addEventListener(t, onEvent as EventListener);
  es.onerror = () => {
    // The browser retries by itself while CONNECTING; a CLOSED source (an HTTP error such as 401,
    // or a server that answered something else) is retried here, after checking the session.
    setOnline(false);
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      source = undefined;
      scheduleRetry();
    }
  };
}

function scheduleRetry(): void {
  if (retryTimer) return;
  retryTimer = setTimeout(() => {
    retryTimer = undefined;
    api("/session")
      .then(() => connect())
      .catch((e: { status?: number }) => {
        if (e.status === 401) setSession("unauthorized");
        else scheduleRetry();
      });
  }, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 5000);
}

/** Reconnects the stream now (after a login). */
export function restartEvents(): void {
  source?.close();
  source = undefined;
  everOpened = false;
  connect();
}

/**
 * Calls `onEvent` for each live event that `filter` accepts, and with "reconnected" after the
 * stream came back (reload everything then). The handler may change between renders.
 */
export function useLiveEvents(filter: (e: LiveEvent) => boolean, onEvent: Handler): void {
  const latest = useRef({ filter, onEvent });
  latest.current = { filter, onEvent };
  useEffect(() => {
    const h: Handler = (e) => {
      if (e === "reconnected" || latest.current.filter(e)) latest.current.onEvent(e);
    };
    handlers.add(h);
    connect();
    return () => {
      handlers.delete(h);
      if (handlers.size === 0) {
        source?.close();
        source = undefined;
      }
    };
  }, []);
}

/**
 * Calls `fn` at most once per `ms` however often it is triggered, and at the end of a burst:
 * live pages reload on events without reloading for each of 10,000 task changes.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const state = useRef<{ timer?: ReturnType<typeof setTimeout>; last: number; fn: () => void }>({
    last: 0,
    fn,
  });
  state.current.fn = fn;
  useEffect(() => () => clearTimeout(state.current.timer), []);
  return useRef(() => {
    const s = state.current;
    if (s.timer) return;
    const wait = Math.max(0, s.last + ms - performance.now());
    s.timer = setTimeout(() => {
      s.timer = undefined;
      s.last = performance.now();
      s.fn();
    }, wait);
  }).current;
}
