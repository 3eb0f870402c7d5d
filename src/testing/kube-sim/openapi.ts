// /openapi/v2 and /openapi/v3 as a real API server serves them, built from Kubernetes' own OpenAPI
// (the release-1.32 swagger.json extract in openapi-spec.ts): only the paths kube-sim serves (the
// kinds and subresources of resources.ts, no legacy `/watch/` paths), with the upstream definitions,
// descriptions and `x-kubernetes-*` extensions, so `kubectl explain` prints the upstream text and
// kubectl finds the `fieldValidation` parameter it chooses server-side validation by. /openapi/v3 lists
// one document per group version (`?hash=` the SHA-512 of its content, as the server's ETag); each
// document is the v2 operations and schemas in OpenAPI 3.0 form as kube-openapi's builder writes them
// (`#/components/schemas/...`, a `$ref` with siblings as `allOf`, body parameters as `requestBody`,
// responses by content type). Every document is built once, on first use.
import { createHash } from "node:crypto";
import { brotliDecompressSync } from "node:zlib";
import { KUBERNETES_VERSION } from "./discovery.ts";
import { isObject } from "./objects.ts";
import { OPENAPI_V2_EXTRACT } from "./openapi-spec.ts";
import { findResource, groupVersions } from "./resources.ts";

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are arbitrary JSON
type Json = any;

interface Extract {
  paths: Record<string, Json>;
  parameters: Record<string, Json>;
  definitions: Record<string, Json>;
  security: Json;
  securityDefinitions: Json;
}

let extract: Extract | undefined;

function upstream(): Extract {
  extract ??= JSON.parse(brotliDecompressSync(Buffer.from(OPENAPI_V2_EXTRACT, "base64")).toString("utf8"));
  return extract!;
}

/** `api/v1`, `apis/apps/v1`: a group version's document path */
function docPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** The group version of an upstream path if kube-sim serves it (as server.ts routes requests). */
export function servedGroupVersion(path: string): { group: string; version: string } | undefined {
  const parts = path.split("/").filter((p) => p !== "");
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 2) [group, version, rest] = ["", parts[1]!, parts.slice(2)];
  else if (parts[0] === "apis" && parts.length >= 3)
    [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
  else return undefined;
  const gv = { group, version };
  if (!groupVersions().some((g) => g.group === group && g.version === version)) return undefined;
  if (rest.length === 0) return gv;
  const namespaceSub =
    rest[0] === "namespaces" && rest.length === 3 && ["status", "finalize"].includes(rest[2]!);
  const inNamespace = rest[0] === "namespaces" && rest.length >= 3 && !namespaceSub;
  const [resource, , subresource, ...more] = inNamespace ? rest.slice(2) : rest;
  if (more.length > 0) return undefined;
  const rt = findResource(group, version, resource!);
  if (!rt || (inNamespace && !rt.namespaced)) return undefined;
  if (subresource !== undefined && !rt.subresources.includes(subresource)) return undefined;
  return gv;
}

function servedPaths(): [string, Json][] {
  return Object.entries(upstream().paths).filter(([p]) => servedGroupVersion(p) !== undefined);
}

function info(version: string): Json {
  return { title: "Kubernetes", version: `v${version.replace(/^v/, "")}` };
}

const v2Cache = new Map<string, Json>();

/** GET /openapi/v2: the upstream document, with the paths kube-sim serves */
export function openApiV2(version = KUBERNETES_VERSION): Json {
  let doc = v2Cache.get(version);
  if (!doc) {
    const u = upstream();
    doc = {
      swagger: "2.0",
      info: info(version),
      paths: Object.fromEntries(servedPaths()),
      definitions: u.definitions,
      parameters: u.parameters,
      security: u.security,
      securityDefinitions: u.securityDefinitions,
    };
    v2Cache.set(version, doc);
  }
  return doc;
}

// --- OpenAPI v3 -------------------------------------------------------------------------------------

const V2_REF = "#/definitions/";
const V3_REF = "#/components/schemas/";

/** A v2 schema in v3 form: refs under components, a `$ref` with siblings wrapped in `allOf`. */
function schemaV3(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(schemaV3);
  if (!isObject(schema)) return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "$ref" && typeof v === "string") continue;
    out[k] = k === "properties" || k === "patternProperties" ? mapValues(v, schemaV3) : schemaV3(v);
  }
  const ref = typeof schema.$ref === "string" ? schema.$ref.replace(V2_REF, V3_REF) : undefined;
  if (ref === undefined) return out;
  return Object.keys(out).length === 0 ? { $ref: ref } : { allOf: [{ $ref: ref }], ...out };
}

