// A bounded look at a value of any size: its type, its size (characters, items, keys or bytes,
// read without walking it) and the start of its JSON, written until a character budget is spent.
// So a 300 MB task result costs the summary what a small one does: nothing here ever serialises a
// value whole. Pure.

/** What the summary shows of a value. */
export interface ValuePreview {
  /** `string`, `number`, `array`, `object`, `Map`, `Uint8Array`, `bigint`, a class name... */
  type: string;
  /** Its size in `unit`, when it has one (string length, array length, key count, byte length). */
  size?: number;
  unit?: "characters" | "items" | "keys" | "entries" | "bytes";
  /** True when `json` is its whole JSON text (no more than the budget). */
  complete: boolean;
  /** Its JSON (whole when `complete`), or the start of it ending with "…". */
  json: string;
  /** Why it is not shown whole, when it is not: too big, not JSON, binary. */
  reason?: string;
}

/** Options of {@link previewValue}. */
export interface PreviewOptions {
  /** JSON characters a value may take to be shown whole. @default 10_000 */
  maxChars?: number;
  /** Characters of a preview when the value is not shown whole. @default 200 */
  previewChars?: number;
  /** Applied to the text before it is cut, so a cut never leaves half of a secret. @default identity */
  redact?: (text: string) => string;
}

class Overflow extends Error {}
class NotJson extends Error {}

/** The type, size and bounded JSON of `value`; never serialises more than `maxChars` of it. */
export function previewValue(value: unknown, options: PreviewOptions = {}): ValuePreview {
  const maxChars = options.maxChars ?? 10_000;
  const previewChars = options.previewChars ?? 200;
  const redact = options.redact ?? ((s: string) => s);
  const shape = describeShape(value);
  const writer = new BoundedJson(maxChars);
  let reason: string | undefined;
  try {
    if (!writer.top(value)) reason = `${shape.type} is not JSON`;
  } catch (e) {
    if (e instanceof Overflow)
      reason = `too big to print (over ${maxChars.toLocaleString("en")} characters of JSON)`;
    else if (e instanceof NotJson) reason = `${shape.type} holds ${e.message}, which is not JSON`;
    else throw e;
  }
  if (shape.binary) reason = `binary data, ${(shape.size ?? 0).toLocaleString("en")} bytes`;
  if (reason === undefined) return { ...shape.public, complete: true, json: redact(writer.text()) };
  // The window is wider than the preview so that redaction sees a secret cut at its end whole.
  const window = redact(writer.text());
  const json = window.length > previewChars ? `${window.slice(0, previewChars)}…` : window;
  return { ...shape.public, complete: false, json: shape.binary ? "" : json, reason };
}

interface Shape {
  type: string;
  size?: number;
  binary?: boolean;
  public: Pick<ValuePreview, "type" | "size" | "unit">;
}

function describeShape(v: unknown): Shape {
  const out = (type: string, size?: number, unit?: ValuePreview["unit"], binary?: boolean): Shape => ({
    type,
    ...(size !== undefined ? { size } : {}),
    ...(binary ? { binary } : {}),
    public: { type, ...(size !== undefined ? { size, unit } : {}) },
  });
  if (v === null) return out("null");
  if (typeof v === "string") return out("string", v.length, "characters");
  if (typeof v !== "object") return out(typeof v);
  if (Array.isArray(v)) return out("array", v.length, "items");
  if (ArrayBuffer.isView(v))
    return out(v.constructor?.name ?? "ArrayBufferView", v.byteLength, "bytes", true);
  if (v instanceof ArrayBuffer) return out("ArrayBuffer", v.byteLength, "bytes", true);
  if (v instanceof Map) return out("Map", v.size, "entries");
  if (v instanceof Set) return out("Set", v.size, "items");
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
  const name =
    proto === null || proto === Object.prototype ? "object" : (proto.constructor?.name ?? "object");
  return out(name, name === "object" ? Object.keys(v).length : undefined, "keys");
}

/** JSON.stringify's output, written piece by piece, throwing Overflow past `limit` characters. */
class BoundedJson {
  readonly #limit: number;
  readonly #parts: string[] = [];
  #length = 0;
  readonly #stack = new Set<object>();
  constructor(limit: number) {
    this.#limit = limit;
  }

  text(): string {
    return this.#parts.join("");
  }

  /** False when the value has no JSON at all (undefined, a function, a symbol). */
  top(v: unknown): boolean {
    return this.#value(v, "");
  }

  #put(s: string): void {
    const room = this.#limit - this.#length;
    if (s.length > room) {
      // keep a little past the limit so the preview (and redaction) have text to work with
      this.#parts.push(s.slice(0, Math.max(0, room) + 256));
      this.#length += s.length;
      throw new Overflow();
    }
    this.#parts.push(s);
    this.#length += s.length;
  }

  #value(input: unknown, key: string): boolean {
    let v = input;
    if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v)) {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") v = toJSON.call(v, key);
    }
    switch (typeof v) {
      case "string": {
        // escape no more of a long string than the budget can take
        const room = this.#limit - this.#length + 256;
        this.#put(JSON.stringify(v.length > room ? v.slice(0, room) : v));
        if (v.length > room) throw new Overflow();
        return true;
      }
      case "number":
        this.#put(Number.isFinite(v) ? String(v) : "null");
        return true;
      case "boolean":
        this.#put(String(v));
        return true;
      case "bigint":
        throw new NotJson("a bigint");
      case "undefined":
      case "function":
      case "symbol":
        return false;
    }
    if (v === null) {
      this.#put("null");
      return true;
    }
    const obj = v as object;
    if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) throw new NotJson("binary data");
    if (this.#stack.has(obj)) throw new NotJson("a circular reference");
    this.#stack.add(obj);
    try {
      if (Array.isArray(obj)) {
        this.#put("[");
        for (let i = 0; i < obj.length; i++) {
          if (i > 0) this.#put(",");
          if (!this.#value(obj[i], String(i))) this.#put("null");
        }
        this.#put("]");
        return true;
      }
      this.#put("{");
      let first = true;
      for (const k in obj) {
        if (!Object.hasOwn(obj, k)) continue;
        const item = (obj as Record<string, unknown>)[k];
        if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
        this.#put(`${first ? "" : ","}${JSON.stringify(k)}:`);
        first = false;
        if (!this.#value(item, k)) this.#put("null"); // a toJSON that gave undefined
      }
      this.#put("}");
      return true;
    } finally {
      this.#stack.delete(obj);
    }
  }
}
