// The Deployment controller (apps/v1), after kube-controller-manager 1.32's: one ReplicaSet per pod
// template (`<deployment>-<pod-template-hash>`, the hash label added to its selector and template, a
// controller ownerReference, the revision annotations), rolled out by the strategy — Recreate: scale
// every old ReplicaSet to 0, wait until none of their pods is running (a terminating pod still is),
// then scale the new one up; RollingUpdate: scale the new one up within maxSurge and the old ones down
// within maxUnavailable as new pods become available — old ReplicaSets beyond revisionHistoryLimit
// deleted, and the status and conditions kubectl reads (`rollout status`, READY/UP-TO-DATE/AVAILABLE):
// Available (MinimumReplicasAvailable/Unavailable) and Progressing (NewReplicaSetCreated,
// ReplicaSetUpdated, NewReplicaSetAvailable). Not modelled: paused rollouts' scaling, proportional
// scaling of several ReplicaSets, progressDeadlineSeconds (no ProgressDeadlineExceeded), rollback,
// adoption of orphaned ReplicaSets, and the template hash is not Go's (an fnv32a of the template's JSON).
import { ApiError } from "../errors.ts";
import { jsonEqual, type KubeObject, timestamp } from "../objects.ts";
import { ADMIN_USER } from "../rbac.ts";
import { resourceById } from "../resources.ts";
import type { StoreEvent } from "../store.ts";
import { Controller } from "./controller.ts";
import { controllerUid } from "./pod-control.ts";

const DEPLOYMENTS = resourceById("deployments.apps");
const REPLICASETS = resourceById("replicasets.apps");
const HASH_LABEL = "pod-template-hash";
const REVISION = "deployment.kubernetes.io/revision";
const DESIRED = "deployment.kubernetes.io/desired-replicas";
const MAX = "deployment.kubernetes.io/max-replicas";
/** apimachinery's rand alphabet, as SafeEncodeString uses it */
const ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789";

