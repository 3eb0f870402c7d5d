// Decoding of Kubernetes protobuf request bodies for the kinds kubectl's typed clients POST
// (`create sa|ns|configmap|secret|token|role|rolebinding`, `auth can-i`): the `k8s\0` envelope around
// runtime.Unknown, and a field table per message taken from the types' generated.proto (v0.32.4). A
// field number the table does not know is a 400, never silently dropped. Responses are always JSON.
import { badRequest, unsupportedMediaType } from "./errors.ts";

type FieldType =
  | "string"
  | "bytes"
  | "int"
  | "bool"
  | "skip"
  | { message: Schema }
  | { map: "string" | "bytes" };
interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
}
type Schema = Record<number, Field>;

const OWNER_REFERENCE: Schema = {
  1: { name: "kind", type: "string" },
  3: { name: "name", type: "string" },
  4: { name: "uid", type: "string" },
  5: { name: "apiVersion", type: "string" },
  6: { name: "controller", type: "bool" },
  7: { name: "blockOwnerDeletion", type: "bool" },
};
const OBJECT_META: Schema = {
  1: { name: "name", type: "string" },
  2: { name: "generateName", type: "string" },
  3: { name: "namespace", type: "string" },
  4: { name: "selfLink", type: "skip" },
  5: { name: "uid", type: "string" },
  6: { name: "resourceVersion", type: "string" },
  7: { name: "generation", type: "skip" },
  8: { name: "creationTimestamp", type: "skip" },
  9: { name: "deletionTimestamp", type: "skip" },
  10: { name: "deletionGracePeriodSeconds", type: "skip" },
  11: { name: "labels", type: { map: "string" } },
  12: { name: "annotations", type: { map: "string" } },
  13: { name: "ownerReferences", type: { message: OWNER_REFERENCE }, repeated: true },
  14: { name: "finalizers", type: "string", repeated: true },
  17: { name: "managedFields", type: "skip" },
};
const POLICY_RULE: Schema = {
  1: { name: "verbs", type: "string", repeated: true },
  2: { name: "apiGroups", type: "string", repeated: true },
  3: { name: "resources", type: "string", repeated: true },
  4: { name: "resourceNames", type: "string", repeated: true },
  5: { name: "nonResourceURLs", type: "string", repeated: true },
};
const SUBJECT: Schema = {
  1: { name: "kind", type: "string" },
  2: { name: "apiGroup", type: "string" },
  3: { name: "name", type: "string" },
  4: { name: "namespace", type: "string" },
};
const ROLE_REF: Schema = {
  1: { name: "apiGroup", type: "string" },
  2: { name: "kind", type: "string" },
  3: { name: "name", type: "string" },
};
const LOCAL_REF: Schema = { 1: { name: "name", type: "string" } };
const OBJECT_REF: Schema = { 1: { name: "kind", type: "string" }, 3: { name: "name", type: "string" } };

