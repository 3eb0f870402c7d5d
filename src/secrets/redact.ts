// The secret scrubber: values registered here are replaced by "[redacted]" in every log line,
// error message and printed object that goes through `scrub`, in every encoding a log or a
// document uses: raw, JSON-escaped (once and twice: a JSON line quoted inside another), with
// non-ASCII and `<>&` as \u escapes (Go's and ASCII-only JSON encoders), base64 (standard and
// URL-safe, at every alignment inside a longer base64 text) and URL-encoded.
//
// Registering is cheap; scrubbing is a no-op until a secret is registered. Other processes of a
// run learn the values through `onSecretRegistered` listeners (the worker cluster's run channel),
// and `announceSecret` lets a reader wait until they did, before it uses the value.

const secrets = new Set<string>();
/** Every form of every secret (what the pattern matches). */
const forms = new Set<string>();
let pattern: RegExp | undefined;
const listeners = new Set<(value: string) => void | Promise<void>>();

/** Shortest derived form (e.g. a base64 fragment) worth matching: shorter ones hit innocent text. */
const MIN_FORM_LENGTH = 6;

/** Register a secret value (and each encoded form of it) so that it never reaches an output. */
export function registerSecret(value: string): void {
  void register(value);
}

/** Register; the listeners' promises when the value is new, undefined when it was known. */
function register(value: string): Promise<unknown>[] | undefined {
  if (typeof value !== "string" || value.length < 4 || secrets.has(value)) return undefined;
  secrets.add(value);
  forms.add(value);
  for (const f of encodedForms(value)) if (f.length >= MIN_FORM_LENGTH) forms.add(f);
  pattern = undefined;
  return [...listeners].map((listener) => {
    try {
      return Promise.resolve(listener(value)).catch(() => {});
    } catch {
      return Promise.resolve(); // a listener never stops a registration
    }
  });
}

/**
 * Register `value` and wait (at most `timeoutMs`) until every listener (the runner, the other
 * workers of the run) has it, so that it is scrubbed everywhere before it is used.
 */
export async function announceSecret(value: string, timeoutMs = 5000): Promise<void> {
  const told = register(value);
  if (told === undefined || told.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(told),
    new Promise<void>((r) => {
      timer = setTimeout(r, timeoutMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Call `listener` with every secret registered from now on (and, with `replay`, with those known
 * already). Returns a function that removes it.
 */
export function onSecretRegistered(
  listener: (value: string) => void | Promise<void>,
  options: { replay?: boolean } = {},
): () => void {
  listeners.add(listener);
  if (options.replay) for (const v of secrets) void Promise.resolve(listener(v)).catch(() => {});
  return () => listeners.delete(listener);
}

/** The secret values registered in this process (to hand them to another process of the run). */
export function knownSecrets(): string[] {
  return [...secrets];
}

/** True when at least one secret is registered. */
export function hasSecrets(): boolean {
  return secrets.size > 0;
}

/** Replace every registered secret, in any of its forms, in `text`. */
export function scrub(text: string): string {
  if (forms.size === 0 || typeof text !== "string") return text;
  if (pattern === undefined) {
    const alternatives = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
    pattern = new RegExp(alternatives.join("|"), "g");
  }
  return text.replace(pattern, "[redacted]");
}

/** The encodings of `value` a log line or a document may hold. */
export function encodedForms(value: string): string[] {
  const out = new Set<string>();
  const json = JSON.stringify(value).slice(1, -1);
  out.add(json);
  out.add(JSON.stringify(json).slice(1, -1)); // a JSON line inside a JSON string
  const ascii = asciiEscape(json);
  out.add(ascii);
  out.add(JSON.stringify(ascii).slice(1, -1));
  const go = json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  out.add(go);
  out.add(asciiEscape(go));
  const bytes = Buffer.from(value, "utf8");
  for (let offset = 0; offset < 3; offset++) {
    const b64 = base64At(bytes, offset);
    out.add(b64);
    out.add(b64.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  out.add(Buffer.from(value).toString("base64")); // whole, with its padding
  out.add(encodeURIComponent(value));
  out.add(encodeURIComponent(value).replace(/%20/g, "+"));
  out.add(encodeURI(value));
  out.delete(value);
  return [...out].filter((f) => f !== "");
}

/**
 * The base64 characters that depend only on `bytes` when they start `offset` bytes into a longer
 * text (a secret inside `user:password`, say): those of the partial groups at both ends are cut.
 */
function base64At(bytes: Buffer, offset: number): string {
  const text = Buffer.concat([Buffer.alloc(offset), bytes])
    .toString("base64")
    .replace(/=+$/, "");
  const first = Math.ceil((8 * offset) / 6);
  const end = Math.floor((8 * (offset + bytes.length)) / 6);
  return text.slice(first, end);
}

function asciiEscape(s: string): string {
  return s.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
