// Container environment as the kubelet builds it: envFrom, then env (value, secretKeyRef, configMapKeyRef,
// fieldRef, resourceFieldRef), with `$(VAR)` expansion against earlier variables; and the same expansion
// for command and args.
import { isObject, type KubeObject } from "../objects.ts";
import type { Store } from "../store.ts";

/** Kubernetes' `expansion.Expand`: `$(VAR)` → value if defined, `$$` → `$`, anything else unchanged. */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== "$" || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i++;
    } else if (next === "(") {
      const end = input.indexOf(")", i + 2);
      if (end < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, end);
      const v = lookup(name);
      out += v === undefined ? `$(${name})` : v;
      i = end;
    } else {
      out += ch + next;
      i++;
    }
  }
  return out;
}

export class EnvError extends Error {
  constructor(
    readonly reason: "CreateContainerConfigError",
    message: string,
  ) {
    super(message);
  }
}

function fieldRef(pod: KubeObject, path: string): string {
  const labelMatch = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (labelMatch) return pod.metadata[labelMatch[1] as "labels" | "annotations"]?.[labelMatch[2]!] ?? "";
  switch (path) {
    case "metadata.name":
      return pod.metadata.name ?? "";
    case "metadata.namespace":
      return pod.metadata.namespace ?? "";
    case "metadata.uid":
      return pod.metadata.uid ?? "";
    case "spec.nodeName":
      return pod.spec?.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "";
    case "status.podIP":
      return pod.status?.podIP ?? "";
    case "status.hostIP":
      return pod.status?.hostIP ?? "";
    case "status.podIPs":
      return (pod.status?.podIPs ?? []).map((p: { ip: string }) => p.ip).join(",");
    case "status.hostIPs":
      return (pod.status?.hostIPs ?? []).map((p: { ip: string }) => p.ip).join(",");
    default:
      throw new EnvError("CreateContainerConfigError", `unsupported fieldRef ${path}`);
  }
}

function keyRef(
  store: Store,
  resource: "secrets" | "configmaps",
  namespace: string,
  ref: Record<string, unknown>,
): string | undefined {
  const name = String(ref.name ?? "");
  const key = String(ref.key ?? "");
  const optional = ref.optional === true;
  const obj = store.get(resource, namespace, name);
  const kind = resource === "secrets" ? "secret" : "configmap";
  if (!obj) {
    if (optional) return undefined;
    throw new EnvError("CreateContainerConfigError", `${kind} "${name}" not found`);
  }
  if (resource === "secrets") {
    const v = obj.data?.[key];
    if (v === undefined) {
      if (optional) return undefined;
      throw new EnvError(
        "CreateContainerConfigError",
        `couldn't find key ${key} in Secret ${namespace}/${name}`,
      );
    }
    return Buffer.from(String(v), "base64").toString("utf8");
  }
  const v =
    obj.data?.[key] ??
    (obj.binaryData?.[key] !== undefined
      ? Buffer.from(obj.binaryData[key], "base64").toString("utf8")
      : undefined);
  if (v === undefined) {
    if (optional) return undefined;
    throw new EnvError(
      "CreateContainerConfigError",
      `couldn't find key ${key} in ConfigMap ${namespace}/${name}`,
    );
  }
  return v;
}

/** Resolve a container's environment in Kubernetes order. Throws EnvError on a missing required ref. */
export function containerEnv(
  store: Store,
  pod: KubeObject,
  container: Record<string, unknown>,
): Map<string, string> {
  const ns = pod.metadata.namespace!;
  const env = new Map<string, string>();
  for (const from of Array.isArray(container.envFrom) ? container.envFrom : []) {
    if (!isObject(from)) continue;
    const prefix = String(from.prefix ?? "");
    const ref = (
      isObject(from.secretRef) ? from.secretRef : isObject(from.configMapRef) ? from.configMapRef : undefined
    ) as Record<string, unknown> | undefined;
    if (!ref) continue;
    const resource = isObject(from.secretRef) ? "secrets" : "configmaps";
    const obj = store.get(resource, ns, String(ref.name ?? ""));
    if (!obj) {
      if (ref.optional === true) continue;
      throw new EnvError(
        "CreateContainerConfigError",
        `${resource === "secrets" ? "secret" : "configmap"} "${String(ref.name)}" not found`,
      );
    }
    for (const [k, v] of Object.entries(obj.data ?? {})) {
      env.set(
        prefix + k,
        resource === "secrets" ? Buffer.from(String(v), "base64").toString("utf8") : String(v),
      );
    }
  }
  for (const e of Array.isArray(container.env) ? container.env : []) {
    if (!isObject(e)) continue;
    const name = String(e.name);
    const lookup = (n: string) => env.get(n);
    if (typeof e.value === "string") {
      env.set(name, expand(e.value, lookup));
      continue;
    }
    const vf = isObject(e.valueFrom) ? e.valueFrom : undefined;
    if (!vf) {
      env.set(name, "");
      continue;
    }
    let v: string | undefined;
    if (isObject(vf.secretKeyRef)) v = keyRef(store, "secrets", ns, vf.secretKeyRef);
    else if (isObject(vf.configMapKeyRef)) v = keyRef(store, "configmaps", ns, vf.configMapKeyRef);
    else if (isObject(vf.fieldRef)) v = fieldRef(pod, String(vf.fieldRef.fieldPath));
    else if (isObject(vf.resourceFieldRef)) v = resourceField(container, vf.resourceFieldRef);
    if (v !== undefined) env.set(name, v);
  }
  return env;
}

function resourceField(container: Record<string, unknown>, ref: Record<string, unknown>): string {
  const [kind, res] = String(ref.resource ?? "").split(".");
  const resources = isObject(container.resources) ? container.resources : {};
  const group = isObject(resources[kind!]) ? (resources[kind!] as Record<string, unknown>) : {};
  return String(group[res!] ?? "0");
}

/** Expand `$(VAR)` in command and args against the container env. */
export function expandArgs(args: unknown, env: Map<string, string>): string[] {
  return (Array.isArray(args) ? args : []).map((a) => expand(String(a), (n) => env.get(n)));
}
