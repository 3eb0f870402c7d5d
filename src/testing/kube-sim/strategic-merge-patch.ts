// Strategic merge patch as the API server applies it (apimachinery `strategicpatch.StrategicMergeMapPatch`
// with MergeParallelList and IgnoreUnmatchedNulls, v0.32.4): the object's client-node model gives each
// field's type, and PATCH_STRATEGIES (generated from the OpenAPI's `x-kubernetes-patch-strategy` /
// `-merge-key`) says which lists merge and by which key; every other list is atomic. Directives:
// `$patch: replace|delete` on maps and list items, `$retainKeys`, `$deleteFromPrimitiveList/<field>`,
// `$setElementOrder/<field>`; merged lists are ordered as the server orders them (patch order for the
// patched items, live order for the others, interleaved). Failures carry the API server's codes:
// malformed directives 400, lists of lists 422, anything else (a missing merge key) 500.
import { ApiError, badRequest } from "./errors.ts";
import { clone, isObject } from "./objects.ts";
import { PATCH_STRATEGIES, type PatchMeta } from "./patch-strategies.ts";
import { fieldType } from "./schema.ts";

type Json = unknown;
type JsonMap = Record<string, Json>;

const DIRECTIVE = "$patch";
const RETAIN_KEYS = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER = "$setElementOrder";

/** A Go error the API server answers as it is: 500, no reason. */
function serverError(message: string): ApiError {
  const e = new ApiError(500, "", message);
  delete e.status.reason;
  return e;
}

/** the generic 422 of apimachinery's NewGenericServerResponse */
const unprocessable = () =>
  new ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {});

