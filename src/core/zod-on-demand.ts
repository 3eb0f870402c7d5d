// zod, loaded when first needed instead of when a module is imported. zod is about a hundred ES
// modules, and a module whose schemas are rarely used (DockerStorage's options, say) should not make
// every `import "flotilla"` pay for loading them: `flotilla run` of a flow that builds no image never
// calls it. Every Flotilla module outside the server takes zod from here, so their schemas share
// one copy: in a built package the prebundled dist/vendor/zod.js (scripts/bundle-vendor.mjs; one
// file read instead of 95, about a tenth of a worker's start-up), from source or in a user's own
// bundle zod's ES build, which is then the same module as `import { z } from "zod"` (loaded through
// require(esm), Node 20.19+). The server's routes import zod themselves (fastify's type provider).

// node:module as one default import: a bundle of a user's flow may declare `createRequire` in its
// banner (esbuild's documented one does), and an imported `createRequire` would collide with it.
import { existsSync } from "node:fs";
import nodeModule from "node:module";
import { fileURLToPath } from "node:url";
import type { z as Zod } from "zod";

let loaded: typeof Zod | undefined;

/** zod's `z`, loaded on the first call. */
export function zod(): typeof Zod {
  if (loaded === undefined) {
    const bundled = fileURLToPath(new URL("../vendor/zod.js", import.meta.url));
    const esm = existsSync(bundled) ? bundled : fileURLToPath(import.meta.resolve("zod"));
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
