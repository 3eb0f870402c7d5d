// The value serializer for everything that crosses a process boundary in a cluster run: task
// inputs, results and states. It is V8's structured clone (`node:v8`), which keeps Date, Map, Set,
// BigInt, typed arrays, Buffer, RegExp and cycles, plus one rule on top: every Error is carried
// with its own name, message, stack, cause and extra fields (`code`, `hint`...), which structured
// clone alone would drop for custom error classes.
//
// `jsonExact` says which values JSON carries as exactly (the wire's cheap path, protocol.ts).
//
// Invariants: `deserialize(serialize(v))` is deep-equal to `v` for every supported value;
// `serialize` throws a `FlotillaError` (code FLOTILLA_SERIALIZATION) naming the path of the first
// value it cannot carry (a function, a symbol, a socket...), never a bare DataCloneError.

import v8 from "node:v8";
import { ErrorCode, FlotillaError } from "../core/errors.ts";

const ERROR_TAG = "\u0000flotilla:error";
const ERROR_TAG_BYTES = Buffer.from(ERROR_TAG, "latin1");

interface TaggedError {
  [ERROR_TAG]: {
    name: string;
    message: string;
    stack: string | undefined;
    cause: unknown;
    props: Record<string, unknown>;
  };
}

/** Encode `value` for another process. Throws a FlotillaError naming what cannot be serialised. */
export function serialize(value: unknown): Buffer {
  const prepared = prepare(value, new Map());
  try {
    return v8.serialize(prepared);
  } catch (error) {
    const where = findUnserializable(value, "value", new Set()) ?? "value";
    throw new FlotillaError(
      ErrorCode.Serialization,
      `${where} cannot be serialised to send it to another process`,
      {
        cause: error,
        hint: "return and pass plain data (objects, arrays, strings, numbers, Date, Map, Set, BigInt, typed arrays, Buffer, Error)",
      },
    );
  }
}

/** The largest array `jsonExact` looks through (a larger one goes through structured clone, whose cost per call it amortises). */
const JSON_EXACT_MAX_ARRAY = 64;

/**
 * Whether JSON carries `value` exactly as structured clone would: strings, booleans, null, finite
 * numbers other than -0, and plain objects and small arrays (no holes, no extra properties) of
 * those, at most 32 deep. JSON is far cheaper than structured clone for such small values (a
 * no-op's inputs and result), which is what most task runs send; anything else (undefined, NaN,
 * Date, Map, Error objects, -0, large arrays...) takes `serialize`.
 */
export function jsonExact(value: unknown, depth = 0): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (depth >= 32) return false;
      if (Array.isArray(value)) {
        const n = value.length;
        if (n > JSON_EXACT_MAX_ARRAY || Object.getPrototypeOf(value) !== Array.prototype) return false;
        for (let i = 0; i < n; i++) if (!jsonExact(value[i], depth + 1)) return false;
        return Object.keys(value).length === n;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false;
        if (!jsonExact((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Decode what `serialize` produced. */
export function deserialize(bytes: Uint8Array): unknown {
  const value = v8.deserialize(bytes);
  // Revive errors only when the encoding holds one: most results hold none.
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(ERROR_TAG_BYTES) < 0)
    return value;
  return revive(value, new Map());
}

function isPlainContainer(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null || Array.isArray(v);
}

/** Replace Errors with tagged plain objects; keep everything else as is (copy-on-write). */
function prepare(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== "object" || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  if (value instanceof Error) {
    const props: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      if (key !== "cause" && key !== "stack" && key !== "message")
        props[key] = (value as unknown as Record<string, unknown>)[key];
    }
    const tagged: TaggedError = {
      [ERROR_TAG]: { name: value.name, message: value.message, stack: value.stack, cause: undefined, props },
    };
    seen.set(value, tagged);
    tagged[ERROR_TAG].cause = prepare(value.cause, seen);
    tagged[ERROR_TAG].props = prepare(props, seen) as Record<string, unknown>;
    return tagged;
  }
  if (value instanceof Map) {
    let out: Map<unknown, unknown> | undefined;
    seen.set(value, value);
    for (const [k, v] of value) {
      const pv = prepare(v, seen);
      if (pv !== v && out === undefined) out = new Map(value);
      if (out !== undefined) out.set(k, pv);
    }
    if (out !== undefined) seen.set(value, out);
    return out ?? value;
  }
  if (value instanceof Set) {
    const items = [...value];
    seen.set(value, value);
    const prepared = items.map((v) => prepare(v, seen));
    if (prepared.every((p, i) => p === items[i])) return value;
    const out = new Set(prepared);
    seen.set(value, out);
    return out;
  }
  if (!isPlainContainer(value)) return value;
  seen.set(value, value);
  let out: Record<string, unknown> | unknown[] | undefined;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    const pv = prepare(v, seen);
    if (pv !== v && out === undefined) {
      out = Array.isArray(value) ? [...value] : { ...value };
      seen.set(value, out);
    }
    if (out !== undefined) (out as Record<string, unknown>)[key] = pv;
  }
  return out ?? value;
}

function revive(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== "object" || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  const tag = (value as Partial<TaggedError>)[ERROR_TAG];
  if (tag !== undefined) {
    const err = new Error(tag.message);
    seen.set(value, err);
    err.name = tag.name;
    if (tag.stack === undefined) delete err.stack;
    else err.stack = tag.stack;
    if (tag.cause !== undefined)
      Object.defineProperty(err, "cause", {
        value: revive(tag.cause, seen),
        writable: true,
        configurable: true,
      });
    Object.assign(err, revive(tag.props, seen));
    return err;
  }
  seen.set(value, value);
  if (value instanceof Map) {
    for (const [k, v] of value) value.set(k, revive(v, seen));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const v of items) value.add(revive(v, seen));
  } else if (isPlainContainer(value)) {
    for (const key of Object.keys(value)) {
      (value as Record<string, unknown>)[key] = revive((value as Record<string, unknown>)[key], seen);
    }
  }
  return value;
}

/** The path and kind of the first value structured clone refuses, for the error message. */
function findUnserializable(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (typeof value === "function") return `${path} is a function`;
  if (typeof value === "symbol") return `${path} is a symbol`;
  if (typeof value !== "object" || value === null || seen.has(value)) return undefined;
  seen.add(value);
  if (value instanceof Map) {
    for (const [k, v] of value) {
      const hit = findUnserializable(v, `${path}.get(${JSON.stringify(String(k))})`, seen);
      if (hit) return hit;
    }
    return undefined;
  }
  if (value instanceof Set) {
    let i = 0;
    for (const v of value) {
      const hit = findUnserializable(v, `${path} (set element ${i++})`, seen);
      if (hit) return hit;
    }
    return undefined;
  }
  if (value instanceof Error || ArrayBuffer.isView(value) || value instanceof Date || value instanceof RegExp)
    return undefined;
  if (!isPlainContainer(value)) {
    try {
      v8.serialize(value);
      return undefined;
    } catch {
      const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
      return `${path} is a ${name} (not plain data)`;
    }
  }
  for (const key of Object.keys(value)) {
    const child = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`;
    const hit = findUnserializable((value as Record<string, unknown>)[key], child, seen);
    if (hit) return hit;
  }
  return undefined;
}
