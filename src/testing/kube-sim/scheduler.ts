// The scheduler for kube-sim's single node: binds pending pods in creation order when their requests
// fit in what the node has left and their nodeSelector and required node affinity match the node's
// labels, and otherwise marks them Unschedulable with a FailedScheduling event (kube-scheduler 1.32's
// message).
// A pod's PersistentVolumeClaims must exist; binding the pod binds them (as a default StorageClass with
// WaitForFirstConsumer would: a volume `pvc-<uid>` of the requested size).

import { Controller, type ControllerContext } from "./controllers/controller.ts";
import { type KubeObject, timestamp } from "./objects.ts";
import { parseQuantity, podRequests, type Resources } from "./quantity.ts";
import { resourceById } from "./resources.ts";
import type { StoreEvent } from "./store.ts";

export const NODE_NAME = "kube-sim-node";

interface SelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

/** One requirement of a node selector term against the node's labels (In, NotIn, Exists, …). */
function requirementHolds(r: SelectorRequirement, labels: Record<string, string>): boolean {
  const value = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case "In":
      return value !== undefined && values.includes(value);
    case "NotIn":
      return value === undefined || !values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt": {
      const have = Number.parseInt(value ?? "", 10);
      const want = Number.parseInt(values[0] ?? "", 10);
      if (Number.isNaN(have) || Number.isNaN(want)) return false;
      return r.operator === "Gt" ? have > want : have < want;
    }
    default:
      return false;
  }
}

/**
 * Whether the pod may run on a node with these labels: every nodeSelector pair, and one of the
 * required node affinity's terms (each term: all its matchExpressions). A term with no
 * expressions matches nothing, as in kube-scheduler; matchFields name the node itself.
 */
export function nodeMatches(spec: KubeObject["spec"], labels: Record<string, string>, node: string): boolean {
  const selector: Record<string, string> = spec?.nodeSelector ?? {};
  if (Object.entries(selector).some(([k, v]) => labels[k] !== v)) return false;
  const terms:
    | { matchExpressions?: SelectorRequirement[]; matchFields?: SelectorRequirement[] }[]
    | undefined =
    spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return true;
  return terms.some((t) => {
    const exprs = t.matchExpressions ?? [];
    const fields = t.matchFields ?? [];
    if (exprs.length === 0 && fields.length === 0) return false;
    return (
      exprs.every((r) => requirementHolds(r, labels)) &&
      fields.every((r) => requirementHolds(r, { "metadata.name": node }))
    );
  });
}

function consumes(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return Boolean(pod.spec?.nodeName) && phase !== "Succeeded" && phase !== "Failed";
}

/** the claim names of a pod's persistentVolumeClaim volumes */
function podClaims(pod: KubeObject): string[] {
  return (pod.spec?.volumes ?? [])
    .map((v: { persistentVolumeClaim?: { claimName?: string } }) => v.persistentVolumeClaim?.claimName)
    .filter((n: unknown): n is string => typeof n === "string");
}

export class Scheduler extends Controller {
  private readonly capacity: Resources;

  constructor(ctx: ControllerContext, capacity: { cpu: string; memory: string }) {
    super(ctx);
    this.capacity = { cpu: parseQuantity(capacity.cpu), memory: parseQuantity(capacity.memory) };
  }

  protected observe(e: StoreEvent): void {
    if (e.resource === "pods" || e.resource === "persistentvolumeclaims" || e.resource === "nodes")
      this.queue.add("schedule");
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
    const labels: Record<string, string> =
      pending.length > 0 ? (this.store.get("nodes", undefined, NODE_NAME)?.metadata.labels ?? {}) : {};
    for (const pod of pending) {
      const req = podRequests(pod.spec ?? {});
      const short: string[] = [];
      if (used.cpu + req.cpu > this.capacity.cpu + 1e-9) short.push("Insufficient cpu");
      if (used.memory + req.memory > this.capacity.memory) short.push("Insufficient memory");
      const mismatch = !nodeMatches(pod.spec, labels, NODE_NAME);
      const claims = podClaims(pod);
      const missing = claims.find(
        (c) => !this.store.get("persistentvolumeclaims", pod.metadata.namespace, c),
      );
      if (short.length > 0 || missing !== undefined || mismatch) {
        const message =
          missing !== undefined
            ? `0/1 nodes are available: persistentvolumeclaim "${missing}" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`
            : mismatch
              ? "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
              : `0/1 nodes are available: ${short.map((s) => `1 ${s}`).join(", ")}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`;
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
      for (const claim of claims) this.bindClaim(pod.metadata.namespace!, claim);
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

  /** a Pending claim becomes Bound to a volume of its size */
  private bindClaim(namespace: string, name: string): void {
    const claim = this.store.get("persistentvolumeclaims", namespace, name);
    if (!claim || claim.status?.phase === "Bound") return;
    const rt = resourceById("persistentvolumeclaims");
    this.registry.mutate(rt, namespace, name, (c) => {
      c.spec.volumeName = `pvc-${c.metadata.uid}`;
      c.metadata.annotations = {
        ...(c.metadata.annotations ?? {}),
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
      };
      c.status = {
        phase: "Bound",
        accessModes: c.spec.accessModes ?? [],
        capacity: { storage: c.spec.resources?.requests?.storage ?? "0" },
      };
    });
  }
}