const KINDS: Record<string, Schema> = {
  Role: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: { name: "rules", type: { message: POLICY_RULE }, repeated: true },
  },
  RoleBinding: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: { name: "subjects", type: { message: SUBJECT }, repeated: true },
    3: { name: "roleRef", type: { message: ROLE_REF } },
  },
  ServiceAccount: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: { name: "secrets", type: { message: OBJECT_REF }, repeated: true },
    3: { name: "imagePullSecrets", type: { message: LOCAL_REF }, repeated: true },
    4: { name: "automountServiceAccountToken", type: "bool" },
  },
  Namespace: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: { name: "spec", type: "skip" },
    3: { name: "status", type: "skip" },
  },
  ConfigMap: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: { name: "data", type: { map: "string" } },
    3: { name: "binaryData", type: { map: "bytes" } },
    4: { name: "immutable", type: "bool" },
  },
  Secret: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: { name: "data", type: { map: "bytes" } },
    3: { name: "type", type: "string" },
    4: { name: "stringData", type: { map: "string" } },
    5: { name: "immutable", type: "bool" },
  },
  TokenRequest: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: {
      name: "spec",
      type: {
        message: {
          1: { name: "audiences", type: "string", repeated: true },
          3: {
            name: "boundObjectRef",
            type: {
              message: {
                1: { name: "kind", type: "string" },
                2: { name: "apiVersion", type: "string" },
                3: { name: "name", type: "string" },
                4: { name: "uid", type: "string" },
              },
            },
          },
          4: { name: "expirationSeconds", type: "int" },
        },
      },
    },
    3: { name: "status", type: "skip" },
  },
  SelfSubjectAccessReview: {
    1: { name: "metadata", type: { message: OBJECT_META } },
    2: {
      name: "spec",
      type: {
        message: {
          1: {
            name: "resourceAttributes",
            type: {
              message: {
                1: { name: "namespace", type: "string" },
                2: { name: "verb", type: "string" },
                3: { name: "group", type: "string" },
                4: { name: "version", type: "string" },
                5: { name: "resource", type: "string" },
                6: { name: "subresource", type: "string" },
                7: { name: "name", type: "string" },
              },
            },
          },
          2: {
            name: "nonResourceAttributes",
            type: { message: { 1: { name: "path", type: "string" }, 2: { name: "verb", type: "string" } } },
          },
        },
      },
    },
    3: { name: "status", type: "skip" },
  },
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error("truncated varint");
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }
  bytes(): Buffer {
    const len = this.varint();
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

/** decode a message; returns [fieldNumber, raw] pairs for length-delimited and varint fields */
function fields(buf: Buffer): { num: number; wire: number; value: Buffer | number }[] {
  const r = new Reader(buf);
  const out: { num: number; wire: number; value: Buffer | number }[] = [];
  while (!r.done) {
    const tag = r.varint();
    const num = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) out.push({ num, wire, value: r.varint() });
    else if (wire === 2) out.push({ num, wire, value: r.bytes() });
    else r.skip(wire);
  }
  return out;
}

function decodeMessage(buf: Buffer, schema: Schema, path: string): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  for (const f of fields(buf)) {
    const def = schema[f.num];
    // a field this decoder does not know would be lost: refuse the body instead of dropping it
    if (!def) {
      throw badRequest(
        `kube-sim cannot decode this protobuf body: unknown field number ${f.num} in ${path} (send it as JSON, e.g. kubectl --output-version or a client that sends application/json)`,
      );
    }
    let value: unknown;
    const t = def.type;
    if (t === "skip") continue;
    if (t === "string") {
      value = (f.value as Buffer).toString("utf8");
      // gogo-protobuf writes every non-pointer string; empty is Go's zero value, omitted in JSON
      if (value === "" && !def.repeated) continue;
    } else if (t === "bytes") value = (f.value as Buffer).toString("base64");
    else if (t === "int") value = f.value as number;
    else if (t === "bool") value = f.value !== 0;
    else if ("message" in t) value = decodeMessage(f.value as Buffer, t.message, `${path}.${def.name}`);
    else {
      const entry = fields(f.value as Buffer);
      const key = (entry.find((e) => e.num === 1)?.value as Buffer | undefined)?.toString("utf8") ?? "";
      const raw = entry.find((e) => e.num === 2)?.value as Buffer | undefined;
      const map = (obj[def.name] as Record<string, string> | undefined) ?? {};
      map[key] =
        t.map === "bytes"
          ? (raw ?? Buffer.alloc(0)).toString("base64")
          : (raw ?? Buffer.alloc(0)).toString("utf8");
      obj[def.name] = map;
      continue;
    }
    if (def.repeated) obj[def.name] = [...((obj[def.name] as unknown[]) ?? []), value];
    else obj[def.name] = value;
  }
  return obj;
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Decode a `application/vnd.kubernetes.protobuf` body into the JSON object it stands for. */
export function decodeProtobuf(body: Buffer, contentType: string): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(MAGIC)) throw unsupportedMediaType(contentType);
  const unknown = fields(body.subarray(4));
  const typeMeta = fields((unknown.find((f) => f.num === 1)?.value as Buffer | undefined) ?? Buffer.alloc(0));
  const apiVersion = (typeMeta.find((f) => f.num === 1)?.value as Buffer | undefined)?.toString("utf8") ?? "";
  const kind = (typeMeta.find((f) => f.num === 2)?.value as Buffer | undefined)?.toString("utf8") ?? "";
  const raw = (unknown.find((f) => f.num === 2)?.value as Buffer | undefined) ?? Buffer.alloc(0);
  const schema = KINDS[kind];
  if (!schema) throw unsupportedMediaType(`${contentType} (kind ${kind})`);
  return { apiVersion, kind, ...decodeMessage(raw, schema, kind) };
}
