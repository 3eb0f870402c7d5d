// Garbage collector: deletes dependents whose owners (by ownerReference uid) are gone, carries out
// Foreground deletion (delete dependents, then drop the owner's `foregroundDeletion` finalizer) and
// Orphan deletion (strip ownerReferences from dependents, then drop the `orphan` finalizer).
import { ApiError } from "../errors.ts";
import type { KubeObject } from "../objects.ts";
import { ADMIN_USER } from "../rbac.ts";
import { RESOURCES, type ResourceType, resourceById, resourceId } from "../resources.ts";
import type { StoreEvent } from "../store.ts";
import { Controller } from "./controller.ts";

const STORED = RESOURCES.filter((r) => !r.virtual);

export class GarbageCollector extends Controller {
  protected observe(e: StoreEvent): void {
    if (e.type === "DELETED" || e.object.metadata.deletionTimestamp || e.object.metadata.ownerReferences)
      this.queue.add("sweep");
  }

  protected reconcile(): void {
    this.sweep();
  }

  private all(): { rt: ResourceType; obj: KubeObject }[] {
    return STORED.flatMap((rt) => this.store.list(resourceId(rt)).map((obj) => ({ rt, obj })));
  }

  private sweep(): void {
    const objects = this.all();
    const dependents = new Map<string, { rt: ResourceType; obj: KubeObject }[]>();
    for (const o of objects) {
      for (const ref of o.obj.metadata.ownerReferences ?? []) {
        const list = dependents.get(ref.uid) ?? [];
        list.push(o);
        dependents.set(ref.uid, list);
      }
    }
    for (const { rt, obj } of objects) {
      const meta = obj.metadata;
      // dependents of a gone owner: delete if no owner is left
      const refs = meta.ownerReferences ?? [];
      if (refs.length > 0 && !meta.deletionTimestamp) {
        const alive = refs.filter((r) => this.ownerExists(r.uid, r.name, meta.namespace));
        if (alive.length === 0) this.deleteQuietly(rt, obj, "Background");
      }
      if (!meta.deletionTimestamp) continue;
      const finalizers = meta.finalizers ?? [];
      const deps = dependents.get(meta.uid!) ?? [];
      if (finalizers.includes("orphan")) {
        for (const d of deps) {
          this.registry.mutate(d.rt, d.obj.metadata.namespace, d.obj.metadata.name!, (x) => {
            x.metadata.ownerReferences = (x.metadata.ownerReferences ?? []).filter((r) => r.uid !== meta.uid);
            if (x.metadata.ownerReferences.length === 0) delete x.metadata.ownerReferences;
          });
        }
        this.removeFinalizer(rt, obj, "orphan");
      } else if (finalizers.includes("foregroundDeletion")) {
        for (const d of deps)
          if (!d.obj.metadata.deletionTimestamp) this.deleteQuietly(d.rt, d.obj, "Foreground");
        const blocking = deps.filter((d) =>
          (d.obj.metadata.ownerReferences ?? []).some((r) => r.uid === meta.uid && r.blockOwnerDeletion),
        );
        if (blocking.length === 0) this.removeFinalizer(rt, obj, "foregroundDeletion");
      }
    }
  }

  private ownerExists(uid: string, name: string, namespace: string | undefined): boolean {
    const found = this.store.findByUid(uid);
    if (!found || found.name !== name) return false;
    const rt = resourceById(found.resource);
    return !rt.namespaced || found.namespace === namespace;
  }

  private removeFinalizer(rt: ResourceType, obj: KubeObject, finalizer: string): void {
    this.registry.mutate(rt, obj.metadata.namespace, obj.metadata.name!, (x) => {
      x.metadata.finalizers = (x.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    });
  }

  private deleteQuietly(
    rt: ResourceType,
    obj: KubeObject,
    propagationPolicy: "Background" | "Foreground",
  ): void {
    try {
      this.registry.delete(
        rt,
        obj.metadata.namespace,
        obj.metadata.name!,
        { propagationPolicy, preconditions: { uid: obj.metadata.uid! } },
        { user: ADMIN_USER },
      );
    } catch (e) {
      if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
    }
  }
}
