// The scheduler for kube-sim's single node: binds pending pods in creation order when their requests
// fit in what the node has left, and otherwise marks them Unschedulable with a FailedScheduling event.

import { Controller } from "./controllers/controller.ts";
import type { EventRecorder } from "./events.ts";
import { type KubeObject, timestamp } from "./objects.ts";
import { parseQuantity, podRequests, type Resources } from "./quantity.ts";
import type { Registry } from "./registry.ts";
import { resourceById } from "./resources.ts";
import type { Store, StoreEvent } from "./store.ts";

export const NODE_NAME = "kube-sim-node";

function consumes(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return Boolean(pod.spec?.nodeName) && phase !== "Succeeded" && phase !== "Failed";
}

export class Scheduler extends Controller {
  private readonly capacity: Resources;

  constructor(
    private readonly store: Store,
    private readonly registry: Registry,
    private readonly events: EventRecorder,
    capacity: { cpu: string; memory: string },
    onError: (e: unknown) => void,
  ) {
    super(store, onError);
    this.capacity = { cpu: parseQuantity(capacity.cpu), memory: parseQuantity(capacity.memory) };
  }

  protected observe(e: StoreEvent): void {
    if (e.resource === "pods") this.queue.add("schedule");
  }

  protected reconcile(): void {
    this.schedule();
  }

  private schedule(): void {
    const pods = this.store.list("pods");
    const used: Resources = { cpu: 0, memory: 0 };
    for (const p of pods.filter(consumes)) {
      const r = podRequests(p.spec ?? {});
      used.cpu += r.cpu;
      used.memory += r.memory;
    }
    const pending = pods
      .filter((p) => !p.spec?.nodeName && !p.metadata.deletionTimestamp)
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    const podsRt = resourceById("pods");
    for (const pod of pending) {
      const req = podRequests(pod.spec ?? {});
      const short: string[] = [];
      if (used.cpu + req.cpu > this.capacity.cpu + 1e-9) short.push("Insufficient cpu");
      if (used.memory + req.memory > this.capacity.memory) short.push("Insufficient memory");
      if (short.length > 0) {
        const message = `0/1 nodes are available: ${short.map((s) => `1 ${s}`).join(", ")}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`;
        const already = (pod.status?.conditions ?? []).some(
          (c: { type: string; message?: string }) => c.type === "PodScheduled" && c.message === message,
        );
        if (already) continue;
        this.registry.mutate(podsRt, pod.metadata.namespace, pod.metadata.name!, (p) => {
          p.status = { ...(p.status ?? {}), phase: "Pending" };
          p.status.conditions = [
            {
              type: "PodScheduled",
              status: "False",
              lastProbeTime: null,
              lastTransitionTime: timestamp(),
              reason: "Unschedulable",
              message,
            },
          ];
        });
        this.events.record(pod, "Warning", "FailedScheduling", message, "default-scheduler");
        continue;
      }
      used.cpu += req.cpu;
      used.memory += req.memory;
      const bound = this.registry.mutate(podsRt, pod.metadata.namespace, pod.metadata.name!, (p) => {
        p.spec.nodeName = NODE_NAME;
        p.status = { ...(p.status ?? {}) };
        p.status.conditions = [
          ...(p.status.conditions ?? []).filter((c: { type: string }) => c.type !== "PodScheduled"),
          { type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: timestamp() },
        ];
      });
      if (bound) {
        this.events.record(
          bound,
          "Normal",
          "Scheduled",
          `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${NODE_NAME}`,
          "default-scheduler",
        );
      }
    }
  }
}
