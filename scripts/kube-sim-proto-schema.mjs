// Writes src/testing/kube-sim/protobuf-schema.ts: the protobuf wire facts (message names, field names,
// field numbers, types) of the kinds kube-sim serves, as a protobufjs JSON descriptor, plus what Go's
// JSON encoding does with each field (pointer, omitempty, inline, JSON name), so that a protobuf body
// is turned into the JSON object the API server would have seen. Read from a checkout of k8s.io/api
// and k8s.io/apimachinery at the version kube-sim claims (v0.32.4): their generated.proto files give the
// field numbers and types, the struct tags of their Go types give the JSON side.
//
//   node scripts/kube-sim-proto-schema.mjs <k8s.io/api checkout> <k8s.io/apimachinery checkout>
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [apiDir, machineryDir] = process.argv.slice(2);
if (!apiDir || !machineryDir) {
  console.error("usage: node scripts/kube-sim-proto-schema.mjs <k8s.io/api dir> <k8s.io/apimachinery dir>");
  process.exit(2);
}

/** proto package -> [short package, folder] */
const PACKAGES = {
  "k8s.io.api.core.v1": ["core.v1", join(apiDir, "core/v1")],
  "k8s.io.api.apps.v1": ["apps.v1", join(apiDir, "apps/v1")],
  "k8s.io.api.batch.v1": ["batch.v1", join(apiDir, "batch/v1")],
  "k8s.io.api.rbac.v1": ["rbac.v1", join(apiDir, "rbac/v1")],
  "k8s.io.api.authorization.v1": ["authorization.v1", join(apiDir, "authorization/v1")],
  "k8s.io.api.authentication.v1": ["authentication.v1", join(apiDir, "authentication/v1")],
  "k8s.io.apimachinery.pkg.apis.meta.v1": ["meta.v1", join(machineryDir, "pkg/apis/meta/v1")],
  "k8s.io.apimachinery.pkg.api.resource": ["resource", join(machineryDir, "pkg/api/resource")],
  "k8s.io.apimachinery.pkg.util.intstr": ["intstr", join(machineryDir, "pkg/util/intstr")],
  "k8s.io.apimachinery.pkg.runtime": ["runtime", join(machineryDir, "pkg/runtime")],
  "k8s.io.apimachinery.pkg.runtime.schema": ["schema", join(machineryDir, "pkg/runtime/schema")],
};
/** the messages kube-sim decodes; everything they reach is included */
const ROOTS = [
  "runtime.Unknown",
  "core.v1.Pod",
  "core.v1.Secret",
  "core.v1.ConfigMap",
  "core.v1.ServiceAccount",
  "core.v1.Namespace",
  "core.v1.Service",
  "core.v1.Node",
  "core.v1.Event",
  "core.v1.PersistentVolumeClaim",
  "apps.v1.Deployment",
  "apps.v1.ReplicaSet",
  "batch.v1.Job",
  "rbac.v1.Role",
  "rbac.v1.RoleBinding",
  "authorization.v1.SelfSubjectAccessReview",
  "authentication.v1.TokenRequest",
];
const SCALARS = new Set([
  "string",
  "bytes",
  "bool",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "double",
  "float",
  "fixed32",
  "fixed64",
  "sint32",
  "sint64",
]);

/** message full name -> { fieldName -> { id, type, rule?, keyType? } } */
const messages = new Map();
for (const [pkg, [short, dir]] of Object.entries(PACKAGES)) {
  const text = readFileSync(join(dir, "generated.proto"), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "");
  const re = /message\s+(\w+)\s*\{([^}]*)\}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const fields = {};
    for (const line of m[2].split(";")) {
      const f =
        /^\s*(?:(optional|repeated)\s+([\w.]+)|map<\s*(\w+)\s*,\s*([\w.]+)\s*>)\s+(\w+)\s*=\s*(\d+)/.exec(
          line,
        );
      if (!f) {
        if (line.trim()) throw new Error(`${pkg}.${m[1]}: cannot read '${line.trim()}'`);
        continue;
      }
      const resolve = (raw) => {
        const t = raw.replace(/^\./, "");
        if (SCALARS.has(t)) return t;
        if (!t.includes(".")) return `${short}.${t}`;
        const at = t.lastIndexOf(".");
        const target = PACKAGES[t.slice(0, at)];
        if (!target) throw new Error(`${pkg}.${m[1]}: unknown package of ${t}`);
        return `${target[0]}.${t.slice(at + 1)}`;
      };
      const field = f[3]
        ? { id: Number(f[6]), keyType: f[3], type: resolve(f[4]) }
        : { id: Number(f[6]), type: resolve(f[2]), ...(f[1] === "repeated" ? { rule: "repeated" } : {}) };
      fields[f[5]] = field;
    }
    messages.set(`${short}.${m[1]}`, fields);
  }
  void pkg;
}

