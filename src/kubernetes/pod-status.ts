// Reading why a pod does not start. Used for the runner pod (launcher side) and worker pods
// (KubeCluster): a pod stuck on an image pull, a crash loop, a config error or unschedulable is a
// failure to report at once, with the reason and the pod's last events, never something to wait
// on forever (the original hung on ImagePullBackOff: Prefect #2645).

import type { V1Pod } from "@kubernetes/client-node";
import type { KubeClients } from "./client.ts";

/** Container waiting reasons that will not resolve by themselves. */
export const FATAL_WAITING_REASONS: ReadonlySet<string> = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "CrashLoopBackOff",
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
]);

/** Why a pod cannot start. */
export interface StartFailure {
  pod: string;
  reason: string;
  message: string;
}

/** The fatal reason of `pod`, if any, without events (pure). */
export function fatalReason(pod: V1Pod): { reason: string; detail: string } | undefined {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const s of statuses) {
    const w = s.state?.waiting;
    if (w?.reason && FATAL_WAITING_REASONS.has(w.reason)) {
      return { reason: w.reason, detail: `container "${s.name}" (${s.image}): ${w.message ?? w.reason}` };
    }
  }
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    return { reason: "Unschedulable", detail: scheduled.message ?? "no node fits the pod's requests" };
  }
  if (pod.status?.phase === "Failed") {
    return { reason: pod.status.reason ?? "Failed", detail: pod.status.message ?? "the pod failed" };
  }
  return undefined;
}

/** The last `max` events of a pod, one line each ("Warning FailedScheduling: ..."). */
export async function podEvents(
  clients: Pick<KubeClients, "core">,
  namespace: string,
  pod: string,
  max = 5,
): Promise<string[]> {
  try {
    const list = await clients.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${pod}`,
    });
    return list.items.slice(-max).map((e) => `${e.type ?? ""} ${e.reason ?? ""}: ${e.message ?? ""}`.trim());
  } catch {
    return []; // events are an explanation, not a requirement (RBAC may lack `list events`)
  }
}

/** A `StartFailure` for `pod` when it cannot start, with its last events in the message. */
export async function podStartFailure(
  clients: Pick<KubeClients, "core">,
  pod: V1Pod,
): Promise<StartFailure | undefined> {
  const fatal = fatalReason(pod);
  if (!fatal) return undefined;
  const name = pod.metadata?.name ?? "?";
  const events = await podEvents(clients, pod.metadata?.namespace ?? "default", name);
  const hint =
    fatal.reason === "ErrImagePull" || fatal.reason === "ImagePullBackOff"
      ? "; check the image name and, for a private registry, privateRegistry: true and its pull Secret"
      : fatal.reason === "Unschedulable"
        ? "; lower the resource requests or add capacity"
        : "";
  return {
    pod: name,
    reason: fatal.reason,
    message:
      `pod ${name} cannot start: ${fatal.reason}: ${fatal.detail}${hint}` +
      (events.length ? `\n  last events:\n    ${events.join("\n    ")}` : ""),
  };
}
