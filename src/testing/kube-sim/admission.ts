// The mutating admission plugins a default API server runs on pod creates, in their order:
// ServiceAccount (default account, the account must exist, its imagePullSecrets, the projected API
// token volume mounted in every container), Priority (priority 0, PreemptLowerPriority) and
// DefaultTolerationSeconds (not-ready/unreachable NoExecute tolerations for 300 s unless tolerated).
import { forbidden } from "./errors.ts";
import { generateName, isObject, type KubeObject } from "./objects.ts";
import type { ResourceType } from "./resources.ts";
import type { Store } from "./store.ts";

/** where the ServiceAccount plugin mounts the API token volume */
export const SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";

type Loose = Record<string, unknown>;

function list(v: unknown): Loose[] {
  return Array.isArray(v) ? v.filter(isObject) : [];
}

function tokenVolume(name: string): Loose {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
        { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
        {
          downwardAPI: {
            items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }],
          },
        },
      ],
      defaultMode: 420,
    },
  };
}

function serviceAccountPlugin(store: Store, rt: ResourceType, pod: KubeObject, namespace: string): void {
  const spec = pod.spec;
  spec.serviceAccountName ||= spec.serviceAccount || "default";
  spec.serviceAccount = spec.serviceAccountName;
  const name = String(spec.serviceAccountName);
  const sa = store.get("serviceaccounts", namespace, name);
  if (!sa) {
    throw forbidden(
      rt,
      pod.metadata.name || pod.metadata.generateName || "",
      `error looking up service account ${namespace}/${name}: serviceaccount "${name}" not found`,
    );
  }
  const automount = spec.automountServiceAccountToken ?? sa.automountServiceAccountToken ?? true;
  if (automount) {
    const containers = [...list(spec.initContainers), ...list(spec.containers)];
    const volumes = list(spec.volumes);
    let volumeName = `kube-api-access-${generateName("")}`;
    while (volumes.some((v) => v.name === volumeName)) volumeName = `kube-api-access-${generateName("")}`;
    let mounted = false;
    for (const c of containers) {
      const mounts = list(c.volumeMounts);
      if (mounts.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH)) continue;
      c.volumeMounts = [
        ...mounts,
        { name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH },
      ];
      mounted = true;
    }
    if (mounted) spec.volumes = [...volumes, tokenVolume(volumeName)];
  }
  if (list(spec.imagePullSecrets).length === 0 && list(sa.imagePullSecrets).length > 0)
    spec.imagePullSecrets = list(sa.imagePullSecrets).map((s) => ({ ...s }));
}

function tolerates(tolerations: Loose[], key: string): boolean {
  return tolerations.some(
    (t) => (t.key === key || (!t.key && t.operator === "Exists")) && (!t.effect || t.effect === "NoExecute"),
  );
}

function defaultTolerationSecondsPlugin(pod: KubeObject): void {
  const tolerations = list(pod.spec.tolerations);
  const added: Loose[] = [];
  for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
    if (!tolerates(tolerations, key))
      added.push({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 });
  }
  if (added.length > 0) pod.spec.tolerations = [...tolerations, ...added];
}

/** Run the admission plugins on a pod being created in `namespace`; throws 403 Forbidden as they do. */
export function admitPodCreate(store: Store, rt: ResourceType, pod: KubeObject, namespace: string): void {
  pod.spec ??= {};
  serviceAccountPlugin(store, rt, pod, namespace);
  pod.spec.priority ??= 0;
  pod.spec.preemptionPolicy ??= "PreemptLowerPriority";
  defaultTolerationSecondsPlugin(pod);
}