interface Condition {
  type: string;
  status: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** controller.ComputeHash's shape: a hash of the template (and collision count), SafeEncodeString'd */
export function podTemplateHash(template: unknown, collisionCount = 0): string {
  const digits = String(fnv32a(JSON.stringify(template) + (collisionCount ? String(collisionCount) : "")));
  return [...digits].map((c) => ALPHANUMS[c.charCodeAt(0) % ALPHANUMS.length]).join("");
}

/** an IntOrString of the strategy resolved against `total` (intstr.GetScaledValueFromIntOrPercent) */
function scaled(v: unknown, total: number, roundUp: boolean): number {
  if (typeof v === "number") return v;
  const m = /^(\d+)%$/.exec(String(v ?? "0"));
  const pct = m ? Number(m[1]) : 0;
  return roundUp ? Math.ceil((pct * total) / 100) : Math.floor((pct * total) / 100);
}

/** ResolveFenceposts: maxSurge rounded up, maxUnavailable down; both 0 → maxUnavailable 1 */
function fenceposts(d: KubeObject): { surge: number; unavailable: number } {
  const replicas: number = d.spec?.replicas ?? 1;
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const surge = scaled(ru.maxSurge, replicas, true);
  let unavailable = scaled(ru.maxUnavailable, replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** deploymentutil.MaxUnavailable: 0 for Recreate, else maxUnavailable capped at replicas */
function maxUnavailable(d: KubeObject): number {
  const replicas: number = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type !== "RollingUpdate" || replicas === 0) return 0;
  return Math.min(fenceposts(d).unavailable, replicas);
}

function withoutHash(template: KubeObject["spec"]): unknown {
  const t = structuredClone(template ?? {});
  if (t.metadata?.labels) {
    delete t.metadata.labels[HASH_LABEL];
    if (Object.keys(t.metadata.labels).length === 0) delete t.metadata.labels;
  }
  return t;
}

const specReplicas = (rs: KubeObject): number => rs.spec?.replicas ?? 0;
const statusOf = (rs: KubeObject, key: string): number => rs.status?.[key] ?? 0;
const sum = (list: KubeObject[], f: (rs: KubeObject) => number) => list.reduce((n, rs) => n + f(rs), 0);
const revisionOf = (rs: KubeObject): number => Number(rs.metadata.annotations?.[REVISION] ?? 0) || 0;

export class DeploymentController extends Controller {
  protected observe(e: StoreEvent): void {
    if (e.resource === "deployments.apps") {
      if (e.type !== "DELETED") this.queue.add(`${e.object.metadata.namespace}/${e.object.metadata.name}`);
      return;
    }
    let rs: KubeObject | undefined;
    if (e.resource === "replicasets.apps") rs = e.object;
    else if (e.resource === "pods") {
      const uid = controllerUid(e.object, "ReplicaSet");
      const found = uid ? this.store.findByUid(uid) : undefined;
      rs = found ? this.store.get("replicasets.apps", found.namespace, found.name) : undefined;
    }
    const uid = rs ? controllerUid(rs, "Deployment") : undefined;
    const d = uid ? this.store.findByUid(uid) : undefined;
    if (d) this.queue.add(`${d.namespace}/${d.name}`);
  }

  protected reconcile(key: string): void {
    const [namespace, name] = key.split("/") as [string, string];
    const d = this.store.get("deployments.apps", namespace, name);
    if (!d || d.metadata.deletionTimestamp) return;
    const all = this.store
      .list("replicasets.apps", namespace)
      .filter((rs) => controllerUid(rs, "Deployment") === d.metadata.uid && !rs.metadata.deletionTimestamp);
    const template = withoutHash(d.spec?.template);
    let newRs = all.find((rs) => jsonEqual(withoutHash(rs.spec?.template), template));
    const old = all.filter((rs) => rs !== newRs);
    let created = false;
    if (!d.spec?.paused) {
      if (!newRs) {
        newRs = this.createReplicaSet(d, old);
        created = newRs !== undefined;
      }
      if (newRs) {
        if (d.spec?.strategy?.type === "Recreate") this.recreate(d, newRs, old);
        else this.rollingUpdate(d, newRs, old);
        this.cleanup(d, old);
      }
    }
    this.writeStatus(d, newRs, created);
  }

  private createReplicaSet(d: KubeObject, old: KubeObject[]): KubeObject | undefined {
    const replicas: number = d.spec?.replicas ?? 1;
    const hash = podTemplateHash(withoutHash(d.spec?.template), d.status?.collisionCount ?? 0);
    const template = structuredClone(d.spec?.template ?? {});
    template.metadata ??= {};
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [HASH_LABEL]: hash };
    const selector = structuredClone(d.spec?.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [HASH_LABEL]: hash };
    const revision = String(Math.max(0, ...old.map(revisionOf)) + 1);
    const rolling = d.spec?.strategy?.type === "RollingUpdate";
    // the first replicas: Recreate scales up once the old pods are gone; RollingUpdate within maxSurge
    let initial = 0;
    if (rolling) {
      const { surge } = fenceposts(d);
      initial = Math.max(0, Math.min(replicas + surge - sum(old, specReplicas), replicas));
    } else if (sum(old, specReplicas) === 0 && old.every((rs) => statusOf(rs, "replicas") === 0)) {
      initial = replicas;
    }
    const body = {
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        labels: { ...(template.metadata.labels ?? {}) },
        annotations: {
          [DESIRED]: String(replicas),
          [MAX]: String(replicas + (rolling ? fenceposts(d).surge : 0)),
          [REVISION]: revision,
        },
        ownerReferences: [
          {
            apiVersion: "apps/v1",
            kind: "Deployment",
            name: d.metadata.name!,
            uid: d.metadata.uid!,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        replicas: initial,
        minReadySeconds: d.spec?.minReadySeconds ?? 0,
        selector,
        template,
      },
    };
    try {
      const rs = this.registry.create(REPLICASETS, d.metadata.namespace, body, { user: ADMIN_USER });
      if (initial > 0) this.scaledEvent(d, rs, 0, initial);
      this.registry.mutate(DEPLOYMENTS, d.metadata.namespace, d.metadata.name!, (o) => {
        o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [REVISION]: revision };
      });
      return rs;
    } catch (e) {
      if (e instanceof ApiError && e.code === 409) {
        // a ReplicaSet of that name with another template: a hash collision, retried with a new hash
        this.registry.mutate(DEPLOYMENTS, d.metadata.namespace, d.metadata.name!, (o) => {
          o.status = { ...(o.status ?? {}), collisionCount: (o.status?.collisionCount ?? 0) + 1 };
        });
        return undefined;
      }
      throw e;
    }
  }

  private scale(d: KubeObject, rs: KubeObject, to: number): void {
    const from = specReplicas(rs);
    if (from === to) return;
    const replicas: number = d.spec?.replicas ?? 1;
    const rolling = d.spec?.strategy?.type === "RollingUpdate";
    this.registry.mutate(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, (o) => {
      o.spec.replicas = to;
      o.metadata.annotations = {
        ...(o.metadata.annotations ?? {}),
        [DESIRED]: String(replicas),
        [MAX]: String(replicas + (rolling ? fenceposts(d).surge : 0)),
      };
    });
    rs.spec.replicas = to;
    this.scaledEvent(d, rs, from, to);
  }

  private scaledEvent(d: KubeObject, rs: KubeObject, from: number, to: number): void {
    this.events.record(
      d,
      "Normal",
      "ScalingReplicaSet",
      `Scaled ${to > from ? "up" : "down"} replica set ${rs.metadata.name} from ${from} to ${to}`,
      "deployment-controller",
    );
  }

  /** rolloutRecreate */
  private recreate(d: KubeObject, newRs: KubeObject, old: KubeObject[]): void {
    const active = old.filter((rs) => specReplicas(rs) > 0);
    if (active.length > 0) {
      for (const rs of active) this.scale(d, rs, 0);
      return;
    }
    // oldPodsRunning: any pod of an old ReplicaSet not Succeeded/Failed, terminating ones included
    const oldUids = new Set(old.map((rs) => rs.metadata.uid));
    const running = this.store
      .list("pods", d.metadata.namespace)
      .some(
        (p) =>
          oldUids.has(controllerUid(p, "ReplicaSet")) &&
          p.status?.phase !== "Succeeded" &&
          p.status?.phase !== "Failed",
      );
    if (running || sum(old, (rs) => statusOf(rs, "replicas")) > 0) return;
    this.scale(d, newRs, d.spec?.replicas ?? 1);
  }

  /** rolloutRolling: reconcileNewReplicaSet, then reconcileOldReplicaSets */
  private rollingUpdate(d: KubeObject, newRs: KubeObject, old: KubeObject[]): void {
    const replicas: number = d.spec?.replicas ?? 1;
    const { surge, unavailable } = fenceposts(d);
    const all = [newRs, ...old];
    if (specReplicas(newRs) > replicas) this.scale(d, newRs, replicas);
    else if (specReplicas(newRs) < replicas) {
      const current = sum(all, specReplicas);
      const room = replicas + surge - current;
      if (room > 0)
        this.scale(d, newRs, specReplicas(newRs) + Math.min(room, replicas - specReplicas(newRs)));
    }
    if (sum(old, specReplicas) === 0) return;
    const minAvailable = replicas - unavailable;
    const newUnavailable = specReplicas(newRs) - statusOf(newRs, "availableReplicas");
    let maxScaledDown = sum(all, specReplicas) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return;
    // cleanupUnhealthyReplicas: old replicas that are not available go first, oldest first
    const byAge = [...old].sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of byAge) {
      if (maxScaledDown <= 0) break;
      const unhealthy = specReplicas(rs) - statusOf(rs, "availableReplicas");
      if (unhealthy <= 0 || specReplicas(rs) === 0) continue;
      const down = Math.min(maxScaledDown, unhealthy);
      this.scale(d, rs, specReplicas(rs) - down);
      maxScaledDown -= down;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: down to minAvailable over every available replica
    let total = sum(all, (rs) => statusOf(rs, "availableReplicas")) - minAvailable;
    for (const rs of byAge) {
      if (total <= 0) break;
      if (specReplicas(rs) === 0) continue;
      const down = Math.min(specReplicas(rs), total);
      this.scale(d, rs, specReplicas(rs) - down);
      total -= down;
    }
  }

  /** cleanupDeployment: old ReplicaSets without replicas beyond revisionHistoryLimit, oldest first */
  private cleanup(d: KubeObject, old: KubeObject[]): void {
    const limit: number = d.spec?.revisionHistoryLimit ?? 10;
    const idle = old
      .filter((rs) => specReplicas(rs) === 0 && statusOf(rs, "replicas") === 0)
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      try {
        this.registry.delete(REPLICASETS, rs.metadata.namespace, rs.metadata.name!, {}, { user: ADMIN_USER });
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
  }

  /** calculateStatus + syncRolloutStatus */
  private writeStatus(d: KubeObject, newRs: KubeObject | undefined, created: boolean): void {
    const { namespace, name } = d.metadata;
    const current = this.store.get("deployments.apps", namespace, name!);
    if (!current) return;
    const all = this.store
      .list("replicasets.apps", namespace)
      .filter((rs) => controllerUid(rs, "Deployment") === current.metadata.uid);
    const fresh = newRs ? all.find((rs) => rs.metadata.uid === newRs.metadata.uid) : undefined;
    const replicas: number = current.spec?.replicas ?? 1;
    const available = sum(all, (rs) => statusOf(rs, "availableReplicas"));
    const status: Record<string, unknown> = {
      observedGeneration: current.metadata.generation,
      replicas: sum(all, (rs) => statusOf(rs, "replicas")),
      updatedReplicas: fresh ? statusOf(fresh, "replicas") : 0,
      readyReplicas: sum(all, (rs) => statusOf(rs, "readyReplicas")),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, sum(all, specReplicas) - available),
      collisionCount: current.status?.collisionCount,
    };
    const conditions: Condition[] = structuredClone(current.status?.conditions ?? []);
    const set = (type: string, ok: boolean, reason: string, message: string) => {
      const now = timestamp();
      const i = conditions.findIndex((c) => c.type === type);
      const prev = conditions[i];
      const statusText = ok ? "True" : "False";
      if (prev && prev.status === statusText && prev.reason === reason) return;
      const next: Condition = {
        type,
        status: statusText,
        lastUpdateTime: now,
        lastTransitionTime: prev && prev.status === statusText ? prev.lastTransitionTime : now,
        reason,
        message,
      };
      if (i >= 0) conditions[i] = next;
      else conditions.push(next);
    };
    if (available >= replicas - maxUnavailable(current))
      set("Available", true, "MinimumReplicasAvailable", "Deployment has minimum availability.");
    else
      set("Available", false, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.");
    if (fresh) {
      const rsName = fresh.metadata.name;
      const was = current.status ?? {};
      const progressing = conditions.find((c) => c.type === "Progressing");
      const alreadyComplete =
        status.replicas === status.updatedReplicas && progressing?.reason === "NewReplicaSetAvailable";
      const complete =
        status.updatedReplicas === replicas && status.replicas === replicas && available === replicas;
      const moved =
        (status.updatedReplicas as number) > (was.updatedReplicas ?? 0) ||
        (status.readyReplicas as number) > (was.readyReplicas ?? 0) ||
        available > (was.availableReplicas ?? 0) ||
        (status.replicas as number) - (status.updatedReplicas as number) <
          (was.replicas ?? 0) - (was.updatedReplicas ?? 0);
      if (created) set("Progressing", true, "NewReplicaSetCreated", `Created new replica set "${rsName}"`);
      else if (!alreadyComplete && complete)
        set(
          "Progressing",
          true,
          "NewReplicaSetAvailable",
          `ReplicaSet "${rsName}" has successfully progressed.`,
        );
      else if (!alreadyComplete && moved)
        set("Progressing", true, "ReplicaSetUpdated", `ReplicaSet "${rsName}" is progressing.`);
    }
    status.conditions = conditions;
    // every DeploymentStatus field is omitempty
    for (const [k, v] of Object.entries(status)) if (v === 0 || v === undefined) delete status[k];
    this.registry.mutate(DEPLOYMENTS, namespace, name!, (o) => {
      o.status = status;
    });
  }
}
