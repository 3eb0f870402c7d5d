// The version of this package, read from its package.json: two levels up from src/cli and from
// dist/cli alike, so the source and the build say the same.

import { readFileSync } from "node:fs";

let cached: string | undefined;

/** This package's version, e.g. "0.1.0". */
export function flotillaVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    cached = pkg.version ?? "0.0.0";
  }
  return cached;
}
