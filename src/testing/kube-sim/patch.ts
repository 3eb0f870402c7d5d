// The PATCH content types: JSON Patch (RFC 6902, through fast-json-patch), JSON Merge Patch (RFC 7386)
// and the dispatch to strategic merge patch (strategic-merge-patch.ts).
import jsonpatch, { type Operation } from "fast-json-patch";
import { ApiError, badRequest, unsupportedPatchType } from "./errors.ts";
import { clone, isObject } from "./objects.ts";

export { applyStrategicMergePatch } from "./strategic-merge-patch.ts";

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
  throw unsupportedPatchType();
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
