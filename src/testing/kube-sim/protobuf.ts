// Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`, what kubectl's
// typed clients send for `create secret|configmap|sa|ns|role|rolebinding|job|service|token`, `run` and
// `auth can-i`): the `k8s\0` envelope around runtime.Unknown, decoded by protobufjs with the schema in
// protobuf-schema.ts (the wire facts of k8s.io/api v0.32.4), then turned into the JSON object the API
// server would have decoded, following Go's JSON encoding of each field (pointers, omitempty, inlined
// structs, Time/Quantity/IntOrString). A field the schema does not know is a 400 naming it, never
// silently dropped. Responses are always JSON.
import protobuf from "protobufjs";
import { badRequest, unsupportedMediaType } from "./errors.ts";
import { GO_JSON, LIST_MESSAGES, PROTO_DESCRIPTOR } from "./protobuf-schema.ts";
import { resourceForKind } from "./resources.ts";

const root = protobuf.Root.fromJSON(PROTO_DESCRIPTOR as unknown as protobuf.INamespace);
root.resolveAll();
const UNKNOWN = root.lookupType("runtime.Unknown");
const LISTS = new Set(LIST_MESSAGES);

/** the message type of each kind kube-sim decodes, by apiVersion/kind */
const KIND_TYPES: Record<string, string> = {
  "v1/Pod": "core.v1.Pod",
  "v1/Secret": "core.v1.Secret",
  "v1/ConfigMap": "core.v1.ConfigMap",
  "v1/ServiceAccount": "core.v1.ServiceAccount",
  "v1/Namespace": "core.v1.Namespace",
  "v1/Service": "core.v1.Service",
  "v1/Node": "core.v1.Node",
  "v1/Event": "core.v1.Event",
  "v1/PersistentVolumeClaim": "core.v1.PersistentVolumeClaim",
  "apps/v1/Deployment": "apps.v1.Deployment",
  "apps/v1/ReplicaSet": "apps.v1.ReplicaSet",
  "batch/v1/Job": "batch.v1.Job",
  "rbac.authorization.k8s.io/v1/Role": "rbac.v1.Role",
  "rbac.authorization.k8s.io/v1/RoleBinding": "rbac.v1.RoleBinding",
  "authorization.k8s.io/v1/SelfSubjectAccessReview": "authorization.v1.SelfSubjectAccessReview",
  "authentication.k8s.io/v1/TokenRequest": "authentication.v1.TokenRequest",
};

type Decoded = protobuf.Message & Record<string, unknown> & { $unknowns?: Uint8Array[] };

function bodyError(message: string): Error {
  return badRequest(
    `kube-sim cannot decode this protobuf body: ${message} (kube-sim knows the fields of Kubernetes v1.32.4; send the object as JSON to have unknown fields handled by fieldValidation)`,
  );
}

/** the field number of a raw unknown field (its tag's varint, shifted) */
function fieldNumber(raw: Uint8Array): number {
  return protobuf.Reader.create(raw).uint32() >>> 3;
}

function toNumber(v: unknown): number {
  return typeof v === "number" ? v : Number(String(v));
}

function isZero(v: unknown): boolean {
  return v === "" || v === false || v === 0 || (typeof v === "object" && v !== null && toNumber(v) === 0);
}

/**
 * Go's metav1.Time / MicroTime JSON (RFC 3339 in UTC; Time keeps seconds, MicroTime microseconds). An empty
 * message is the zero time, which Go writes as null (a template's `creationTimestamp: null`).
 */
