// The Kubernetes Events of a run's objects (the runner Job and runner pod the agent created, the
// worker pods the runner created), as log lines of the run: source `k8s`, the object (`pod/NAME`, `job/NAME`), the Event's reason,
// and `Reason: message` as the line's message (level warn for Warning events). So `flotilla runs
// logs --server` and the dashboard show why a runner or worker pod never started
// (FailedScheduling, ErrImagePull, ImagePullBackOff, FailedCreate) without kubectl. Each Event is sent once per
// occurrence (its uid and count); listing needs only `list events`, and a list that fails (RBAC,
// the API server away) is skipped: events explain, they never fail a run.

import type { CoreV1Event } from "@kubernetes/client-node";
import type { KubeClients } from "../kubernetes/client.ts";
import type { LogLine } from "../store/store.ts";

/** A log line's `source` for a Kubernetes Event. */
export const K8S_EVENT_SOURCE = "k8s";

/** Event lists sent at once. */
const LISTS_AT_ONCE = 8;

/** One Kubernetes object whose Events are the run's. */
export interface WatchedObject {
  kind: "Pod" | "Job";
  name: string;
}

/** The log line of one Event (pure). */
export function eventLine(e: CoreV1Event): LogLine {
  const kind = (e.involvedObject?.kind ?? "object").toLowerCase();
  const when = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  const ts = when ? new Date(when as unknown as string).getTime() : Date.now();
  const reason = e.reason ?? "Event";
  const count = (e.count ?? 1) > 1 ? ` (x${e.count})` : "";
  return {
    ts: Number.isFinite(ts) ? ts : Date.now(),
    level: e.type === "Warning" ? "warn" : "info",
    message: `${reason}: ${e.message ?? ""}${count}`.trim(),
    source: K8S_EVENT_SOURCE,
    object: `${kind}/${e.involvedObject?.name ?? "?"}`,
    reason,
  };
}

/** Reads the Events of a run's objects and hands the new ones to `send`, oldest first. */
export class RunKubeEvents {
  readonly #clients: Pick<KubeClients, "core">;
  readonly #namespace: string;
  readonly #send: (lines: LogLine[]) => void;
  readonly #sent = new Set<string>();
  readonly #minMs: number;
  #last = 0;
  #busy: Promise<void> | undefined;

  /** `minMs`: the shortest pause between two lists (looks come on every pod change). */
  constructor(
    clients: Pick<KubeClients, "core">,
    namespace: string,
    send: (lines: LogLine[]) => void,
    minMs = 1000,
  ) {
    this.#clients = clients;
    this.#namespace = namespace;
    this.#send = send;
    this.#minMs = minMs;
  }

  /**
   * List the objects' Events (at most once per `minMs` unless `force`) and send the new ones;
   * `objects` is asked for only when they are read.
   */
  poll(objects: readonly WatchedObject[] | (() => readonly WatchedObject[]), force = false): Promise<void> {
    if (this.#busy) return this.#busy;
    if (!force && Date.now() - this.#last < this.#minMs) return Promise.resolve();
    this.#last = Date.now();
    this.#busy = this.#read(typeof objects === "function" ? objects() : objects).finally(() => {
      this.#busy = undefined;
    });
    return this.#busy;
  }

  async #read(objects: readonly WatchedObject[]): Promise<void> {
    const fresh: CoreV1Event[] = [];
    // a few lists at a time (a run's worker pods may be many)
    const lists: { o: WatchedObject; items: CoreV1Event[] }[] = [];
    for (let i = 0; i < objects.length; i += LISTS_AT_ONCE) {
      const batch = objects.slice(i, i + LISTS_AT_ONCE);
      lists.push(...(await Promise.all(batch.map(async (o) => ({ o, items: await this.#list(o) })))));
    }
    for (const { o, items } of lists) {
      for (const e of items) {
        if (e.involvedObject?.kind !== undefined && e.involvedObject.kind !== o.kind) continue;
        const key = `${e.metadata?.uid ?? `${e.reason}/${e.message}`}#${e.count ?? 1}`;
        if (this.#sent.has(key)) continue;
        this.#sent.add(key);
        fresh.push(e);
      }
    }
    if (fresh.length === 0) return;
    // Event times have second resolution: within a second, the order they were stored in
    // (resourceVersion, an etcd revision in practice)
    const rv = (e: CoreV1Event) => Number(e.metadata?.resourceVersion) || 0;
    const ordered = fresh
      .map((e) => ({ line: eventLine(e), rv: rv(e) }))
      .sort((a, b) => a.line.ts - b.line.ts || a.rv - b.rv);
    this.#send(ordered.map((o) => o.line));
  }

  /** The Events of one object; none when the list fails. */
  async #list(o: WatchedObject): Promise<CoreV1Event[]> {
    try {
      const list = await this.#clients.core.listNamespacedEvent({
        namespace: this.#namespace,
        fieldSelector: `involvedObject.name=${o.name}`,
      });
      return list.items;
    } catch {
      return [];
    }
  }
}
