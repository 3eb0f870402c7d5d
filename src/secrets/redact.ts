// The secret scrubber: values registered here are replaced by "[redacted]" in every log line,
// error message and printed object that goes through `scrub`. Registering is cheap; scrubbing is
// a no-op until a secret is registered.

const secrets = new Set<string>();
let pattern: RegExp | undefined;

/** Register a secret value (and its base64 form) so that it never reaches an output. */
export function registerSecret(value: string): void {
  if (value.length < 4 || secrets.has(value)) return;
  secrets.add(value);
  secrets.add(Buffer.from(value).toString("base64"));
  pattern = undefined;
}

/** Replace every registered secret in `text`. */
export function scrub(text: string): string {
  if (secrets.size === 0) return text;
  if (pattern === undefined) {
    const alternatives = [...secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
    pattern = new RegExp(alternatives.join("|"), "g");
  }
  return text.replace(pattern, "[redacted]");
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
