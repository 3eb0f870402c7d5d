// The event recorder components use (kubelet, scheduler, job-controller): core/v1 Events about an
// involved object, aggregated like client-go's recorder (same reason and message → count+1, lastTimestamp).
import { randomBytes } from "node:crypto";
import { type KubeObject, timestamp } from "./objects.ts";
import type { UserInfo } from "./rbac.ts";
import type { Registry } from "./registry.ts";
import { resourceById } from "./resources.ts";
import type { Store } from "./store.ts";

export type EventType = "Normal" | "Warning";

const SYSTEM: UserInfo = { name: "system:kube-sim", groups: ["system:masters"] };

export class EventRecorder {
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
  ) {}

  /** Record an event; `component` is the source (`kubelet`, `default-scheduler`, `job-controller`). */
  record(
    involved: KubeObject,
    type: EventType,
    reason: string,
    message: string,
    component: string,
    fieldPath?: string,
  ): void {
    const ns = involved.metadata.namespace ?? "default";
    if (!this.store.has("namespaces", undefined, ns)) return;
    const uid = involved.metadata.uid ?? "";
    const key = `${uid}|${reason}|${message}|${fieldPath ?? ""}`;
    const now = new Date();
    const existing = this.seen.get(key);
    const events = resourceById("events");
    if (existing) {
      const updated = this.registry.mutate(events, ns, existing, (ev) => {
        ev.count = (ev.count ?? 1) + 1;
        ev.lastTimestamp = timestamp(now);
      });
      if (updated) return;
    }
    const name = `${involved.metadata.name}.${randomBytes(8).toString("hex")}`;
    const ev = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name, namespace: ns },
      involvedObject: {
        kind: involved.kind,
        namespace: involved.metadata.namespace,
        name: involved.metadata.name,
        uid,
        apiVersion: involved.apiVersion,
        resourceVersion: involved.metadata.resourceVersion,
        ...(fieldPath ? { fieldPath } : {}),
      },
      reason,
      message,
      source: component === "kubelet" ? { component, host: "kube-sim-node" } : { component },
      firstTimestamp: timestamp(now),
      lastTimestamp: timestamp(now),
      count: 1,
      type,
      eventTime: null,
      reportingComponent: component,
      reportingInstance: component === "kubelet" ? "kube-sim-node" : "",
    };
    try {
      this.registry.create(events, ns, ev, { user: SYSTEM });
      this.seen.set(key, name);
    } catch {
      // the namespace may be terminating; real recorders drop such events too
    }
  }
}
