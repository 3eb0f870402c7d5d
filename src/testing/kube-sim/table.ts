// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for (Accept: ...;as=Table),
// with the columns Kubernetes' printers use for the kinds kube-sim serves.
import type { KubeObject } from "./objects.ts";
import type { ResourceType } from "./resources.ts";

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  cell: (o: KubeObject) => string | number;
}

/** kubectl's `duration.HumanDuration` */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  return `${d}d`;
}

const age = (o: KubeObject) => humanDuration(Date.now() - Date.parse(String(o.metadata.creationTimestamp)));
const name: Column = { name: "Name", type: "string", format: "name", cell: (o) => o.metadata.name ?? "" };
const ageCol: Column = { name: "Age", type: "string", cell: age };

// biome-ignore lint/suspicious/noExplicitAny: container statuses of arbitrary API JSON
type ContainerStatus = any;

function terminatedText(prefix: string, t: { reason?: string; signal?: number; exitCode?: number }): string {
  if (t.reason) return `${prefix}${t.reason}`;
  return t.signal ? `${prefix}Signal:${t.signal}` : `${prefix}ExitCode:${t.exitCode}`;
}

/** The STATUS column as Kubernetes 1.32's pod printer computes it (native sidecars included). */
function podStatus(p: KubeObject): string {
  const conditions: { type: string; status: string; reason?: string }[] = p.status?.conditions ?? [];
  const isTrue = (type: string) => conditions.some((c) => c.type === type && c.status === "True");
  let reason: string = p.status?.reason || p.status?.phase || "";
  const sidecars = new Set(
    (p.spec?.initContainers ?? [])
      .filter((c: { restartPolicy?: string }) => c.restartPolicy === "Always")
      .map((c: { name: string }) => c.name),
  );
  const inits: ContainerStatus[] = p.status?.initContainerStatuses ?? [];
  let initializing = false;
  for (const [i, c] of inits.entries()) {
    if (c.state?.terminated && c.state.terminated.exitCode === 0) continue;
    if (sidecars.has(c.name) && c.started) continue;
    if (c.state?.terminated) reason = terminatedText("Init:", c.state.terminated);
    else if (c.state?.waiting?.reason && c.state.waiting.reason !== "PodInitializing")
      reason = `Init:${c.state.waiting.reason}`;
    else reason = `Init:${i}/${(p.spec?.initContainers ?? []).length}`;
    initializing = true;
    break;
  }
  if (!initializing || isTrue("Initialized")) {
    let hasRunning = false;
    for (const c of [...(p.status?.containerStatuses ?? [])].reverse() as ContainerStatus[]) {
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (c.state?.terminated) reason = terminatedText("", c.state.terminated);
      else if (c.ready && c.state?.running) hasRunning = true;
    }
    if (reason === "Completed" && hasRunning) reason = isTrue("Ready") ? "Running" : "NotReady";
  }
  const terminal = p.status?.phase === "Succeeded" || p.status?.phase === "Failed";
  if (p.metadata.deletionTimestamp && p.status?.reason === "NodeLost") reason = "Unknown";
  else if (p.metadata.deletionTimestamp && !terminal) reason = "Terminating";
  return reason;
}

function address(n: KubeObject, type: string): string {
  return (n.status?.addresses ?? []).find((a: { type: string }) => a.type === type)?.address ?? "<none>";
}

