// Volumes as kube-sim's kubelet provides them without mount namespaces: each emptyDir, secret and
// configMap volume is a folder of the pod (secret and configMap keys written as files, or their
// `items`), each persistentVolumeClaim a folder of the claim that outlives the pod; a container's
// `volumeMounts` are then honoured by rewriting each mountPath to that folder wherever it appears in the
// container's env values, command and args (as the termination message path is). A program that opens
// a mount path it was not told about through env or args does not find it.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { isObject, type KubeObject } from "../objects.ts";
import type { Store } from "../store.ts";

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

function writeKeys(dir: string, data: Record<string, string>, items: unknown, decode: boolean): void {
  const pick = Array.isArray(items) && items.length > 0 ? items.filter(isObject) : undefined;
  const entries = pick
    ? pick.map((i) => [String(i.key), String(i.path ?? i.key)] as const)
    : Object.keys(data).map((k) => [k, k] as const);
  for (const [key, path] of entries) {
    const value = data[key];
    if (value === undefined) continue;
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, decode ? Buffer.from(value, "base64") : value, { mode: 0o644 });
  }
}

/**
 * Create the host folders of a pod's volumes; returns volume name → folder. Volumes of other kinds
 * (projected, downwardAPI, hostPath, …) get none and their mounts are left as written.
 */
export function prepareVolumes(
  store: Store,
  pod: KubeObject,
  podDir: string,
  baseDir: string,
): Map<string, string> {
  const out = new Map<string, string>();
  const ns = pod.metadata.namespace!;
  for (const v of Array.isArray(pod.spec?.volumes) ? pod.spec.volumes : []) {
    if (!isObject(v) || typeof v.name !== "string") continue;
    let dir: string | undefined;
    if (isObject(v.persistentVolumeClaim)) {
      dir = join(baseDir, "volumes", safe(ns), safe(String(v.persistentVolumeClaim.claimName)));
      mkdirSync(dir, { recursive: true });
    } else if (isObject(v.emptyDir)) {
      dir = join(podDir, "volumes", safe(v.name));
      mkdirSync(dir, { recursive: true });
    } else if (isObject(v.secret)) {
      dir = join(podDir, "volumes", safe(v.name));
      mkdirSync(dir, { recursive: true });
      const secret = store.get("secrets", ns, String(v.secret.secretName ?? ""));
      writeKeys(dir, secret?.data ?? {}, v.secret.items, true);
    } else if (isObject(v.configMap)) {
      dir = join(podDir, "volumes", safe(v.name));
      mkdirSync(dir, { recursive: true });
      const cm = store.get("configmaps", ns, String(v.configMap.name ?? ""));
      writeKeys(dir, cm?.data ?? {}, v.configMap.items, false);
    }
    if (dir) out.set(v.name, dir);
  }
  return out;
}

/** A rewrite of every mountPath (whole path components only) to its volume's folder (and subPath). */
export function mountRewriter(
  container: Record<string, unknown>,
  volumes: Map<string, string>,
): (s: string) => string {
  const mounts = (Array.isArray(container.volumeMounts) ? container.volumeMounts : [])
    .filter(isObject)
    .map((m) => {
      const base = volumes.get(String(m.name));
      if (!base || typeof m.mountPath !== "string" || m.mountPath === "/") return undefined;
      const host = typeof m.subPath === "string" && m.subPath ? join(base, m.subPath) : base;
      if (host !== base) mkdirSync(host, { recursive: true });
      return { path: m.mountPath.replace(/\/+$/, ""), host };
    })
    .filter((m): m is { path: string; host: string } => m !== undefined)
    // the longest mount path first, so /data/cache wins over /data
    .sort((a, b) => b.path.length - a.path.length);
  if (mounts.length === 0) return (s) => s;
  const literal = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(
    `(^|[=:,\\s"'])(${mounts.map((m) => literal(m.path)).join("|")})(?=/|$|[:,\\s"'])`,
    "g",
  );
  return (s) =>
    s.replace(
      pattern,
      (_all, lead: string, path: string) => lead + mounts.find((m) => m.path === path)!.host,
    );
}
