// Namespace lifecycle: every namespace gets a `default` ServiceAccount; a namespace marked for deletion
// has its content deleted, then its `kubernetes` finalizer dropped, then disappears.
import { ApiError } from "../errors.ts";
import { ADMIN_USER } from "../rbac.ts";
import { RESOURCES, resourceById, resourceId } from "../resources.ts";
import type { StoreEvent } from "../store.ts";
import { Controller } from "./controller.ts";

export class NamespaceController extends Controller {
  protected observe(e: StoreEvent): void {
    if (e.resource === "namespaces") this.queue.add(e.object.metadata.name!);
    else if (e.resource === "serviceaccounts" && e.type === "DELETED")
      this.queue.add(e.object.metadata.namespace!);
    else if (e.type === "DELETED" && e.object.metadata.namespace) {
      const ns = this.store.get("namespaces", undefined, e.object.metadata.namespace);
      if (ns?.metadata.deletionTimestamp) this.queue.add(e.object.metadata.namespace);
    }
  }

  protected reconcile(name: string): void {
    const ns = this.store.get("namespaces", undefined, name);
    if (!ns) return;
    if (!ns.metadata.deletionTimestamp) {
      if (!this.store.has("serviceaccounts", name, "default")) {
        try {
          this.registry.create(
            resourceById("serviceaccounts"),
            name,
            { metadata: { name: "default" } },
            { user: ADMIN_USER },
          );
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 409)) throw e;
        }
      }
      return;
    }
    let remaining = 0;
    for (const rt of RESOURCES.filter((r) => r.namespaced && !r.virtual)) {
      for (const obj of this.store.list(resourceId(rt), name)) {
        remaining++;
        if (obj.metadata.deletionTimestamp) continue;
        try {
          this.registry.delete(
            rt,
            name,
            obj.metadata.name!,
            { propagationPolicy: "Background" },
            { user: ADMIN_USER },
          );
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
    }
    if (remaining > 0) return;
    const nsRt = resourceById("namespaces");
    this.registry.mutate(nsRt, undefined, name, (o) => {
      o.spec = { ...(o.spec ?? {}), finalizers: [] };
    });
    this.store.remove("namespaces", undefined, name);
  }
}