const COLUMNS: Record<string, Column[]> = {
  pods: [
    name,
    {
      name: "Ready",
      type: "string",
      cell: (p) => {
        const cs = p.status?.containerStatuses ?? [];
        return `${cs.filter((c: { ready: boolean }) => c.ready).length}/${(p.spec?.containers ?? []).length}`;
      },
    },
    { name: "Status", type: "string", cell: podStatus },
    {
      name: "Restarts",
      type: "string",
      cell: (p) =>
        String(
          (p.status?.containerStatuses ?? []).reduce(
            (n: number, c: { restartCount: number }) => n + c.restartCount,
            0,
          ),
        ),
    },
    ageCol,
    { name: "IP", type: "string", priority: 1, cell: (p) => p.status?.podIP ?? "<none>" },
    { name: "Node", type: "string", priority: 1, cell: (p) => p.spec?.nodeName ?? "<none>" },
  ],
  jobs: [
    name,
    {
      name: "Status",
      type: "string",
      cell: (j) => {
        const types = (j.status?.conditions ?? [])
          .filter((c: { status: string }) => c.status === "True")
          .map((c: { type: string }) => c.type);
        if (types.includes("Complete")) return "Complete";
        if (types.includes("Failed")) return "Failed";
        if (j.metadata.deletionTimestamp) return "Terminating";
        if (types.includes("SuccessCriteriaMet")) return "SuccessCriteriaMet";
        if (types.includes("FailureTarget")) return "FailureTarget";
        return j.spec?.suspend ? "Suspended" : "Running";
      },
    },
    {
      name: "Completions",
      type: "string",
      cell: (j) => `${j.status?.succeeded ?? 0}/${j.spec?.completions ?? 1}`,
    },
    {
      name: "Duration",
      type: "string",
      cell: (j) =>
        j.status?.startTime
          ? humanDuration(
              (j.status.completionTime ? Date.parse(j.status.completionTime) : Date.now()) -
                Date.parse(j.status.startTime),
            )
          : "",
    },
    ageCol,
  ],
  namespaces: [name, { name: "Status", type: "string", cell: (n) => n.status?.phase ?? "" }, ageCol],
  configmaps: [
    name,
    {
      name: "Data",
      type: "integer",
      cell: (c) => Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length,
    },
    ageCol,
  ],
  secrets: [
    name,
    { name: "Type", type: "string", cell: (s) => s.type ?? "" },
    { name: "Data", type: "integer", cell: (s) => Object.keys(s.data ?? {}).length },
    ageCol,
  ],
  serviceaccounts: [
    name,
    { name: "Secrets", type: "integer", cell: (s) => (s.secrets ?? []).length },
    ageCol,
  ],
  services: [
    name,
    { name: "Type", type: "string", cell: (s) => s.spec?.type ?? "" },
    { name: "Cluster-IP", type: "string", cell: (s) => s.spec?.clusterIP ?? "" },
    { name: "External-IP", type: "string", cell: () => "<none>" },
    {
      name: "Port(s)",
      type: "string",
      cell: (s) =>
        (s.spec?.ports ?? [])
          .map((p: { port: number; protocol?: string }) => `${p.port}/${p.protocol ?? "TCP"}`)
          .join(",") || "<none>",
    },
    ageCol,
  ],
  events: [
    {
      name: "Last Seen",
      type: "string",
      cell: (e) =>
        humanDuration(Date.now() - Date.parse(String(e.lastTimestamp ?? e.metadata.creationTimestamp))),
    },
    { name: "Type", type: "string", cell: (e) => e.type ?? "" },
    { name: "Reason", type: "string", cell: (e) => e.reason ?? "" },
    {
      name: "Object",
      type: "string",
      cell: (e) => `${String(e.involvedObject?.kind ?? "").toLowerCase()}/${e.involvedObject?.name ?? ""}`,
    },
    { name: "Message", type: "string", cell: (e) => e.message ?? "" },
  ],
  nodes: [
    name,
    {
      name: "Status",
      type: "string",
      cell: (n) => {
        const ready = (n.status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
        const s = ready?.status === "True" ? "Ready" : ready?.status === "False" ? "NotReady" : "Unknown";
        return n.spec?.unschedulable ? `${s},SchedulingDisabled` : s;
      },
    },
    {
      name: "Roles",
      type: "string",
      cell: (n) => {
        const roles = Object.keys(n.metadata.labels ?? {})
          .filter((k) => k.startsWith("node-role.kubernetes.io/"))
          .map((k) => k.slice("node-role.kubernetes.io/".length))
          .sort();
        return roles.length ? roles.join(",") : "<none>";
      },
    },
    ageCol,
    { name: "Version", type: "string", cell: (n) => n.status?.nodeInfo?.kubeletVersion ?? "" },
    { name: "Internal-IP", type: "string", priority: 1, cell: (n) => address(n, "InternalIP") },
    { name: "External-IP", type: "string", priority: 1, cell: (n) => address(n, "ExternalIP") },
    { name: "OS-Image", type: "string", priority: 1, cell: (n) => n.status?.nodeInfo?.osImage ?? "" },
    {
      name: "Kernel-Version",
      type: "string",
      priority: 1,
      cell: (n) => n.status?.nodeInfo?.kernelVersion ?? "",
    },
    {
      name: "Container-Runtime",
      type: "string",
      priority: 1,
      cell: (n) => n.status?.nodeInfo?.containerRuntimeVersion ?? "",
    },
  ],
  deployments: [
    name,
    {
      name: "Ready",
      type: "string",
      cell: (d) => `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
    },
    { name: "Up-to-date", type: "integer", cell: (d) => d.status?.updatedReplicas ?? 0 },
    { name: "Available", type: "integer", cell: (d) => d.status?.availableReplicas ?? 0 },
    ageCol,
    ...workloadWide(),
  ],
  replicasets: [
    name,
    { name: "Desired", type: "integer", cell: (r) => r.spec?.replicas ?? 0 },
    { name: "Current", type: "integer", cell: (r) => r.status?.replicas ?? 0 },
    { name: "Ready", type: "integer", cell: (r) => r.status?.readyReplicas ?? 0 },
    ageCol,
    ...workloadWide(),
  ],
  persistentvolumeclaims: [
    name,
    {
      name: "Status",
      type: "string",
      cell: (c) => (c.metadata.deletionTimestamp ? "Terminating" : (c.status?.phase ?? "")),
    },
    { name: "Volume", type: "string", cell: (c) => c.spec?.volumeName ?? "" },
    { name: "Capacity", type: "string", cell: (c) => c.status?.capacity?.storage ?? "" },
    {
      name: "Access Modes",
      type: "string",
      cell: (c) =>
        (c.status?.accessModes ?? [])
          .map(
            (m: string) =>
              ({ ReadWriteOnce: "RWO", ReadOnlyMany: "ROX", ReadWriteMany: "RWX", ReadWriteOncePod: "RWOP" })[
                m
              ] ?? m,
          )
          .join(","),
    },
    { name: "StorageClass", type: "string", cell: (c) => c.spec?.storageClassName ?? "<unset>" },
    {
      name: "VolumeAttributesClass",
      type: "string",
      cell: (c) => c.spec?.volumeAttributesClassName ?? "<unset>",
    },
    ageCol,
    { name: "VolumeMode", type: "string", priority: 1, cell: (c) => c.spec?.volumeMode ?? "<unset>" },
  ],
  rolebindings: [
    name,
    { name: "Role", type: "string", cell: (b) => `${b.roleRef?.kind}/${b.roleRef?.name}` },
    ageCol,
  ],
};

/** the wide columns of Deployments and ReplicaSets: containers, images, selector */
function workloadWide(): Column[] {
  const containers = (o: KubeObject): { name: string; image: string }[] =>
    o.spec?.template?.spec?.containers ?? [];
  return [
    {
      name: "Containers",
      type: "string",
      priority: 1,
      cell: (o) =>
        containers(o)
          .map((c) => c.name)
          .join(","),
    },
    {
      name: "Images",
      type: "string",
      priority: 1,
      cell: (o) =>
        containers(o)
          .map((c) => c.image)
          .join(","),
    },
    {
      name: "Selector",
      type: "string",
      priority: 1,
      cell: (o) => {
        const sel = o.spec?.selector ?? {};
        const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
        for (const e of sel.matchExpressions ?? [])
          parts.push(
            e.operator === "Exists"
              ? e.key
              : e.operator === "DoesNotExist"
                ? `!${e.key}`
                : `${e.key} ${e.operator === "In" ? "in" : "notin"} (${(e.values ?? []).join(",")})`,
          );
        return parts.length ? parts.join(",") : "<none>";
      },
    },
  ];
}

/** Table for a list (or one object) of `rt` */
export function toTable(
  rt: ResourceType,
  items: KubeObject[],
  resourceVersion: string,
): Record<string, unknown> {
  const cols = COLUMNS[rt.resource] ?? [
    name,
    { name: "Created At", type: "date", cell: (o: KubeObject) => String(o.metadata.creationTimestamp) },
  ];
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? "",
      description: "",
      priority: c.priority ?? 0,
    })),
    rows: items.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}

export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? "").split(",")[0]?.includes("as=Table") ?? false;
}

/** The Table of a Scale (`kubectl get deployment x --subresource=scale`): the Scale printer's columns */
export function scaleTable(scale: KubeObject, resourceVersion: string): KubeObject {
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: [
      { name: "Name", type: "string", format: "name", description: "", priority: 0 },
      { name: "Desired", type: "integer", format: "", description: "", priority: 0 },
      { name: "Available", type: "integer", format: "", description: "", priority: 0 },
    ],
    rows: [
      {
        cells: [scale.metadata.name, scale.spec?.replicas ?? 0, scale.status?.replicas ?? 0],
        object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: scale.metadata },
      },
    ],
  };
}
