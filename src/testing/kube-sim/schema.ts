// Unknown-field detection: walks an object against the attribute maps of @kubernetes/client-node's
// generated models (the same OpenAPI the server decodes with) and returns the paths of fields the
// schema does not have, spelled as the API server does (`spec.containers[0].foo`).
import * as k8s from "@kubernetes/client-node";
import { isObject } from "./objects.ts";

interface Attribute {
  name: string;
  baseName: string;
  type: string;
}

const models = k8s as unknown as Record<string, { attributeTypeMap?: Attribute[] } | undefined>;

function attributes(model: string): Map<string, string> | undefined {
  const m = models[model]?.attributeTypeMap;
  if (!m) return undefined;
  return new Map(m.map((a) => [a.baseName, a.type]));
}

const cache = new Map<string, Map<string, string> | undefined>();

function attributesCached(model: string): Map<string, string> | undefined {
  if (!cache.has(model)) cache.set(model, attributes(model));
  return cache.get(model);
}

function walk(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) for (const [i, v] of value.entries()) walk(v, arr[1]!, `${path}[${i}]`, out);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (isObject(value)) for (const [k, v] of Object.entries(value)) walk(v, map[1]!, `${path}[${k}]`, out);
    return;
  }
  const attrs = attributesCached(type);
  if (!attrs || !isObject(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const childPath = path ? `${path}.${k}` : k;
    const childType = attrs.get(k);
    if (childType === undefined) out.push(childPath);
    else walk(v, childType, childPath, out);
  }
}

/** Paths of fields `obj` carries that model `model` (e.g. `V1Pod`) does not define. */
export function unknownFields(obj: unknown, model: string): string[] {
  const out: string[] = [];
  walk(obj, model, "", out);
  return out;
}

/** The client-node type of `field` in `model` (`V1PodSpec`, `Array<V1Container>`, `{ [key: string]: string; }`). */
export function fieldType(model: string, field: string): string | undefined {
  return attributesCached(model)?.get(field);
}
