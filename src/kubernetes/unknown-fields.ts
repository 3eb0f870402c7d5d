// Unknown-field detection for user-supplied Kubernetes objects. @kubernetes/client-node drops
// fields its models do not know, silently (a typo like `imagePullPolicyy` vanishes), and
// kubernetes-models' validators accept them. This walks a plain object against the OpenAPI
// attribute maps of client-node's generated models and returns every field the schema lacks, as
// a path, so spec-file loading can name it with its line. Invariant: never mutates its input.

import * as k8s from "@kubernetes/client-node";

interface Attribute {
  baseName: string;
  type: string;
}

const models = k8s as unknown as Record<string, { attributeTypeMap?: Attribute[] } | undefined>;
const cache = new Map<string, Map<string, string> | undefined>();

function attributes(model: string): Map<string, string> | undefined {
  if (!cache.has(model)) {
    const list = models[model]?.attributeTypeMap;
    cache.set(model, list ? new Map(list.map((a) => [a.baseName, a.type])) : undefined);
  }
  return cache.get(model);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function walk(value: unknown, type: string, path: (string | number)[], out: (string | number)[][]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) walk(v, array[1]!, [...path, i], out);
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (isRecord(value)) for (const [k, v] of Object.entries(value)) walk(v, map[1]!, [...path, k], out);
    return;
  }
  const attrs = attributes(type);
  if (attrs === undefined || !isRecord(value)) return; // primitives, IntOrString, free-form objects
  for (const [k, v] of Object.entries(value)) {
    const child = attrs.get(k);
    if (child === undefined) out.push([...path, k]);
    else walk(v, child, [...path, k], out);
  }
}

/**
 * Paths of the fields of `obj` that model `model` (client-node's name, e.g. `V1Pod`, `V1Job`)
 * does not define. `ignore` lists top-level-relative paths that are allowed anyway (joined by ".").
 */
export function unknownFields(obj: unknown, model: string, ignore: string[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  walk(obj, model, [], out);
  return out.filter((p) => !ignore.includes(p.join(".")));
}

/** `spec.containers[0].name` from a path. */
export function formatPath(path: readonly (string | number)[]): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return s;
}
