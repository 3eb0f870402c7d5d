// /openapi/v2 in protobuf, the form kubectl asks for (client-side validation of a `kind: List`,
// `kubectl explain --output plaintext-openapiv2`, apply's patch metadata): the JSON document turned into
// gnostic's openapi.v2.Document as the API server's kube-openapi handler does (gnostic's ParseDocument,
// then proto.Marshal): `$ref` is `_ref`, `x-*` keys are vendor extensions whose values travel as YAML
// text in an Any, `type` is a TypeItem, `items` an ItemsItem, an object of named entries (definitions,
// properties, paths, responses) a list of Named* pairs, and each oneof wrapper (a parameter, a
// response, additionalProperties) holds the alternative the JSON is. Encoded once per document.
import protobuf from "protobufjs";
import { stringify as toYaml } from "yaml";
import { isObject } from "./objects.ts";
import { OPENAPI_V2_PROTO } from "./openapi-proto-schema.ts";

/** the media type kubectl asks /openapi/v2 for */
export const OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/** the Content-Type kube-openapi answers it with (a media type Go's mime parser accepts) */
export const OPENAPI_V2_PROTOBUF_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

// biome-ignore lint/suspicious/noExplicitAny: OpenAPI documents are arbitrary JSON
type Json = any;

let root: protobuf.Root | undefined;

function types(): protobuf.Root {
  if (!root) {
    root = protobuf.Root.fromJSON(protobuf.common.get("google/protobuf/any.proto") as protobuf.INamespace);
    root.addJSON((OPENAPI_V2_PROTO as unknown as protobuf.INamespace).nested!);
  }
  return root;
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function named(type: protobuf.Type): protobuf.Field | undefined {
  const repeated = type.fieldsArray.filter((f) => f.repeated && f.name !== "vendor_extension");
  if (repeated.length !== 1 || type.fieldsArray.length > 2) return undefined;
  const entry = repeated[0]!.resolve().resolvedType;
  if (!(entry instanceof protobuf.Type)) return undefined;
  const names = entry.fieldsArray.map((f) => f.name).sort();
  return names.join() === "name,value" ? repeated[0] : undefined;
}

function vendorExtensions(json: Record<string, Json>): Json[] {
  return Object.entries(json)
    .filter(([k]) => k.startsWith("x-"))
    .map(([name, value]) => ({ name, value: { yaml: toYaml(value) } }));
}

/** the oneof alternative `json` is, for the wrapper messages */
function alternative(typeName: string, json: Json): string | undefined {
  const ref = isObject(json) && typeof json.$ref === "string";
  switch (typeName) {
    case "ParametersItem":
    case "ResponseValue":
      return ref ? "json_reference" : typeName === "ParametersItem" ? "parameter" : "response";
    case "Parameter":
      return json.in === "body" ? "body_parameter" : "non_body_parameter";
    case "NonBodyParameter":
      return `${snake(json.in === "formData" ? "formData" : String(json.in))}_parameter_sub_schema`;
    case "SchemaItem":
      return json.type === "file" ? "file_schema" : "schema";
    case "AdditionalPropertiesItem":
      return typeof json === "boolean" ? "boolean" : "schema";
    case "SecurityDefinitionsItem":
      if (json.type === "apiKey") return "api_key_security";
      if (json.type === "basic") return "basic_authentication_security";
      return `oauth2_${json.flow === "accessCode" ? "access_code" : json.flow}_security`;
    default:
      return undefined;
  }
}

function value(field: protobuf.Field, json: Json): Json {
  const t = field.resolve().resolvedType;
  const one = (v: Json) => (t instanceof protobuf.Type ? message(t, v) : v);
  return field.repeated ? (Array.isArray(json) ? json : [json]).map(one) : one(json);
}

function message(type: protobuf.Type, json: Json): Json {
  if (type.name === "Any") return { yaml: toYaml(json) };
  if (type.name === "TypeItem" || type.name === "StringArray")
    return { value: Array.isArray(json) ? json : [json] };
  if (type.name === "ItemsItem")
    return {
      schema: (Array.isArray(json) ? json : [json]).map((s) =>
        message(type.fields.schema!.resolve().resolvedType as protobuf.Type, s),
      ),
    };
  const choice = alternative(type.name, json);
  if (choice) return { [choice]: value(type.fields[choice]!, json) };
  if (type.name === "JsonReference")
    return { _ref: json.$ref, ...(json.description ? { description: json.description } : {}) };
  if (!isObject(json)) return {};
  const out: Json = {};
  const entries = named(type);
  if (entries) {
    const entryType = entries.resolve().resolvedType as protobuf.Type;
    const valueField = entryType.fields.value!;
    out[entries.name] = Object.entries(json)
      .filter(([k]) => !k.startsWith("x-"))
      .map(([name, v]) => ({ name, value: value(valueField, v) }));
  } else {
    for (const [k, v] of Object.entries(json)) {
      if (k.startsWith("x-")) continue;
      const field = type.fields[k === "$ref" ? "_ref" : snake(k)];
      if (field) out[field.name] = value(field, v);
    }
  }
  if (type.fields.vendor_extension) {
    const ext = vendorExtensions(json);
    if (ext.length > 0) out.vendor_extension = ext;
  }
  return out;
}

const encoded = new WeakMap<object, Buffer>();

/** `doc` (an OpenAPI v2 document) as the protobuf openapi.v2.Document bytes */
export function openApiV2Protobuf(doc: Json): Buffer {
  let bytes = encoded.get(doc);
  if (!bytes) {
    const Document = types().lookupType("openapi.v2.Document");
    bytes = Buffer.from(Document.encode(Document.fromObject(message(Document, doc))).finish());
    encoded.set(doc, bytes);
  }
  return bytes;
}
