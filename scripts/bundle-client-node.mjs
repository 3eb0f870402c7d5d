#!/usr/bin/env node
// Part of `npm run build`: @kubernetes/client-node prebundled into one ES module,
// dist/vendor/client-node.js, and every compiled module of dist/ that imports the package imports
// that file instead. From node_modules the package is ~900 modules (its generated API classes and
// models, openid-client, ws, jsonpath-plus, ...): resolving, reading and linking each took about
// 0.85 s of CPU in every process that loads `flotilla/kubernetes` (the CLI, the runner pod, every
// worker pod of a Kubernetes flow); one file is read and compiled in about 0.15 s. Everything the
// package exports stays exported (unknown-fields.ts reads its models by name), so behaviour is
// the package's own. The package stays a dependency: its types are part of Flotilla's .d.ts, and a
// source checkout (the `flotilla-source` condition) imports it directly.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dist = path.join(root, "dist");
const bundled = path.join(dist, "vendor", "client-node.js");

await build({
  stdin: {
    contents: 'export * from "@kubernetes/client-node";\n',
    resolveDir: root,
    sourcefile: "client-node-entry.mjs",
  },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20.19",
  mainFields: ["module", "main"],
  // whatwg-url and tr46 (node-fetch's) require Node's deprecated punycode module: Node 21+ warns
  // (DEP0040) about it on stderr unless the caller is inside node_modules, which dist/ of a checkout
  // is not; the npm package of the same code is bundled instead
  alias: { punycode: "punycode/punycode.js" },
  // the CommonJS modules inside require Node's built-ins: an ES module has no `require` of its own
  banner: {
    js: 'import __flotillaNodeModule from "node:module";\nconst require = __flotillaNodeModule.createRequire(import.meta.url);',
  },
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  legalComments: "eof",
  outfile: bundled,
  logLevel: "warning",
});

// every `from "@kubernetes/client-node"` left by tsc (type-only imports are gone already)
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])@kubernetes\/client-node\2/g;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith(".js")) continue;
  const file = path.join(entry.parentPath, entry.name);
  if (file === bundled) continue;
  const text = readFileSync(file, "utf8");
  if (!text.includes("@kubernetes/client-node")) continue;
  let relative = path.relative(path.dirname(file), bundled).split(path.sep).join("/");
  if (!relative.startsWith(".")) relative = `./${relative}`;
  const next = text.replace(SPECIFIER, (_, head, quote) => `${head}${quote}${relative}${quote}`);
  if (next !== text) writeFileSync(file, next);
}
