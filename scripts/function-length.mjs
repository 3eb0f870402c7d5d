#!/usr/bin/env node
// `npm run lint`'s function-length rule: every function, method, accessor or arrow function in
// src/ (kube-sim in src/testing/ excepted) longer than 120 lines is listed with its file, line and
// length, and the check fails. A long function is split into named parts that read top-down.
// Length is counted as the TypeScript compiler sees it: last line minus first line of the node.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const MAX_LINES = 120;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "src");
const excluded = [path.join(src, "testing")];

/** Every .ts/.tsx file under `dir`, the excluded folders left out. */
function sourceFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!excluded.includes(p)) out.push(...sourceFiles(p));
    } else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
      out.push(p);
    }
  }
  return out.sort();
}

/** A readable name of a function-like node: its own, its variable's or property's, or <anonymous>. */
function nameOf(node) {
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) && parent.name)
    return parent.name.getText();
  return "<anonymous>";
}

/** The functions of one file longer than MAX_LINES. */
function longFunctions(file) {
  const text = readFileSync(file, "utf8");
  const kind = file.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.end).line;
      if (last - first > MAX_LINES) found.push({ line: first + 1, lines: last - first, name: nameOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

let count = 0;
for (const file of sourceFiles(src)) {
  for (const f of longFunctions(file)) {
    count++;
    console.error(
      `${path.relative(root, file)}:${f.line} ${f.name} is ${f.lines} lines (at most ${MAX_LINES})`,
    );
  }
}
if (count > 0) {
  console.error(
    `${count} function(s) longer than ${MAX_LINES} lines: split each into named parts that read top-down`,
  );
  process.exit(1);
}
console.log(`function length: none over ${MAX_LINES} lines in src/ (src/testing/ excepted)`);