/** Go's `%v` of a decoded JSON value (`map[image:x name:c]`), for error messages. */
function goValue(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(goValue).join(" ")}]`;
  if (isObject(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goValue(v[k])}`)
      .join(" ")}]`;
  if (v === null) return "<nil>";
  return String(v);
}

const noMergeKey = (m: JsonMap, key: string) =>
  serverError(`map: ${goValue(m)} does not contain declared merge key: ${key}`);

/** `V1PodSpec`, `CoreV1Event`, `AdmissionregistrationV1Variable` → the OpenAPI short name */
function definitionName(model: string | undefined): string | undefined {
  return model?.replace(/^(?:[A-Z][a-z]+)*V\d+(?:(?:alpha|beta)\d+)?(?=[A-Z])/, "");
}

function elementType(type: string | undefined): string | undefined {
  return type ? /^Array<(.+)>$/.exec(type)?.[1] : undefined;
}

function mapValueType(type: string | undefined): string | undefined {
  return type ? /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1] : undefined;
}

/** the schema position of a value: a client-node model, `Array<…>` or a map type */
interface Field {
  type: string | undefined;
  meta: PatchMeta | undefined;
}

function lookupField(model: string | undefined, key: string): Field {
  const valueType = mapValueType(model);
  if (valueType) return { type: valueType, meta: undefined };
  const def = definitionName(model);
  return {
    type: model ? fieldType(model, key) : undefined,
    meta: def ? PATCH_STRATEGIES[def]?.[key] : undefined,
  };
}

/** `merge,retainKeys` → `merge`; `retainKeys` → `` (extractRetainKeysPatchStrategy) */
function listStrategy(meta: PatchMeta | undefined): string {
  const parts = (meta?.strategy ?? "").split(",").filter((s) => s !== "" && s !== "retainKeys");
  return parts[0] ?? "";
}

type Kind = "map" | "list" | "string" | "number" | "boolean" | "null";
function kindOf(v: Json): Kind {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return "list";
  if (isObject(v)) return "map";
  return typeof v as Kind;
}

/** Drops every map that carries `$patch` (and the field holding it); `undefined` = drop this value. */
function removeDirectives(v: Json): Json {
  if (Array.isArray(v)) {
    const out: Json[] = [];
    for (const x of v) {
      const y = removeDirectives(x);
      if (y !== undefined) out.push(y);
    }
    return out;
  }
  if (isObject(v)) {
    if (DIRECTIVE in v) return undefined;
    const out: JsonMap = {};
    for (const [k, x] of Object.entries(v)) {
      const y = removeDirectives(x);
      if (y !== undefined) out[k] = y;
    }
    return out;
  }
  return v;
}

function discardNulls(v: Json): Json {
  if (Array.isArray(v)) return v.map(discardNulls);
  if (isObject(v)) {
    const out: JsonMap = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = discardNulls(x);
    return out;
  }
  return v;
}

/** a patch value taken as it is (the field is absent or of another type in the live object) */
function takePatchValue(out: JsonMap, key: string, v: Json): void {
  const value = removeDirectives(discardNulls(clone(v)));
  if (value === undefined) delete out[key];
  else out[key] = value;
}

function mergeKeyOf(item: Json, key: string): Json {
  return isObject(item) ? item[key] : undefined;
}

function indexIn(list: Json[], item: Json, mergeKey: string, kind: Kind): number {
  const value = kind === "map" ? mergeKeyOf(item, mergeKey) : item;
  return list.findIndex((x) => (kind === "map" ? mergeKeyOf(x, mergeKey) : x) === value);
}

/** normalizeSliceOrder: `toSort` in the order of `order` (items absent from it keep their place) */
function sortBy(toSort: Json[], order: Json[], mergeKey: string, kind: Kind): Json[] {
  let items = toSort;
  let toDelete: Json[] = [];
  if (kind === "map") {
    for (const item of [...toSort, ...order]) {
      if (isObject(item) && !(mergeKey in item)) throw noMergeKey(item, mergeKey);
    }
    items = toSort.filter((x) => !(isObject(x) && x[DIRECTIVE] === "delete"));
    toDelete = toSort.filter((x) => isObject(x) && x[DIRECTIVE] === "delete");
  }
  const ranked = items.map((item, i) => ({ item, i, at: indexIn(order, item, mergeKey, kind) }));
  ranked.sort((a, b) => (a.at >= 0 && b.at >= 0 ? a.at - b.at : a.i - b.i));
  return [...ranked.map((r) => r.item), ...toDelete];
}

/** mergeSortedSlice: server-only items inserted among the patch items by their live order */
function interleave(left: Json[], right: Json[], serverOrder: Json[], mergeKey: string, kind: Kind): Json[] {
  const out: Json[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey, kind);
      const ri = indexIn(serverOrder, right[j], mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

/** normalizeElementOrder over the partition of `merged` by presence in `patchOrder` */
function enforceOrder(
  merged: Json[],
  patchOrder: Json[],
  serverOrder: Json[],
  mergeKey: string,
  kind: Kind,
): Json[] {
  const inPatch = (x: Json) => indexIn(patchOrder, x, mergeKey, kind) >= 0;
  if (kind === "map")
    for (const x of merged) if (isObject(x) && !(mergeKey in x)) throw noMergeKey(x, mergeKey);
  const patchItems = sortBy(
    merged.filter((x) => inPatch(x)),
    patchOrder,
    mergeKey,
    kind,
  );
  const serverOnly = sortBy(
    merged.filter((x) => !inPatch(x)),
    serverOrder,
    mergeKey,
    kind,
  );
  return interleave(serverOnly, patchItems, serverOrder, mergeKey, kind);
}

function elementKind(...lists: Json[][]): Kind {
  let kind: Kind | undefined;
  for (const list of lists) {
    for (const v of list) {
      const k = kindOf(v);
      if (kind === undefined) {
        if (k === "list") throw unprocessable(); // lists of lists are not supported
        kind = k;
      } else if (k !== kind) {
        throw serverError(`list element types are not identical: ${goValue(lists)}`);
      }
    }
  }
  if (kind === undefined) throw serverError("no elements in any of the given slices");
  return kind;
}

function mergeList(
  original: Json[],
  patch: Json[],
  itemType: string | undefined,
  mergeKey: string,
  isDeleteList: boolean,
): Json[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind(original, patch);
  let merged: Json[];
  let base = original;
  let rest = patch;
  if (kind !== "map") {
    if (isDeleteList) return original.filter((x) => !patch.some((d) => d === x));
    merged = [];
    for (const x of [...original, ...patch]) if (!merged.some((y) => y === x)) merged.push(x);
  } else {
    if (mergeKey === "") throw serverError(`cannot merge lists without merge key for ${itemType ?? ""}`);
    // $patch elements: delete by key, replace the whole list
    rest = [];
    let replace = false;
    for (const p of patch as JsonMap[]) {
      if (!(DIRECTIVE in p)) {
        rest.push(p);
        continue;
      }
      const directive = p[DIRECTIVE];
      if (directive === "delete") {
        if (!(mergeKey in p)) throw noMergeKey(p, mergeKey);
        base = base.filter((o) => mergeKeyOf(o, mergeKey) !== p[mergeKey]);
      } else if (directive === "replace") replace = true;
      else if (directive === "merge") throw serverError("merging lists cannot yet be specified in the patch");
      else throw serverError(`unknown patch type: ${goValue(directive)} in map: ${goValue(p)}`);
    }
    if (replace) {
      base = rest;
      rest = [];
    }
    merged = [...base];
    for (const p of rest as JsonMap[]) {
      if (!(mergeKey in p)) throw noMergeKey(p, mergeKey);
      const i = merged.findIndex((o) => mergeKeyOf(o, mergeKey) === p[mergeKey]);
      if (i >= 0) merged[i] = mergeMap(merged[i] as JsonMap, p, itemType);
      else merged.push(p);
    }
  }
  return enforceOrder(merged, rest, base, mergeKey, kind);
}

function applyRetainKeys(out: JsonMap, patch: JsonMap): void {
  if (!(RETAIN_KEYS in patch)) return;
  const keys = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(keys)) throw badRequest("invalid patch format of retainKeys");
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM_PRIMITIVE_LIST) || k.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!keys.includes(k)) throw badRequest("invalid patch format of retainKeys");
  }
  for (const k of Object.keys(out)) if (!keys.includes(k)) delete out[k];
}

function directiveKey(key: string, prefix: string, error: string): string {
  const slash = key.indexOf("/");
  if (slash < 0 || key.slice(0, slash) !== prefix) throw badRequest(error);
  return key.slice(slash + 1);
}

/** `$setElementOrder/<field>`: merge that list now and order it by the directive (mergePatchIntoOriginal) */
function applySetElementOrder(out: JsonMap, patch: JsonMap, model: string | undefined): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order))
      throw serverError("expected a []interface {}, but received a map[string]interface {}");
    const field = directiveKey(key, SET_ELEMENT_ORDER, "invalid patch format of setElementOrder list");
    const { type, meta } = lookupField(model, field);
    const mergeKey = meta?.key ?? "";
    const live = out[field];
    const patched = patch[field];
    if (live !== undefined && !Array.isArray(live))
      throw badRequest("invalid patch format of setElementOrder list");
    if (patched !== undefined && !Array.isArray(patched))
      throw badRequest("invalid patch format of setElementOrder list");
    let merged: Json[];
    if (live !== undefined && patched === undefined) merged = live as Json[];
    else if (live === undefined && patched !== undefined) merged = removeDirectives(clone(patched)) as Json[];
    else if (live !== undefined && patched !== undefined)
      merged =
        listStrategy(meta) === "merge"
          ? mergeList(clone(live as Json[]), clone(patched as Json[]), elementType(type), mergeKey, false)
          : clone(patched as Json[]);
    else continue;
    if (merged.length > 0) {
      const kind = elementKind(merged);
      merged = enforceOrder(merged, order, (live as Json[] | undefined) ?? [], mergeKey, kind);
    }
    setList(out, field, merged);
    delete patch[field];
  }
}

/** list fields are omitempty: an emptied list is absent, as the API server serializes it */
function setList(out: JsonMap, key: string, list: Json[]): void {
  if (list.length === 0) delete out[key];
  else out[key] = list;
}

function mergeMap(original: JsonMap | undefined, patchIn: JsonMap, model: string | undefined): JsonMap {
  const patch: JsonMap = { ...patchIn };
  if (DIRECTIVE in patch) {
    const directive = patch[DIRECTIVE];
    if (directive === "replace") {
      delete patch[DIRECTIVE];
      return clone(patch);
    }
    if (directive === "delete") return {};
    throw serverError(`unknown patch type: ${goValue(directive)} in map: ${goValue(patch)}`);
  }
  const out: JsonMap = original ? clone(original) : {};
  applyRetainKeys(out, patch);
  applySetElementOrder(out, patch, model);
  for (const [rawKey, v] of Object.entries(patch)) {
    let key = rawKey;
    let isDeleteList = false;
    if (rawKey.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      key = directiveKey(rawKey, DELETE_FROM_PRIMITIVE_LIST, "invalid patch format of primitive list");
      isDeleteList = true;
    }
    if (v === null) {
      delete out[key];
      continue;
    }
    if (!(key in out) || kindOf(out[key]) !== kindOf(v)) {
      if (!isDeleteList) takePatchValue(out, key, v);
      continue;
    }
    const { type, meta } = lookupField(model, key);
    const strategy = listStrategy(meta);
    const live = out[key];
    if (isObject(live) && isObject(v)) {
      if (strategy === "replace") out[key] = clone(v);
      else {
        const merged = mergeMap(live, v, type);
        // map fields are omitempty too; a struct stays (an empty one is still encoded)
        if (Object.keys(merged).length === 0 && mapValueType(type)) delete out[key];
        else out[key] = merged;
      }
    } else if (Array.isArray(live) && Array.isArray(v)) {
      const list =
        strategy === "merge" || isDeleteList
          ? mergeList(clone(live), clone(v), elementType(type), meta?.key ?? "", isDeleteList)
          : clone(v);
      setList(out, key, list);
    } else {
      takePatchValue(out, key, v);
    }
  }
  return out;
}

/**
 * Apply a strategic merge patch to `target`, an object of client-node model `model` (e.g. `V1Pod`);
 * without a model, lists are atomic and maps merge.
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown, model?: string): unknown {
  if (!isObject(patch)) {
    const what = Array.isArray(patch) ? "array" : patch === null ? "null" : typeof patch;
    throw badRequest(`json: cannot unmarshal ${what} into Go value of type map[string]interface {}`);
  }
  return mergeMap(isObject(target) ? target : {}, patch, model);
}
