// The run channel's reconciler view in memory: heartbeats and retire requests held in maps, for
// tests of the reconciling core without a broker (and for tools that play workers by hand).

import type { Heartbeat } from "./protocol.ts";
import type { ReconcilerChannel } from "./run-channel.ts";

export class MemoryRunChannel implements ReconcilerChannel {
  readonly #beats = new Map<string, Heartbeat>();
  readonly #retired = new Set<string>();
  #closed = false;

  /** Play a worker: write its heartbeat. */
  beat(workerId: string, beat: Heartbeat): void {
    this.#beats.set(workerId, beat);
  }

  /** The ids asked to retire so far, in the order asked. */
  retired(): string[] {
    return [...this.#retired];
  }

  get closed(): boolean {
    return this.#closed;
  }

  async heartbeats(): Promise<Map<string, Heartbeat>> {
    return new Map(this.#beats);
  }

  async retire(workerIds: readonly string[]): Promise<void> {
    for (const id of workerIds) this.#retired.add(id);
  }

  close(): void {
    this.#closed = true;
  }
}