function timeJSON(msg: Decoded, micro: boolean): string | null {
  const has = (k: string) => Object.hasOwn(msg, k) && msg[k] !== undefined && msg[k] !== null;
  if (!has("seconds") && !has("nanos")) return null;
  const seconds = has("seconds") ? toNumber(msg.seconds) : 0;
  const nanos = has("nanos") ? toNumber(msg.nanos) : 0;
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, "0")}Z` : `${iso}Z`;
}

/** The JSON value of a message that Go encodes by a MarshalJSON of its own; `undefined` when it is not one. */
function specialJSON(type: protobuf.Type, msg: Decoded): { value: unknown } | undefined {
  switch (type.fullName) {
    case ".meta.v1.Time":
      return { value: timeJSON(msg, false) };
    case ".meta.v1.MicroTime":
      return { value: timeJSON(msg, true) };
    case ".resource.Quantity":
      return { value: Object.hasOwn(msg, "string") ? msg.string : "0" };
    case ".intstr.IntOrString":
      return { value: toNumber(msg.type) === 1 ? msg.strVal : msg.intVal };
    case ".meta.v1.FieldsV1":
    case ".runtime.RawExtension": {
      const raw = (Object.hasOwn(msg, "Raw") ? msg.Raw : msg.raw) as Uint8Array | undefined;
      if (!raw || raw.length === 0) return { value: null };
      try {
        return { value: JSON.parse(Buffer.from(raw).toString("utf8")) };
      } catch {
        throw bodyError(`${type.name} holds no JSON`);
      }
    }
    default:
      return undefined;
  }
}

function scalarJSON(field: protobuf.Field, v: unknown): unknown {
  if (field.type === "bytes") return Buffer.from(v as Uint8Array).toString("base64");
  if (
    field.type === "int64" ||
    field.type === "uint64" ||
    field.type === "sint64" ||
    field.type === "fixed64"
  )
    return toNumber(v);
  return v;
}

function valueJSON(field: protobuf.Field, v: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return messageJSON(rt, v as Decoded, path);
  return scalarJSON(field, v);
}

/** Go's JSON encoding of one decoded message; unknown fields refused, naming their number and where */
function messageJSON(type: protobuf.Type, msg: Decoded, path: string): unknown {
  const unknown = msg.$unknowns;
  if (unknown && unknown.length > 0) {
    const numbers = [...new Set(unknown.map(fieldNumber))].join(", ");
    throw bodyError(`unknown field number ${numbers} in ${path} (${type.fullName.slice(1)})`);
  }
  const special = specialJSON(type, msg);
  if (special) return special.value;
  if (LISTS.has(type.fullName.slice(1))) {
    const items = msg.items as unknown[] | undefined;
    return items && items.length > 0 ? items : undefined;
  }
  const go = GO_JSON[type.fullName.slice(1)] ?? {};
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const [flags = "", jsonName = field.name] = (go[field.name] ?? "").split(":");
    if (jsonName === "-") continue;
    const present =
      Object.hasOwn(msg, field.name) && msg[field.name] !== undefined && msg[field.name] !== null;
    if (!present) continue;
    const v = msg[field.name];
    const where = `${path}.${jsonName}`;
    let json: unknown;
    if (field instanceof protobuf.MapField) {
      const entries = Object.entries(v as Record<string, unknown>);
      // a nil and an empty map are one thing on the wire; JSON leaves it out either way
      if (entries.length === 0) continue;
      json = Object.fromEntries(entries.map(([k, x]) => [k, valueJSON(field, x, `${where}[${k}]`)]));
    } else if (field.repeated) {
      const items = v as unknown[];
      if (items.length === 0) continue;
      json = items.map((x, i) => valueJSON(field, x, `${where}[${i}]`));
    } else {
      json = valueJSON(field, v, where);
      if (json === undefined) continue;
      const pointer = flags.includes("p");
      // Go writes every non-pointer scalar; its JSON leaves a zero out only under omitempty
      if (!pointer && flags.includes("e") && !(field.resolvedType instanceof protobuf.Type) && isZero(json))
        continue;
    }
    if (flags.includes("i") && json && typeof json === "object") Object.assign(out, json);
    else out[jsonName] = json;
  }
  return out;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

function decode(type: protobuf.Type, bytes: Uint8Array, what: string): Decoded {
  const reader = protobuf.Reader.create(bytes);
  reader.discardUnknown = false;
  try {
    return type.decode(reader) as Decoded;
  } catch (err) {
    throw bodyError(`${what}: ${(err as Error).message}`);
  }
}

/** Decode a `application/vnd.kubernetes.protobuf` body into the JSON object it stands for. */
export function decodeProtobuf(body: Buffer, contentType: string): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupportedMediaType(contentType);
  const envelope = decode(UNKNOWN, body.subarray(4), "the runtime.Unknown envelope");
  const typeMeta = (envelope.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const apiVersion = typeMeta.apiVersion ?? "";
  const kind = typeMeta.kind ?? "";
  const typeName = KIND_TYPES[`${apiVersion}/${kind}`];
  if (!typeName) {
    const served = resourceForKind(apiVersion, kind);
    throw served
      ? bodyError(`no protobuf schema for ${apiVersion} ${kind}`)
      : unsupportedMediaType(`${contentType} (kind ${kind})`);
  }
  const type = root.lookupType(typeName);
  const raw = (envelope.raw as Uint8Array | undefined) ?? new Uint8Array();
  const object = messageJSON(type, decode(type, raw, kind), kind) as Record<string, unknown>;
  return { apiVersion, kind, ...object };
}
