// The control loop every kube-sim controller (and the scheduler) shares: store changes are mapped to
// keys, queued (deduplicated, off the writer's stack) and reconciled one at a time until stop().
// Every controller reads the store, writes through the registry as the admin and records Events.
// Invariant: after stop() no change is observed and no queued or delayed key is reconciled.
import type { EventRecorder } from "../events.ts";
import type { Registry } from "../registry.ts";
import type { Store, StoreEvent } from "../store.ts";
import { WorkQueue } from "./queue.ts";

/** What every controller is built with (one per sim). */
export interface ControllerContext {
  store: Store;
  registry: Registry;
  events: EventRecorder;
  /** a reconcile that threw */
  onError: (e: unknown) => void;
}

export abstract class Controller {
  protected readonly queue: WorkQueue;
  protected readonly store: Store;
  protected readonly registry: Registry;
  protected readonly events: EventRecorder;
  private readonly unsubscribe: () => void;

  constructor(ctx: ControllerContext) {
    this.store = ctx.store;
    this.registry = ctx.registry;
    this.events = ctx.events;
    this.queue = new WorkQueue(
      (key) => this.reconcile(key),
      (_key, e) => ctx.onError(e),
    );
    this.unsubscribe = ctx.store.subscribe((e) => this.observe(e));
  }

  /** Called synchronously for every store change: enqueue the keys it affects. */
  protected abstract observe(event: StoreEvent): void;

  /** Bring the world for `key` to its desired state. */
  protected abstract reconcile(key: string): void | Promise<void>;

  stop(): void {
    this.unsubscribe();
    this.queue.stop();
  }
}
