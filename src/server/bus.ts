// The in-process event bus the SSE stream reads: one emitter per server. On SQLite one process
// owns the database, so this is every event there is.

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

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  publish(event: BusEvent): void {
    this.#emitter.emit("event", event);
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (event: BusEvent) => void): () => void {
    this.#emitter.on("event", listener);
    return () => this.#emitter.off("event", listener);
  }
}
