// The PATCH content types: JSON Patch (RFC 6902, through fast-json-patch), JSON Merge Patch (RFC 7386)
// and strategic merge patch (driven by the types' patch strategies and merge keys, `$patch` directives).
import jsonpatch, { type Operation } from "fast-json-patch";
import { ApiError, badRequest, unsupportedMediaType } from "./errors.ts";
import { clone, isObject, jsonEqual } from "./objects.ts";
import { PATCH_STRATEGIES, type PatchMeta } from "./patch-strategies.ts";
import { fieldType } from "./schema.ts";

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
// Applied by fast-json-patch, one operation at a time. Array indexes are first read as the API server's
// JSON Patch library (evanphx/json-patch v4, Go's strconv.Atoi) reads them: an optional sign and
// digits (`01` is 1, `+1` is 1) and negative indexes counted from the end; anything else (`1e0`, ` 1`)
// is left for the library to reject. Every failure to apply is the API server's generic 422.

/** Kubernetes' maxJSONPatchOperations */
const MAX_JSON_PATCH_OPERATIONS = 10_000;

const APPLY_FAILED = () =>
  new ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {});

function splitPointer(path: string): string[] {
  return path
    .slice(1)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function joinPointer(parts: string[]): string {
  return parts.map((p) => `/${p.replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

/** `path` with the array indexes spelled as the library expects them, resolved against `doc`. */
function canonicalPath(doc: unknown, path: unknown, isAdd: boolean): unknown {
  if (typeof path !== "string" || path === "" || !path.startsWith("/")) return path;
  const parts = splitPointer(path);
  let cur: unknown = doc;
  for (const [i, part] of parts.entries()) {
    if (Array.isArray(cur)) {
      if (/^[+-]?\d+$/.test(part)) {
        let n = Number(part);
        const last = i === parts.length - 1;
        if (n < 0) n += cur.length + (last && isAdd ? 1 : 0);
        if (n >= 0) parts[i] = String(n);
      }
      cur = cur[Number(parts[i])];
    } else if (isObject(cur)) cur = cur[part];
    else cur = undefined;
  }
  return joinPointer(parts);
}

export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops) || ops.some((o) => !isObject(o))) {
    const what = Array.isArray(ops)
      ? "array"
      : ops === null
        ? "null"
        : typeof ops === "object"
          ? "object"
          : typeof ops;
    throw badRequest(
      `error decoding patch: json: cannot unmarshal ${what} into Go value of type []handlers.jsonPatchOp`,
    );
  }
  if (ops.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new ApiError(
      413,
      "RequestEntityTooLarge",
      `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${ops.length}`,
    );
  }
  let out = clone(doc);
  for (const raw of ops as Record<string, unknown>[]) {
    const op = {
      ...raw,
      path: canonicalPath(out, raw.path, raw.op === "add" || raw.op === "move" || raw.op === "copy"),
      ...(raw.from !== undefined ? { from: canonicalPath(out, raw.from, false) } : {}),
    } as unknown as Operation;
    try {
      out = jsonpatch.applyPatch(out, [op], true, false).newDocument;
    } catch (e) {
      if (e instanceof jsonpatch.JsonPatchError || e instanceof TypeError) throw APPLY_FAILED();
      throw e;
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
// Driven by the types: the object's client-node model gives each field's type, and PATCH_STRATEGIES
// (the `patchStrategy`/`patchMergeKey` struct tags) says which lists merge, and by which key. A list
// without a strategy is atomic and replaced whole; maps merge key by key; `null` deletes.

/** `V1PodSpec` → `PodSpec`: the Go struct whose tags describe a client-node model */
function goStruct(model: string | undefined): string | undefined {
  if (!model) return undefined;
  if (model === "V1EphemeralContainer") return "EphemeralContainerCommon";
  return model.replace(/^(CoreV1|V1)/, "");
}

function elementType(type: string | undefined): string | undefined {
  return type ? /^Array<(.+)>$/.exec(type)?.[1] : undefined;
}

function mapValueType(type: string | undefined): string | undefined {
  return type ? /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1] : undefined;
}

function strategicList(
  meta: PatchMeta | undefined,
  itemType: string | undefined,
  target: unknown,
  patch: unknown[],
): unknown[] {
  if (!meta?.strategy.split(",").includes("merge")) {
    return clone(
      patch.filter((p) => !(isObject(p) && p.$patch !== undefined && Object.keys(p).length === 1)),
    );
  }
  const base = Array.isArray(target) ? clone(target) : [];
  if (patch.some((p) => isObject(p) && p.$patch === "replace")) {
    return clone(patch.filter((p) => !(isObject(p) && p.$patch === "replace")));
  }
  const key = meta.key;
  if (!key) {
    const out = [...base];
    for (const p of patch) if (!out.some((o) => jsonEqual(o, p))) out.push(clone(p));
    return out;
  }
  const out = base as Record<string, unknown>[];
  for (const p of patch) {
    if (!isObject(p)) continue;
    const i = out.findIndex((o) => isObject(o) && o[key] === p[key]);
    if (p.$patch === "delete") {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = applyStrategicMergePatch(out[i], p, itemType) as Record<string, unknown>;
    else out.push(applyStrategicMergePatch({}, p, itemType) as Record<string, unknown>);
  }
  return out;
}

/**
 * Apply a strategic merge patch to `target`, an object of client-node model `model` (e.g. `V1Pod`);
 * without a model, lists are atomic and maps merge.
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown, model?: string): unknown {
  if (Array.isArray(patch)) {
    throw badRequest("json: cannot unmarshal array into Go value of type map[string]interface {}");
  }
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const struct = goStruct(model);
  const out: Record<string, unknown> = isObject(target) ? clone(target) : {};
  const valueType = mapValueType(model);
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k.startsWith("$setElementOrder/") || k === "$retainKeys") continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v))
        out[field] = cur.filter((x) => !v.some((y) => jsonEqual(x, y)));
      // list fields are omitempty: an emptied list is absent, as the API server serializes it
      if (Array.isArray(out[field]) && (out[field] as unknown[]).length === 0) delete out[field];
      continue;
    }
    const type = valueType ?? (model ? fieldType(model, k) : undefined);
    if (v === null) delete out[k];
    else if (Array.isArray(v)) {
      const list = strategicList(
        struct ? PATCH_STRATEGIES[struct]?.[k] : undefined,
        elementType(type),
        out[k],
        v,
      );
      // list fields are omitempty: an emptied list is absent, as the API server serializes it
      if (list.length === 0) delete out[k];
      else out[k] = list;
    } else if (isObject(v)) {
      const merged = applyStrategicMergePatch(out[k], v, type);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(out)) if (!(patch.$retainKeys as unknown[]).includes(k)) delete out[k];
  }
  return out;
}
