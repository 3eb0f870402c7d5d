// Scrubbing of this process's own stdout and stderr: while a run is on, every write (console.*,
// process.stdout.write, a library printing on its own) goes through the scrubber, so a secret a
// task prints by hand is hidden as a logged one is. Reference-counted: concurrent runs share one
// patch, and the streams are restored when the last one ends.

import { hasSecrets, scrub } from "./redact.ts";

type Write = NodeJS.WriteStream["write"];
let users = 0;
let originals: { stream: NodeJS.WriteStream; write: Write }[] = [];

/** Route process.stdout and process.stderr writes through `scrub`; returns the undo function. */
export function scrubProcessOutput(): () => void {
  if (users++ === 0) {
    originals = [process.stdout, process.stderr].map((stream) => ({ stream, write: stream.write }));
    for (const { stream, write } of originals) stream.write = scrubbingWrite(write);
  }
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    if (--users === 0) {
      for (const { stream, write } of originals) stream.write = write;
      originals = [];
    }
  };
}

function scrubbingWrite(write: Write): Write {
  return function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    let out = chunk;
    if (hasSecrets()) {
      if (typeof chunk === "string") out = scrub(chunk);
      else if (chunk instanceof Uint8Array) {
        const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("utf8");
        const clean = scrub(text);
        if (clean !== text) out = clean;
      }
    }
    return (write as (...a: unknown[]) => boolean).call(this, out, ...rest);
  } as Write;
}
