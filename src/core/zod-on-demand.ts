// zod, loaded when first needed instead of when a module is imported. zod is about a hundred ES
// modules, and a module whose schemas are rarely used (DockerStorage's options, say) should not make
// every `import "flotilla"` pay for loading them: `flotilla run` of a flow that builds no image never
// calls it. It is the same zod module as `import { z } from "zod"` elsewhere (its ES build, loaded
// through require(esm), Node 20.19+), so schemas and errors mix freely.

// node:module as one default import: a bundle of a user's flow may declare `createRequire` in its
// banner (esbuild's documented one does), and an imported `createRequire` would collide with it.
import nodeModule from "node:module";
import { fileURLToPath } from "node:url";
import type { z as Zod } from "zod";

let loaded: typeof Zod | undefined;

/** zod's `z`, loaded on the first call. */
export function zod(): typeof Zod {
  if (loaded === undefined) {
    const esm = fileURLToPath(import.meta.resolve("zod"));
    loaded = (nodeModule.createRequire(import.meta.url)(esm) as { z: typeof Zod }).z;
  }
  return loaded;
}

/** A value built by `build` on the first call, then the same value (a schema compiled once). */
export function onFirstUse<T>(build: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: build() };
    return value.v;
  };
}
