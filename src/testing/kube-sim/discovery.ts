// Discovery documents: /version, /api, /apis, and the per-group-version resource lists that kubectl and
// client-node's KubernetesObjectApi read to map kinds to resources.
import { apiVersionOf, groupVersions, RESOURCES } from "./resources.ts";

/** the Kubernetes version kube-sim implements (and reports unless told otherwise) */
export const KUBERNETES_VERSION = "1.32.4";

/** `1.28.9` → its parts; throws on anything else */
export function parseVersion(version: string): { major: string; minor: string; patch: string } {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!m) throw new Error(`kube-sim: serverVersion must look like 1.28.9, got ${JSON.stringify(version)}`);
  return { major: m[1]!, minor: m[2]!, patch: m[3]! };
}

/** GET /version: `version` (default KUBERNETES_VERSION) as the API server reports it */
export function versionInfo(version = KUBERNETES_VERSION): Record<string, string> {
  const v = parseVersion(version);
  return {
    major: v.major,
    minor: v.minor,
    gitVersion: `v${v.major}.${v.minor}.${v.patch}-kube-sim`,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2025-04-22T00:00:00Z",
    goVersion: "go1.23.8",
    compiler: "gc",
    platform: "linux/amd64",
  };
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

export function apiGroupList(): Record<string, unknown> {
  const groups = groupVersions().filter((g) => g.group !== "");
  return {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: groups.map((g) => {
      const gv = { groupVersion: `${g.group}/${g.version}`, version: g.version };
      return { name: g.group, versions: [gv], preferredVersion: gv };
    }),
  };
}

export function apiResourceList(group: string, version: string): Record<string, unknown> | undefined {
  const resources = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (resources.length === 0) return undefined;
  const entries: Record<string, unknown>[] = [];
  for (const r of resources) {
    entries.push({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    });
    for (const sub of r.subresources) {
      const kind = sub === "token" ? "TokenRequest" : sub === "scale" ? "Scale" : r.kind;
      const verbs =
        sub === "log"
          ? ["get"]
          : sub === "token"
            ? ["create"]
            : sub === "finalize"
              ? ["update"]
              : ["get", "patch", "update"];
      entries.push({
        name: `${r.resource}/${sub}`,
        singularName: "",
        namespaced: r.namespaced,
        ...(sub === "token" ? { group: "authentication.k8s.io", version: "v1" } : {}),
        ...(sub === "scale" ? { group: "autoscaling", version: "v1" } : {}),
        kind: sub === "log" ? "Pod" : kind,
        verbs,
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf({ group, version }),
    resources: entries,
  };
}
