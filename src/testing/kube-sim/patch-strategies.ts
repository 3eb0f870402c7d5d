// Strategic-merge-patch metadata of the kinds kube-sim serves: for each Go struct of k8s.io/api
// (core/v1, batch/v1, rbac/v1) and apimachinery meta/v1 at v0.32.4, the list fields whose struct tags
// carry `patchStrategy` (and `patchMergeKey`) — the facts the OpenAPI publishes as
// `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`. A list field not named here is
// atomic: a patch replaces it whole (e.g. `tolerations`, `args`, `command`).

export interface PatchMeta {
  /** `merge`, `merge,retainKeys` */
  strategy: string;
  /** the merge key of a list of objects; absent for a list of scalars merged as a set */
  key?: string;
}

/** Go struct name → JSON field → patch metadata */
export const PATCH_STRATEGIES: Record<string, Record<string, PatchMeta>> = {
  ComponentStatus: {
    conditions: { strategy: "merge", key: "type" },
  },
  Container: {
    env: { strategy: "merge", key: "name" },
    ports: { strategy: "merge", key: "containerPort" },
    volumeDevices: { strategy: "merge", key: "devicePath" },
    volumeMounts: { strategy: "merge", key: "mountPath" },
  },
  ContainerStatus: {
    allocatedResourcesStatus: { strategy: "merge", key: "name" },
    volumeMounts: { strategy: "merge", key: "mountPath" },
  },
  EphemeralContainerCommon: {
    env: { strategy: "merge", key: "name" },
    ports: { strategy: "merge", key: "containerPort" },
    volumeDevices: { strategy: "merge", key: "devicePath" },
    volumeMounts: { strategy: "merge", key: "mountPath" },
  },
  JobStatus: {
    conditions: { strategy: "merge", key: "type" },
  },
  NamespaceStatus: {
    conditions: { strategy: "merge", key: "type" },
  },
  NodeSpec: {
    podCIDRs: { strategy: "merge" },
  },
  NodeStatus: {
    addresses: { strategy: "merge", key: "type" },
    conditions: { strategy: "merge", key: "type" },
  },
  ObjectMeta: {
    finalizers: { strategy: "merge" },
    ownerReferences: { strategy: "merge", key: "uid" },
  },
  PersistentVolumeClaimStatus: {
    conditions: { strategy: "merge", key: "type" },
  },
  PodSpec: {
    containers: { strategy: "merge", key: "name" },
    ephemeralContainers: { strategy: "merge", key: "name" },
    hostAliases: { strategy: "merge", key: "ip" },
    imagePullSecrets: { strategy: "merge", key: "name" },
    initContainers: { strategy: "merge", key: "name" },
    resourceClaims: { strategy: "merge,retainKeys", key: "name" },
    schedulingGates: { strategy: "merge", key: "name" },
    topologySpreadConstraints: { strategy: "merge", key: "topologyKey" },
    volumes: { strategy: "merge,retainKeys", key: "name" },
  },
  PodStatus: {
    conditions: { strategy: "merge", key: "type" },
    hostIPs: { strategy: "merge", key: "ip" },
    podIPs: { strategy: "merge", key: "ip" },
    resourceClaimStatuses: { strategy: "merge,retainKeys", key: "name" },
  },
  ReplicationControllerStatus: {
    conditions: { strategy: "merge", key: "type" },
  },
  ServiceAccount: {
    secrets: { strategy: "merge", key: "name" },
  },
  ServiceSpec: {
    ports: { strategy: "merge", key: "port" },
  },
  ServiceStatus: {
    conditions: { strategy: "merge", key: "type" },
  },
};