function mapValues(o: Json, f: (v: Json) => Json): Json {
  return isObject(o) ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)])) : o;
}

/** A v2 non-body parameter in v3 form: the type facets move into `schema`. */
function parameterV3(p: Json): Json {
  const { type, uniqueItems, items, format, default: dflt, enum: values, ...rest } = p;
  const schema: Json = { type };
  if (format !== undefined) schema.format = format;
  if (uniqueItems !== undefined) schema.uniqueItems = uniqueItems;
  if (items !== undefined) schema.items = schemaV3(items);
  if (dflt !== undefined) schema.default = dflt;
  if (values !== undefined) schema.enum = values;
  return { ...rest, schema };
}

function resolveParameter(p: Json): Json {
  if (isObject(p) && typeof p.$ref === "string")
    return upstream().parameters[p.$ref.replace("#/parameters/", "")];
  return p;
}

function operationV3(op: Json): Json {
  const { parameters = [], responses = {}, consumes, produces, schemes: _s, ...rest } = op;
  const out: Json = { ...rest };
  const params = (parameters as Json[]).map(resolveParameter);
  const body = params.find((p) => p.in === "body");
  const others = params.filter((p) => p.in !== "body").map(parameterV3);
  if (others.length > 0) out.parameters = others;
  if (body) {
    const types: string[] = consumes && !consumes.includes("*/*") ? consumes : ["*/*"];
    out.requestBody = {
      content: Object.fromEntries(types.map((t) => [t, { schema: schemaV3(body.schema) }])),
      ...(body.required ? { required: true } : {}),
    };
  }
  out.responses = mapValues(responses, (r: Json) => {
    const { schema, ...meta } = r;
    if (schema === undefined) return meta;
    const types: string[] = produces ?? ["application/json"];
    return { ...meta, content: Object.fromEntries(types.map((t) => [t, { schema: schemaV3(schema) }])) };
  });
  return out;
}

function pathItemV3(item: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(item as Record<string, Json>)) {
    if (k === "parameters") out.parameters = (v as Json[]).map(resolveParameter).map(parameterV3);
    else out[k] = operationV3(v);
  }
  return out;
}

/** the definitions `value` reaches through `$ref`, transitively */
function reachable(
  value: Json,
  defs: Record<string, Json>,
  into = new Map<string, Json>(),
): Map<string, Json> {
  const visit = (v: Json): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (isObject(v))
      for (const [k, x] of Object.entries(v)) {
        if (k === "$ref" && typeof x === "string" && x.startsWith(V3_REF)) {
          const name = x.slice(V3_REF.length);
          if (!into.has(name) && defs[name]) {
            const schema = schemaV3(defs[name]);
            into.set(name, schema);
            visit(schema);
          }
        } else visit(x);
      }
  };
  visit(value);
  return into;
}

interface V3Document {
  text: string;
  hash: string;
}

const v3Cache = new Map<string, Map<string, V3Document>>();

function v3Documents(version: string): Map<string, V3Document> {
  let docs = v3Cache.get(version);
  if (docs) return docs;
  docs = new Map();
  const u = upstream();
  for (const gv of groupVersions()) {
    const paths = Object.fromEntries(
      servedPaths()
        .filter(([p]) => {
          const g = servedGroupVersion(p);
          return g?.group === gv.group && g.version === gv.version;
        })
        .map(([p, item]) => [p, pathItemV3(item)]),
    );
    const schemas = Object.fromEntries(
      [...reachable(paths, u.definitions).entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    const doc = {
      openapi: "3.0.0",
      info: info(version),
      paths,
      components: {
        schemas,
        securitySchemes: u.securityDefinitions,
      },
      security: u.security,
    };
    const text = JSON.stringify(doc);
    docs.set(docPath(gv.group, gv.version), {
      text,
      hash: createHash("sha512").update(text).digest("hex").toUpperCase(),
    });
  }
  v3Cache.set(version, docs);
  return docs;
}

/** GET /openapi/v3: one entry per group version, its URL carrying its content's hash */
export function openApiV3Root(version = KUBERNETES_VERSION): Json {
  const paths: Record<string, Json> = {};
  for (const [p, d] of v3Documents(version))
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d.hash}` };
  return { paths };
}

/** GET /openapi/v3/<api/v1 | apis/G/V>: the group version's document, or undefined */
export function openApiV3Document(path: string, version = KUBERNETES_VERSION): Json | undefined {
  const d = v3Documents(version).get(path);
  return d ? JSON.parse(d.text) : undefined;
}
