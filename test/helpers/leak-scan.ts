// Test helper of the leak scans: every form a secret can take in a log line or a document (raw,
// JSON-escaped once and twice, \u-escaped, base64, base64url, URL-encoded), and an assertion that
// none of them appears in a text, naming where, which secret, which form and the text around it.
import assert from "node:assert/strict";

/** The forms of `v` a leak scan looks for. */
export function formsOf(v: string): string[] {
  const json = JSON.stringify(v).slice(1, -1);
  return [
    v,
    json,
    JSON.stringify(json).slice(1, -1),
    json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`),
    Buffer.from(v).toString("base64"),
    Buffer.from(v).toString("base64url"),
    encodeURIComponent(v),
  ];
}

/**
 * `assertNoLeak(where, text)` for `secrets` (name -> value): fails on the first form of a secret
 * found in `text`. `noun` is put before the secret's name in the message, `before` is how many
 * characters before the find the message quotes (80 after it).
 */
export function noLeakAssertion(
  secrets: Record<string, string>,
  options: { noun?: string; before?: number } = {},
): (where: string, text: string) => void {
  const noun = options.noun ?? "";
  const before = options.before ?? 80;
  return (where, text) => {
    for (const [name, value] of Object.entries(secrets)) {
      for (const form of formsOf(value)) {
        const at = text.indexOf(form);
        assert.ok(
          at < 0,
          `${where} leaks ${noun}${name} as ${JSON.stringify(form)}: …${text.slice(Math.max(0, at - before), at + 80)}…`,
        );
      }
    }
  };
}
