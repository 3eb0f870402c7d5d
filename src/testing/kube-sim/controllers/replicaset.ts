// The ReplicaSet controller (apps/v1): keeps `spec.replicas` active pods of the template (generateName
// `<rs>-`, the template's labels, a controller ownerReference), deletes the surplus (not yet scheduled,
// then not ready, then the youngest first, as the real controller ranks them), and writes the status
// Kubernetes 1.32 writes: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas (ready for
// `minReadySeconds`), observedGeneration. Pods that ended (Succeeded/Failed) or are terminating do not
// count and are replaced. No ReplicaFailure condition and no burst/slow-start batching of creates.
import type { KubeObject } from "../objects.ts";
import { resourceById } from "../resources.ts";
import { labelSelectorRequirements, matchesLabels } from "../selectors.ts";
import type { StoreEvent } from "../store.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { controllerUid, PodControl } from "./pod-control.ts";

const REPLICASETS = resourceById("replicasets.apps");

function isReady(pod: KubeObject): boolean {
  return (pod.status?.conditions ?? []).some(
    (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
  );
}

/** ready for at least `minReadySeconds` (podutil.IsPodAvailable); the ms until it will be, or 0 */
export function availableIn(pod: KubeObject, minReadySeconds: number, now = Date.now()): number | undefined {
  if (!isReady(pod)) return undefined;
  if (minReadySeconds <= 0) return 0;
  const ready = (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
  const since = Date.parse(ready?.lastTransitionTime ?? "");
  if (Number.isNaN(since)) return 0;
  return Math.max(0, since + minReadySeconds * 1000 - now);
}

/** FilterActivePods: not ended and not being deleted */
export function isActive(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return phase !== "Succeeded" && phase !== "Failed" && !pod.metadata.deletionTimestamp;
}

export class ReplicaSetController extends Controller {
  private readonly pods: PodControl;

  constructor(ctx: ControllerContext) {
    super(ctx);
    this.pods = new PodControl(ctx, { apiVersion: "apps/v1", kind: "ReplicaSet" }, "replicaset-controller");
  }

  protected observe(e: StoreEvent): void {
    if (e.resource === "replicasets.apps") {
      if (e.type !== "DELETED") this.queue.add(`${e.object.metadata.namespace}/${e.object.metadata.name}`);
    } else if (e.resource === "pods") {
      const uid = controllerUid(e.object, "ReplicaSet");
      const rs = uid ? this.store.findByUid(uid) : undefined;
      if (rs) this.queue.add(`${rs.namespace}/${rs.name}`);
    }
  }

  /** every pod the ReplicaSet controls */
  private owned(rs: KubeObject): KubeObject[] {
    return this.store
      .list("pods", rs.metadata.namespace)
      .filter((p) => controllerUid(p, "ReplicaSet") === rs.metadata.uid);
  }

  protected reconcile(key: string): void {
    const [namespace, name] = key.split("/") as [string, string];
    const rs = this.store.get("replicasets.apps", namespace, name);
    if (!rs || rs.metadata.deletionTimestamp) return;
    const owned = this.owned(rs);
    const active = owned.filter(isActive);
    const want: number = rs.spec?.replicas ?? 1;
    if (active.length < want) {
      for (let i = active.length; i < want; i++)
        if (!this.pods.create(rs, (ms) => this.queue.addAfter(key, ms))) break;
    } else if (active.length > want) {
      for (const pod of this.surplus(active, active.length - want)) this.pods.delete(rs, pod);
    }
    this.writeStatus(rs, key);
  }

  /** getPodsToDelete: unscheduled, then pending, then not ready, then the most recently created */
  private surplus(active: KubeObject[], n: number): KubeObject[] {
    const rank = (p: KubeObject) =>
      !p.spec?.nodeName ? 0 : p.status?.phase === "Pending" ? 1 : isReady(p) ? 3 : 2;
    return [...active]
      .sort(
        (a, b) =>
          rank(a) - rank(b) ||
          Date.parse(String(b.metadata.creationTimestamp)) - Date.parse(String(a.metadata.creationTimestamp)),
      )
      .slice(0, n);
  }

  private writeStatus(rs: KubeObject, key: string): void {
    const current = this.store.get("replicasets.apps", rs.metadata.namespace, rs.metadata.name!);
    if (!current) return;
    const active = this.owned(current).filter(isActive);
    const minReady: number = current.spec?.minReadySeconds ?? 0;
    const templateLabels = current.spec?.template?.metadata?.labels ?? {};
    let available = 0;
    let soonest = Number.POSITIVE_INFINITY;
    for (const p of active) {
      const wait = availableIn(p, minReady);
      if (wait === 0) available++;
      else if (wait !== undefined) soonest = Math.min(soonest, wait);
    }
    if (Number.isFinite(soonest)) this.queue.addAfter(key, soonest + 5);
    const status: Record<string, unknown> = {
      replicas: active.length,
      fullyLabeledReplicas: active.filter((p) =>
        matchesLabels(
          p.metadata.labels,
          Object.entries(templateLabels as Record<string, string>).map(([k, value]) => ({
            key: k,
            op: "=",
            value,
          })),
        ),
      ).length,
      readyReplicas: active.filter(isReady).length,
      availableReplicas: available,
      observedGeneration: current.metadata.generation,
    };
    // zero counts are omitted (omitempty), replicas is always written
    for (const k of ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"])
      if (status[k] === 0) delete status[k];
    this.registry.mutate(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, (o) => {
      o.status = { ...(o.status?.conditions ? { conditions: o.status.conditions } : {}), ...status };
    });
  }
}

/** whether `pod`'s labels match the LabelSelector `selector` */
export function selects(selector: unknown, labels: Record<string, string> | undefined): boolean {
  const reqs = labelSelectorRequirements((selector ?? {}) as Parameters<typeof labelSelectorRequirements>[0]);
  return reqs.length > 0 && matchesLabels(labels, reqs);
}
