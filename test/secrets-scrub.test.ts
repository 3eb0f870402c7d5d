// The scrubber: every encoding of a secret a log line or a document may hold is replaced, for
// secrets with quotes, backslashes and non-ASCII characters; stdout/stderr writes during a run are
// scrubbed; a value read through Secret is announced before it is returned.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Secret } from "../src/index.ts";
import { scrubProcessOutput } from "../src/secrets/process-output.ts";
import {
  announceSecret,
  encodedForms,
  onSecretRegistered,
  registerSecret,
  scrub,
} from "../src/secrets/redact.ts";
// the forms a reader of logs and documents meets, computed independently of the scrubber
import { formsOf } from "./helpers/leak-scan.ts";

const SECRETS = [
  "plain-token-5f3a9c1e",
  'quo"te\\back\\slash-77',
  "nön-äscii-pässwörd-✓-é",
  "spaces & <tags> / ?q=1",
];

describe("scrub", { timeout: 30_000 }, () => {
  for (const s of SECRETS) registerSecret(s);

  test("replaces every form of every secret", () => {
    for (const s of SECRETS) {
      for (const form of formsOf(s)) {
        const out = scrub(`before ${form} after`);
        assert.ok(!out.includes(form), `${JSON.stringify(form)} survived: ${out}`);
        assert.match(out, /^before .*\[redacted\].* after$/);
      }
    }
  });

  test("JSON log lines and documents holding a secret are scrubbed", () => {
    for (const s of SECRETS) {
      const line = JSON.stringify({ msg: `token ${s}`, nested: JSON.stringify({ s }) });
      const out = scrub(line);
      for (const form of formsOf(s)) assert.ok(!out.includes(form), out);
      assert.doesNotThrow(() => JSON.parse(out), "the line stays JSON");
    }
  });

  test("base64 of a secret inside a longer text (user:password) is scrubbed at any alignment", () => {
    const s = SECRETS[0]!;
    for (const prefix of ["", "u:", "us:", "usr:"]) {
      const b64 = Buffer.from(`${prefix}${s}`).toString("base64");
      const out = scrub(`auth ${b64}`);
      assert.match(out, /\[redacted\]/, `prefix ${JSON.stringify(prefix)}: ${out}`);
      const inner = encodedForms(s).find((f) => b64.includes(f) && f.length > 8);
      assert.ok(inner !== undefined);
    }
  });

  test("text without secrets is left alone", () => {
    assert.equal(scrub("nothing to see here: 12345"), "nothing to see here: 12345");
  });

  test("scrubProcessOutput patches stdout and stderr once, and restores them with the last user", () => {
    const before = { out: process.stdout.write, err: process.stderr.write };
    const undoA = scrubProcessOutput();
    const undoB = scrubProcessOutput();
    assert.notEqual(process.stdout.write, before.out);
    assert.notEqual(process.stderr.write, before.err);
    undoA();
    undoA(); // twice is once
    assert.notEqual(process.stdout.write, before.out, "still patched for the other run");
    undoB();
    assert.equal(process.stdout.write, before.out);
    assert.equal(process.stderr.write, before.err);
  });

  test("Secret.get() resolves after every listener (the run channel) has the value", async () => {
    const heard: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const stop = onSecretRegistered(async (v) => {
      await gate;
      heard.push(v);
    });
    try {
      let resolved = false;
      const reading = new Secret("ANNOUNCED", { env: { FLOTILLA_SECRET_ANNOUNCED: "announced-value-42" } })
        .get()
        .then((v) => {
          resolved = true;
          return v;
        });
      await new Promise((r) => setImmediate(r));
      assert.equal(resolved, false, "not before the listener has it");
      release();
      assert.equal(await reading, "announced-value-42");
      assert.deepEqual(heard, ["announced-value-42"]);
      await announceSecret("announced-value-42"); // known: returns at once
    } finally {
      stop();
    }
  });
});
