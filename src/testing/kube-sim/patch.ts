// The PATCH content types: JSON Patch (RFC 6902), JSON Merge Patch (RFC 7386) and strategic merge patch
// (merge-key lists and `$patch` directives for the list fields of the kinds kube-sim serves).
import { badRequest, unsupportedMediaType } from "./errors.ts";
import { clone, isObject } from "./objects.ts";

export const PATCH_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

export type PatchType = keyof typeof PATCH_TYPES;

export function patchTypeOf(contentType: string | undefined): PatchType {
  const ct = (contentType ?? "").split(";")[0]!.trim();
  for (const [k, v] of Object.entries(PATCH_TYPES)) if (v === ct) return k as PatchType;
  throw unsupportedMediaType(ct);
}

// --- JSON Patch -------------------------------------------------------------------------------------

interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw badRequest(`invalid JSON pointer: ${path}`);
  return path
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

type Container = Record<string, unknown> | unknown[];

function parentOf(doc: unknown, parts: string[], path: string): { parent: Container; last: string } {
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined)
      throw badRequest(
        `the server rejected our request due to an error in our request: doc is missing path: "${path}"`,
      );
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw badRequest(`doc is missing path: "${path}"`);
  return { parent: cur, last: parts[parts.length - 1]! };
}

function getAt(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function removeAt(doc: unknown, path: string): unknown {
  const { parent, last } = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!(i >= 0 && i < parent.length)) throw badRequest(`unable to remove nonexistent key: ${last}`);
    return parent.splice(i, 1)[0];
  }
  if (!Object.hasOwn(parent, last)) {
    throw badRequest(
      `the server rejected our request due to an error in our request: unable to remove nonexistent key: ${last}: missing value`,
    );
  }
  const v = parent[last];
  delete parent[last];
  return v;
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, last } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = last === "-" ? parent.length : Number(last);
    if (!(i >= 0 && i <= parent.length))
      throw badRequest(`add operation does not apply: index out of bounds: ${last}`);
    if (replace) parent[i] = clone(value);
    else parent.splice(i, 0, clone(value));
  } else {
    if (replace && !Object.hasOwn(parent, last))
      throw badRequest(`replace operation does not apply: doc is missing key: ${path}: missing value`);
    parent[last] = clone(value);
  }
  return doc;
}

export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) {
    throw badRequest("json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp");
  }
  let out = clone(doc);
  for (const raw of ops as JsonPatchOp[]) {
    switch (raw.op) {
      case "add":
        out = addAt(out, raw.path, raw.value, false);
        break;
      case "replace":
        out = addAt(out, raw.path, raw.value, true);
        break;
      case "remove":
        removeAt(out, raw.path);
        break;
      case "move": {
        const v = removeAt(out, raw.from ?? "");
        out = addAt(out, raw.path, v, false);
        break;
      }
      case "copy":
        out = addAt(out, raw.path, getAt(out, raw.from ?? ""), false);
        break;
      case "test":
        if (JSON.stringify(getAt(out, raw.path)) !== JSON.stringify(raw.value)) {
          throw badRequest(
            `the server rejected our request due to an error in our request: testing value ${raw.path} failed`,
          );
        }
        break;
      default:
        throw badRequest(`Unexpected kind: ${raw.op}`);
    }
  }
  return out;
}

// --- JSON Merge Patch -------------------------------------------------------------------------------

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: Record<string, unknown> = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// --- Strategic merge patch --------------------------------------------------------------------------

/** patchMergeKey of list fields, by field name (the kinds kube-sim serves never reuse a name differently). */
const MERGE_KEYS: Record<string, string> = {
  containers: "name",
  initContainers: "name",
  ephemeralContainers: "name",
  env: "name",
  volumes: "name",
  volumeMounts: "mountPath",
  volumeDevices: "devicePath",
  ports: "containerPort",
  imagePullSecrets: "name",
  conditions: "type",
  ownerReferences: "uid",
  tolerations: "key",
  hostAliases: "ip",
  topologySpreadConstraints: "topologyKey",
  resourceClaims: "name",
  secrets: "name",
};

/** Lists merged as sets of scalars (patchStrategy: merge on a primitive list). */
const SET_LISTS = new Set(["finalizers"]);

function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  const k = MERGE_KEYS[field];
  if (field === "ports" && items.some((i) => isObject(i) && "port" in i && !("containerPort" in i)))
    return "port";
  return k;
}

function strategicList(field: string, target: unknown, patch: unknown[]): unknown[] {
  const base = Array.isArray(target) ? clone(target) : [];
  if (patch.some((p) => isObject(p) && p.$patch === "replace")) {
    return patch.filter((p) => !(isObject(p) && p.$patch === "replace"));
  }
  if (SET_LISTS.has(field)) {
    const out = [...base];
    for (const p of patch) if (!out.includes(p)) out.push(p);
    return out;
  }
  const mk = mergeKeyFor(field, [...base, ...patch]);
  if (!mk) return clone(patch);
  const out = base as Record<string, unknown>[];
  for (const p of patch) {
    if (!isObject(p)) continue;
    const i = out.findIndex((o) => isObject(o) && o[mk] === p[mk]);
    if (p.$patch === "delete") {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = applyStrategicMergePatch(out[i], p) as Record<string, unknown>;
    else out.push(applyStrategicMergePatch({}, p) as Record<string, unknown>);
  }
  return out;
}

export function applyStrategicMergePatch(target: unknown, patch: unknown): unknown {
  if (Array.isArray(patch)) {
    throw badRequest("json: cannot unmarshal array into Go value of type map[string]interface {}");
  }
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const out: Record<string, unknown> = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k.startsWith("$setElementOrder/")) continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.includes(x));
      continue;
    }
    if (k === "$retainKeys") continue;
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = strategicList(k, out[k], v);
    else if (isObject(v)) {
      const merged = applyStrategicMergePatch(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  return out;
}
