// Resource quantities (`500m`, `2Gi`, `1e3`) as numbers, pod resource requests, and QoS class.
import { isObject } from "./objects.ts";

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

/** Parse a Kubernetes quantity into a plain number (cores for cpu, bytes for memory). */
export function parseQuantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === "number") return q;
  const m = /^([+-]?[0-9.]+)(?:([eE][-+]?[0-9]+)|([a-zA-Z]*))$/.exec(q.trim());
  if (!m) throw new Error(`invalid quantity ${q}`);
  if (m[2]) return Number(m[1] + m[2]);
  const mult = SUFFIX[m[3] ?? ""];
  if (mult === undefined) throw new Error(`invalid quantity suffix in ${q}`);
  return Number(m[1]) * mult;
}

export interface Resources {
  cpu: number;
  memory: number;
}

function containerRequests(c: unknown): Resources {
  if (!isObject(c) || !isObject(c.resources)) return { cpu: 0, memory: 0 };
  const req = isObject(c.resources.requests) ? c.resources.requests : {};
  const lim = isObject(c.resources.limits) ? c.resources.limits : {};
  const pick = (k: string) => parseQuantity((req[k] ?? lim[k]) as string | undefined);
  return { cpu: pick("cpu"), memory: pick("memory") };
}

/**
 * The scheduler's effective pod request: the sum over app containers and restartable (sidecar) init
 * containers, or the largest plain init container if that is bigger.
 */
export function podRequests(spec: Record<string, unknown>): Resources {
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  const inits = Array.isArray(spec.initContainers) ? spec.initContainers : [];
  const sum: Resources = { cpu: 0, memory: 0 };
  for (const c of [...containers, ...inits.filter((i) => isObject(i) && i.restartPolicy === "Always")]) {
    const r = containerRequests(c);
    sum.cpu += r.cpu;
    sum.memory += r.memory;
  }
  for (const i of inits) {
    if (isObject(i) && i.restartPolicy === "Always") continue;
    const r = containerRequests(i);
    sum.cpu = Math.max(sum.cpu, r.cpu);
    sum.memory = Math.max(sum.memory, r.memory);
  }
  return sum;
}

export function podQosClass(spec: Record<string, unknown>): "Guaranteed" | "Burstable" | "BestEffort" {
  const all = [
    ...(Array.isArray(spec.containers) ? spec.containers : []),
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []),
  ];
  let any = false;
  let guaranteed = all.length > 0;
  for (const c of all) {
    const res = isObject(c) && isObject(c.resources) ? c.resources : {};
    const req = isObject(res.requests) ? res.requests : {};
    const lim = isObject(res.limits) ? res.limits : {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const k of ["cpu", "memory"]) {
      if (
        lim[k] === undefined ||
        (req[k] !== undefined && parseQuantity(req[k] as string) !== parseQuantity(lim[k] as string))
      )
        guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}
