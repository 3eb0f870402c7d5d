// The control loop every kube-sim controller (and the scheduler) shares: store changes are mapped to
// keys, queued (deduplicated, off the writer's stack) and reconciled one at a time until stop().
// Invariant: after stop() no change is observed and no queued or delayed key is reconciled.
import type { Store, StoreEvent } from "../store.ts";
import { WorkQueue } from "./queue.ts";

export abstract class Controller {
  protected readonly queue: WorkQueue;
  private readonly unsubscribe: () => void;

  constructor(store: Store, onError: (e: unknown) => void) {
    this.queue = new WorkQueue(
      (key) => this.reconcile(key),
      (_key, e) => onError(e),
    );
    this.unsubscribe = store.subscribe((e) => this.observe(e));
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
