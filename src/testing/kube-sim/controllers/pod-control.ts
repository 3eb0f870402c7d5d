// What the workload controllers (ReplicaSet, Job) share, after kube-controller-manager's
// controller.PodControl: a controller's pods are found by its controller ownerReference; a pod is
// created from the owner's template (generateName `<owner>-`, the template's labels and annotations,
// a controller ownerReference that blocks the owner's foreground deletion) with a SuccessfulCreate
// Event, or a FailedCreate Event and a retry after a second (the work queue's back-off, e.g. until
// the ServiceAccount exists); a pod is deleted with a SuccessfulDelete Event, one already gone is no
// error.
import { ApiError } from "../errors.ts";
import type { EventRecorder } from "../events.ts";
import type { KubeObject } from "../objects.ts";
import { ADMIN_USER } from "../rbac.ts";
import type { Registry } from "../registry.ts";
import { resourceById } from "../resources.ts";
import type { ControllerContext } from "./controller.ts";

const PODS = resourceById("pods");
/** delay before a failed pod create is retried */
export const CREATE_RETRY_MS = 1000;

/** the uid of `obj`'s controller of kind `kind` (metav1.GetControllerOf) */
export function controllerUid(obj: KubeObject, kind: string): string | undefined {
  return (obj.metadata.ownerReferences ?? []).find((r) => r.controller && r.kind === kind)?.uid;
}

export class PodControl {
  private readonly registry: Registry;
  private readonly events: EventRecorder;

  constructor(
    ctx: Pick<ControllerContext, "registry" | "events">,
    /** the owners' type: `{ apiVersion: "batch/v1", kind: "Job" }` */
    private readonly ownerType: { apiVersion: string; kind: string },
    /** the Events' source component: `job-controller` */
    private readonly component: string,
  ) {
    this.registry = ctx.registry;
    this.events = ctx.events;
  }

  /** Creates one pod of `owner`'s template; false (and `retry` called after a second) if refused. */
  create(owner: KubeObject, retry: (afterMs: number) => void): boolean {
    const template = owner.spec?.template ?? {};
    const pod = {
      metadata: {
        generateName: `${owner.metadata.name}-`,
        labels: { ...(template.metadata?.labels ?? {}) },
        annotations: { ...(template.metadata?.annotations ?? {}) },
        ownerReferences: [
          {
            ...this.ownerType,
            name: owner.metadata.name!,
            uid: owner.metadata.uid!,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: structuredClone(template.spec ?? {}),
    };
    try {
      const created = this.registry.create(PODS, owner.metadata.namespace, pod, { user: ADMIN_USER });
      this.events.record(
        owner,
        "Normal",
        "SuccessfulCreate",
        `Created pod: ${created.metadata.name}`,
        this.component,
      );
      return true;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      this.events.record(owner, "Warning", "FailedCreate", `Error creating: ${e.message}`, this.component);
      retry(CREATE_RETRY_MS);
      return false;
    }
  }

  /** Deletes `pod` of `owner` (its grace period applies). */
  delete(owner: KubeObject, pod: KubeObject): void {
    try {
      this.registry.delete(PODS, pod.metadata.namespace, pod.metadata.name!, {}, { user: ADMIN_USER });
      this.events.record(
        owner,
        "Normal",
        "SuccessfulDelete",
        `Deleted pod: ${pod.metadata.name}`,
        this.component,
      );
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
  }
}
