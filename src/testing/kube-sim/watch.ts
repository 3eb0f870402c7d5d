// Watch streams: newline-delimited JSON events over a chunked 200 response, replayed from the store's
// history when resuming from a resourceVersion, with selector transitions (ADDED/DELETED when an object
// starts/stops matching), `timeoutSeconds`, and an ERROR 410 event for a resourceVersion too old.
import type { ServerResponse } from "node:http";
import { gone } from "./errors.ts";
import type { KubeObject } from "./objects.ts";
import { withTypeMeta } from "./registry.ts";
import { type ResourceType, resourceId } from "./resources.ts";
import { matches, type Selector } from "./selectors.ts";
import type { Store, StoreEvent } from "./store.ts";

export interface WatchRequest {
  rt: ResourceType;
  namespace?: string;
  /** set when watching one object (`fieldSelector=metadata.name=x` or `/watch/.../name`) */
  selector: Selector;
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
  sendInitialEvents?: boolean;
}

/** Serve a watch on `res` until the client goes away, the timeout passes or the sim stops. */
export function serveWatch(
  store: Store,
  req: WatchRequest,
  res: ServerResponse,
  onClose: (close: () => void) => () => void,
): void {
  const id = resourceId(req.rt);
  res.writeHead(200, {
    "Content-Type": "application/json",
    "Transfer-Encoding": "chunked",
    "Cache-Control": "no-cache",
  });
  res.flushHeaders();

  const inScope = (o: KubeObject) => req.namespace === undefined || o.metadata.namespace === req.namespace;
  const selected = (o: KubeObject | undefined) => o !== undefined && inScope(o) && matches(o, req.selector);
  const send = (type: string, object: unknown) => {
    res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const deliver = (e: StoreEvent) => {
    if (e.resource !== id) return;
    const now = selected(e.object);
    const before = e.type === "MODIFIED" ? selected(e.old) : false;
    if (e.type === "ADDED" && now) send("ADDED", withTypeMeta(req.rt, e.object));
    else if (e.type === "DELETED" && selected(e.old)) send("DELETED", withTypeMeta(req.rt, e.object));
    else if (e.type === "MODIFIED") {
      if (now && before) send("MODIFIED", withTypeMeta(req.rt, e.object));
      else if (now) send("ADDED", withTypeMeta(req.rt, e.object));
      else if (before) send("DELETED", withTypeMeta(req.rt, e.object));
    }
  };

  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    unsubscribe();
    clearTimeout(timer);
    detach();
    res.end();
  };
  const unsubscribe = store.subscribe(deliver);
  const detach = onClose(finish);
  const timer = setTimeout(finish, (req.timeoutSeconds ?? 1800) * 1000);
  res.on("close", finish);

  const rv = req.resourceVersion;
  if (rv === undefined || rv === "" || rv === "0") {
    for (const o of store.list(id, req.namespace))
      if (matches(o, req.selector)) send("ADDED", withTypeMeta(req.rt, o));
    if (req.sendInitialEvents && req.allowWatchBookmarks) {
      send("BOOKMARK", {
        kind: req.rt.kind,
        apiVersion: withTypeMeta(req.rt, { metadata: {} }).apiVersion,
        metadata: {
          resourceVersion: String(store.resourceVersion),
          annotations: { "k8s.io/initial-events-end": "true" },
        },
      });
    }
    return;
  }
  const since = Number(rv);
  const history = Number.isFinite(since) ? store.eventsSince(since) : undefined;
  if (!history) {
    const err = gone(`too old resource version: ${rv} (${store.oldestResumableVersion + 1})`);
    send("ERROR", err.status);
    finish();
    return;
  }
  for (const e of history) deliver(e);
}
