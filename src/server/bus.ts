// The in-process event bus the SSE stream reads: one emitter per server. On SQLite one process
// owns the database, so this is every event there is; on PostgreSQL a relay (LISTEN/NOTIFY,
// src/store/pg-coordination.ts) carries each server's events to the others.

import { EventEmitter } from "node:events";

/** An event for the stream: its SSE name, its JSON data, the run it concerns. */
export interface BusEvent {
  /** The run-event id for state changes (SSE `id:`, used for Last-Event-ID catch-up). */
  id?: number;
  type:
    | "run.state"
    | "run.created"
    | "task-runs"
    | "logs"
    | "workers"
    | "scaling"
    | "deployment"
    | "schedule"
    | "agent";
  runId?: string;
  data: Record<string, unknown>;
}

export class EventBus {
  readonly #emitter = new EventEmitter();
  #relay: ((event: BusEvent) => void) | undefined;

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  /** An event of this server: to its subscribers, and to the other servers through the relay. */
  publish(event: BusEvent): void {
    this.#emitter.emit("event", event);
    this.#relay?.(event);
  }

  /** An event another server published (from the relay): to this server's subscribers only. */
  deliver(event: BusEvent): void {
    this.#emitter.emit("event", event);
  }

  /** Where published events also go (PostgreSQL NOTIFY, for the other servers on the database). */
  setRelay(relay: ((event: BusEvent) => void) | undefined): void {
    this.#relay = relay;
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (event: BusEvent) => void): () => void {
    this.#emitter.on("event", listener);
    return () => this.#emitter.off("event", listener);
  }
}