/** Go side: message full name -> proto field name -> { json, omitempty, pointer, inline }; and named slice types */
const goFields = new Map();
const listTypes = new Set();
for (const [short, dir] of Object.values(PACKAGES)) {
  for (const file of readdirSync(dir)) {
    if (
      !file.endsWith(".go") ||
      file.endsWith("_test.go") ||
      file.startsWith("zz_") ||
      file.startsWith("generated")
    )
      continue;
    const src = readFileSync(join(dir, file), "utf8");
    for (const m of src.matchAll(/^type (\w+) \[\]/gm)) listTypes.add(`${short}.${m[1]}`);
    const re = /^type (\w+) struct \{\n([\s\S]*?)^\}/gm;
    for (let m = re.exec(src); m; m = re.exec(src)) {
      const out = {};
      for (const line of m[2].split("\n")) {
        const f = /^\s+(?:(\w+)\s+)?(\S+)\s+`([^`]*)`/.exec(line);
        if (!f) continue;
        const tag = f[3];
        const proto = /protobuf:"([^"]*)"/.exec(tag)?.[1];
        if (!proto) continue;
        const parts = proto.split(",");
        const name = parts.find((p) => p.startsWith("name="))?.slice(5);
        const number = Number(parts[1]);
        const json = /json:"([^"]*)"/.exec(tag)?.[1] ?? "";
        const [jsonName, ...opts] = json.split(",");
        out[name ?? `#${number}`] = {
          number,
          json: jsonName,
          omitempty: opts.includes("omitempty"),
          inline: opts.includes("inline"),
          pointer: f[2].startsWith("*"),
        };
      }
      goFields.set(`${short}.${m[1]}`, out);
    }
  }
}

// the closure of the roots
const needed = new Set();
const queue = [...ROOTS];
while (queue.length) {
  const name = queue.pop();
  if (needed.has(name)) continue;
  const fields = messages.get(name);
  if (!fields) throw new Error(`no message ${name}`);
  needed.add(name);
  for (const f of Object.values(fields)) if (!SCALARS.has(f.type)) queue.push(f.type);
}

const nested = {};
const json = {};
for (const name of [...needed].sort()) {
  const fields = messages.get(name);
  const go = goFields.get(name) ?? {};
  const path = name.split(".");
  let ns = nested;
  for (const part of path.slice(0, -1)) {
    ns[part] ??= { nested: {} };
    ns = ns[part].nested;
  }
  ns[path.at(-1)] = { fields };
  const info = {};
  for (const [fname, f] of Object.entries(fields)) {
    const g = go[fname] ?? Object.values(go).find((x) => x.number === f.id);
    if (!g) continue;
    const flags = `${g.pointer ? "p" : ""}${g.omitempty ? "e" : ""}${g.inline ? "i" : ""}`;
    const entry = g.json && g.json !== fname ? `${flags}:${g.json}` : flags;
    if (entry) info[fname] = entry;
  }
  json[name] = info;
}

const out = `// Generated by scripts/kube-sim-proto-schema.mjs from k8s.io/api and k8s.io/apimachinery v0.32.4; do not
// edit by hand. The protobuf wire facts (message and field names, field numbers, types) of every message
// the kinds kube-sim decodes can reach, as a protobufjs JSON descriptor, and what Go's JSON encoding does
// with each field: p = a pointer (present on the wire means present in JSON, zero included),
// e = omitempty (a zero non-pointer value is left out), i = inlined into the parent; :name = its JSON name.

/** protobufjs JSON descriptor (proto2) of the messages kube-sim decodes */
export const PROTO_DESCRIPTOR = ${JSON.stringify({ nested })} as const;

/** message -> field -> Go JSON flags (see the header) */
export const GO_JSON: Record<string, Record<string, string>> = ${JSON.stringify(json)};

/** messages that stand for a Go named slice type (\`type ExtraValue []string\`): JSON is their items array */
export const LIST_MESSAGES: readonly string[] = ${JSON.stringify([...needed].filter((n) => listTypes.has(n)).sort())};
`;
writeFileSync(new URL("../src/testing/kube-sim/protobuf-schema.ts", import.meta.url), out);
console.log(`${needed.size} messages`);
