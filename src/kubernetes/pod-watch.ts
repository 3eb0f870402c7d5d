// PodWatch: a small list-then-watch cache of the pods matching one label selector (one run's
// runner pod, or its worker pods), so the launcher and KubeCluster react to a pod change when it
// happens instead of polling the API every few hundred milliseconds.
// Invariants: the first list completes before `ready` resolves; a watch resumes from the last
// resourceVersion it saw (BOOKMARKs included); a 410 Gone (or any other watch error) drops the
// resourceVersion so the next pass re-lists; each watch asks the server to end it after
// `timeoutSeconds` (client-node 1.4 has no client-side watch timeout, so a half-open connection
// would otherwise hang forever); `stop()` is final and never reports the abort it causes as an
// error. Every waiter (`changed`) is bounded by its own timeout.

import type { V1Pod } from "@kubernetes/client-node";
import * as k8s from "@kubernetes/client-node";
import type { KubeClients } from "./client.ts";
import { apiCall } from "./errors.ts";

/** What a PodWatch follows. */
export interface PodWatchOptions {
  clients: KubeClients;
  namespace: string;
  labelSelector: string;
  /** Server-side end of each watch request, in seconds; the watch then resumes. @default 240 */
  timeoutSeconds?: number;
  /** Pause before re-listing after an error, in ms. @default 500 */
  retryDelayMs?: number;
  /** Called for a failed list or watch (then retried); never for `stop()`. */
  onError?: (error: unknown) => void;
}

/** The pods of one label selector, kept current by a watch. */
export class PodWatch {
  readonly #o: PodWatchOptions;
  readonly #pods = new Map<string, V1Pod>();
  #resourceVersion: string | undefined;
  #abort: AbortController | undefined;
  #stopped = false;
  #waiters = new Set<() => void>();
  #version = 0;
  #settle: ((error?: unknown) => void) | undefined;
  /** Resolves after the first list; rejects if that list fails (the watch keeps retrying). */
  readonly ready: Promise<void>;

  /** Start listing and watching; `await watch.ready` for the first list. */
  constructor(options: PodWatchOptions) {
    this.#o = options;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.ready.catch(() => {});
    void this.#loop();
  }

  /** The pods as last seen, by name. */
  pods(): V1Pod[] {
    return [...this.#pods.values()];
  }

  /** A change counter: it grows with every list and every watch event that changed the cache. */
  get version(): number {
    return this.#version;
  }

  /** Resolves at the next change after `sinceVersion` (at once if one happened), or after `timeoutMs`. */
  changed(sinceVersion: number, timeoutMs: number): Promise<void> {
    if (this.#version !== sinceVersion || this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  /** Stop watching; pending `changed` waiters resolve. */
  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
    this.#notify();
  }

  #notify(): void {
    this.#version++;
    for (const w of [...this.#waiters]) w();
  }

  #listed(error?: unknown): void {
    this.#settle?.(error);
    this.#settle = undefined;
  }

  async #loop(): Promise<void> {
    const { clients, namespace, labelSelector } = this.#o;
    while (!this.#stopped) {
      try {
        if (this.#resourceVersion === undefined) {
          const list = await apiCall({ verb: "list", resource: "pods", namespace }, () =>
            clients.core.listNamespacedPod({ namespace, labelSelector }),
          );
          this.#pods.clear();
          for (const p of list.items) if (p.metadata?.name) this.#pods.set(p.metadata.name, p);
          this.#resourceVersion = list.metadata?.resourceVersion ?? "0";
          this.#notify();
          this.#listed();
        }
        await this.#watchOnce();
      } catch (error) {
        if (this.#stopped) return;
        this.#resourceVersion = undefined;
        this.#listed(error);
        this.#o.onError?.(error);
        await new Promise((r) => setTimeout(r, this.#o.retryDelayMs ?? 500));
      }
    }
  }

  /** One watch request, from the last resourceVersion, until the server ends it. */
  async #watchOnce(): Promise<void> {
    const { clients, namespace, labelSelector } = this.#o;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        if (error === undefined || error === null || this.#stopped) resolve();
        else reject(error);
      };
      new k8s.Watch(clients.kubeConfig)
        .watch(
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
          {
            labelSelector,
            resourceVersion: this.#resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: this.#o.timeoutSeconds ?? 240,
          },
          (type: string, obj: V1Pod & { code?: number }) => {
            if (type === "ERROR") {
              // 410 Gone (resourceVersion too old) or another watch error: re-list
              this.#resourceVersion = undefined;
              this.#abort?.abort();
              finish(obj.code === 410 ? undefined : new Error(`watch error: ${JSON.stringify(obj)}`));
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (rv) this.#resourceVersion = rv;
            if (type === "BOOKMARK") return;
            const name = obj.metadata?.name;
            if (!name) return;
            if (type === "DELETED") this.#pods.delete(name);
            else this.#pods.set(name, obj);
            this.#notify();
          },
          (error: unknown) => finish(error),
        )
        .then(
          (controller) => {
            this.#abort = controller;
            if (this.#stopped) controller.abort();
          },
          (error: unknown) => finish(error),
        );
    });
  }
}
