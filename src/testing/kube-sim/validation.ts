// Write-time validation: decoding checks (unknown fields, JSON types — 400 BadRequest, or a warning),
// then the API server's field validation (names, labels, per-kind rules, immutable fields — 422 Invalid).
// Schema types come from kubernetes-models; the rules kubernetes-models lacks are written out here.
import { badRequest, type FieldError } from "./errors.ts";
import { isObject, jsonEqual, type KubeObject } from "./objects.ts";
import { parseQuantity } from "./quantity.ts";
import type { ResourceType } from "./resources.ts";
import { unknownFields } from "./schema.ts";
import { labelSelectorRequirements, matchesLabels } from "./selectors.ts";

export type FieldValidation = "Strict" | "Warn" | "Ignore";

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

function invalidValue(field: string, value: unknown, detail: string): FieldError {
  return { type: "FieldValueInvalid", field, value, detail };
}

export function validateSubdomain(field: string, value: string): FieldError[] {
  if (value.length > 253) return [invalidValue(field, value, "must be no more than 253 characters")];
  return SUBDOMAIN.test(value) ? [] : [invalidValue(field, value, SUBDOMAIN_MSG)];
}

export function validateDnsLabel(field: string, value: string): FieldError[] {
  const errs: FieldError[] = [];
  if (value.length > 63) errs.push(invalidValue(field, value, "must be no more than 63 characters"));
  if (!LABEL.test(value)) errs.push(invalidValue(field, value, LABEL_MSG));
  return errs;
}

function validateName(rt: ResourceType, name: string): FieldError[] {
  const field = "metadata.name";
  switch (rt.nameRule) {
    case "subdomain":
      return validateSubdomain(field, name);
    case "label":
      if (rt.resource === "services") {
        if (name.length > 63) return [invalidValue(field, name, "must be no more than 63 characters")];
        return DNS1035.test(name) ? [] : [invalidValue(field, name, DNS1035_MSG)];
      }
      return validateDnsLabel(field, name);
    case "path":
      if (name === "." || name === "..") return [invalidValue(field, name, `may not be '${name}'`)];
      if (name.includes("/")) return [invalidValue(field, name, "may not contain '/'")];
      if (name.includes("%")) return [invalidValue(field, name, "may not contain '%'")];
      return [];
  }
}

function validateQualifiedName(field: string, key: string): FieldError[] {
  const parts = key.split("/");
  if (parts.length > 2) {
    return [
      invalidValue(
        field,
        key,
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      ),
    ];
  }
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  const errs: FieldError[] = [];
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) errs.push(invalidValue(field, key, "prefix part must be non-empty"));
    else if (!SUBDOMAIN.test(prefix) || prefix.length > 253)
      errs.push(invalidValue(field, key, `prefix part ${SUBDOMAIN_MSG}`));
  }
  if (name.length === 0) errs.push(invalidValue(field, key, "name part must be non-empty"));
  else {
    if (name.length > 63) errs.push(invalidValue(field, key, "name part must be no more than 63 characters"));
    if (!QUALIFIED_NAME.test(name)) errs.push(invalidValue(field, key, QUALIFIED_NAME_MSG));
  }
  return errs;
}

function validateLabels(field: string, labels: unknown): FieldError[] {
  if (!isObject(labels)) return [];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    errs.push(...validateQualifiedName(field, k));
    const value = String(v);
    if (value.length > 63) errs.push(invalidValue(field, value, "must be no more than 63 characters"));
    if (!LABEL_VALUE.test(value)) errs.push(invalidValue(field, value, LABEL_VALUE_MSG));
  }
  return errs;
}

// --- decoding ---------------------------------------------------------------------------------------

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/** `/spec/containers/0/image` → `spec.containers[0].image` */
export function fieldPath(instancePath: string): string {
  return instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

function modelErrors(rt: ResourceType, obj: KubeObject): AjvError[] {
  if (!rt.model) return [];
  try {
    new rt.model(obj as never).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (!Array.isArray(errors)) throw e;
    return errors;
  }
}

export interface DecodeResult {
  /** `unknown field "spec.foo"` texts for Warning headers */
  warnings: string[];
  /** schema errors that are 422s rather than decode failures */
  fieldErrors: FieldError[];
}

/**
 * What the API server's decoder does: type mismatches and (under Strict) unknown fields are 400s;
 * under Warn unknown fields become warnings and are dropped.
 */
export function decode(rt: ResourceType, obj: KubeObject, fieldValidation: FieldValidation): DecodeResult {
  const cannot = `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}`;
  const warnings: string[] = [];
  if (fieldValidation !== "Ignore") {
    const unknown = unknownFields(obj, rt.clientModel);
    if (unknown.length > 0) {
      const texts = unknown.map((f) => `unknown field "${f}"`);
      if (fieldValidation === "Strict")
        throw badRequest(`${cannot}: strict decoding error: ${texts.join(", ")}`);
      warnings.push(...texts);
      for (const f of unknown) dropField(obj, f);
    }
  }
  if (rt.resource === "secrets") {
    for (const v of Object.values(isObject(obj.data) ? obj.data : {})) {
      if (typeof v !== "string") continue;
      const at = base64ErrorAt(v);
      if (at >= 0) throw badRequest(`${cannot}: illegal base64 data at input byte ${at}`);
    }
  }
  const fieldErrors: FieldError[] = [];
  for (const e of modelErrors(rt, obj)) {
    const field = fieldPath(e.instancePath);
    if (e.keyword === "type") {
      throw badRequest(
        `${cannot}: json: cannot unmarshal ${jsonType(obj, e.instancePath)} into Go struct field .${field} of type ${goType(String(e.params.type))}`,
      );
    }
    if (e.keyword === "format") {
      if (e.params.format === "quantity") {
        throw badRequest(
          `${cannot}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
        );
      }
      throw badRequest(`${cannot}: ${field}: ${e.message ?? "invalid format"}`);
    }
    if (e.keyword === "required") {
      const child = String(e.params.missingProperty);
      if (child === "apiVersion" || child === "kind") continue;
      fieldErrors.push({ type: "FieldValueRequired", field: field ? `${field}.${child}` : child });
    } else if (e.keyword === "enum") {
      const allowed = (e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ");
      fieldErrors.push({
        type: "FieldValueNotSupported",
        field,
        value: valueAt(obj, e.instancePath),
        detail: `supported values: ${allowed}`,
      });
    } else {
      fieldErrors.push(invalidValue(field, valueAt(obj, e.instancePath), e.message ?? "invalid"));
    }
  }
  return { warnings, fieldErrors };
}

function valueAt(obj: unknown, instancePath: string): unknown {
  let cur: unknown = obj;
  for (const p of instancePath.split("/").slice(1)) {
    cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
  }
  return cur;
}

function jsonType(obj: unknown, instancePath: string): string {
  const v = valueAt(obj, instancePath);
  if (Array.isArray(v)) return "array";
  if (v === null) return "null";
  return typeof v === "object" ? "object" : typeof v;
}

function goType(t: string): string {
  return (
    (
      {
        integer: "int32",
        number: "float64",
        object: "map[string]interface {}",
        array: "[]interface {}",
      } as Record<string, string>
    )[t] ?? t
  );
}

function base64ErrorAt(s: string): number {
  const m = /[^A-Za-z0-9+/=]/.exec(s);
  if (m) return m.index;
  if (s.length % 4 !== 0) return s.length - (s.length % 4);
  return -1;
}

/** remove `spec.containers[0].foo` from obj */
function dropField(obj: unknown, path: string): void {
  const parts = path.match(/[^.[\]]+/g) ?? [];
  let cur: unknown = obj;
  for (const p of parts.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
  }
  const last = parts[parts.length - 1];
  if (isObject(cur) && last !== undefined) delete cur[last];
}

// --- field validation -------------------------------------------------------------------------------

/** a quantity's value, or undefined when it does not parse (the schema reports those) */
function quantityValue(q: unknown): number | undefined {
  if (typeof q !== "string" && typeof q !== "number") return undefined;
  try {
    return parseQuantity(q);
  } catch {
    return undefined;
  }
}

/**
 * apiserver's validateResourceRequirements for cpu, memory and ephemeral-storage: no negative
 * quantity, and a request no larger than its limit (the field is the `requests` map, the value the request).
 */
function validateResources(path: string, resources: unknown): FieldError[] {
  if (!isObject(resources)) return [];
  const errs: FieldError[] = [];
  const limits = isObject(resources.limits) ? resources.limits : {};
  const requests = isObject(resources.requests) ? resources.requests : {};
  for (const [kind, map] of [
    ["limits", limits],
    ["requests", requests],
  ] as const) {
    for (const [name, q] of Object.entries(map)) {
      const v = quantityValue(q);
      if (v !== undefined && v < 0)
        errs.push(invalidValue(`${path}.${kind}[${name}]`, String(q), "must be greater than or equal to 0"));
    }
  }
  for (const [name, q] of Object.entries(requests)) {
    const req = quantityValue(q);
    const lim = quantityValue(limits[name]);
    if (req === undefined || lim === undefined || !["cpu", "memory", "ephemeral-storage"].includes(name))
      continue;
    if (req > lim)
      errs.push(
        invalidValue(
          `${path}.requests`,
          String(q),
          `must be less than or equal to ${name} limit of ${limits[name]}`,
        ),
      );
  }
  return errs;
}

function validateContainers(
  path: string,
  list: unknown,
  names: Set<string>,
  requireNonEmpty: boolean,
): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(list) || list.length === 0) {
    if (requireNonEmpty) errs.push({ type: "FieldValueRequired", field: path });
    return errs;
  }
  list.forEach((c, i) => {
    if (!isObject(c)) return;
    const p = `${path}[${i}]`;
    if (typeof c.name !== "string" || c.name === "")
      errs.push({ type: "FieldValueRequired", field: `${p}.name` });
    else {
      errs.push(...validateDnsLabel(`${p}.name`, c.name));
      if (names.has(c.name)) errs.push({ type: "FieldValueDuplicate", field: `${p}.name`, value: c.name });
      names.add(c.name);
    }
    if (typeof c.image !== "string" || c.image.trim() === "")
      errs.push({ type: "FieldValueRequired", field: `${p}.image` });
    errs.push(...validateResources(`${p}.resources`, c.resources));
    for (const [j, port] of (Array.isArray(c.ports) ? c.ports : []).entries()) {
      if (!isObject(port)) continue;
      for (const key of ["containerPort", "hostPort"]) {
        const v = port[key];
        if (typeof v === "number" && (v < 1 || v > 65535) && !(key === "hostPort" && v === 0))
          errs.push(invalidValue(`${p}.ports[${j}].${key}`, v, "must be between 1 and 65535, inclusive"));
      }
    }
    for (const [j, e] of (Array.isArray(c.env) ? c.env : []).entries()) {
      if (isObject(e) && (typeof e.name !== "string" || e.name === "")) {
        errs.push({ type: "FieldValueRequired", field: `${p}.env[${j}].name` });
      } else if (isObject(e) && typeof e.name === "string" && !/^[ -<>-~]+$/.test(e.name)) {
        // 1.32 (RelaxedEnvironmentVariableValidation): printable ASCII except '='
        errs.push(
          invalidValue(
            `${p}.env[${j}].name`,
            e.name,
            "a valid environment variable name must consist only of printable ASCII characters other than '='",
          ),
        );
      }
    }
  });
  return errs;
}

/**
 * What ValidatePodCreate checks of a pod's containers but not of a template's
 * (validateContainersOnlyForPod), after the rest of the spec: containers, then init containers.
 */
function validateContainersOnlyForPod(spec: unknown): FieldError[] {
  if (!isObject(spec)) return [];
  const errs: FieldError[] = [];
  for (const key of ["containers", "initContainers"]) {
    const list = spec[key];
    if (!Array.isArray(list)) continue;
    list.forEach((c, i) => {
      if (isObject(c) && typeof c.image === "string" && c.image.trim() !== "" && c.image !== c.image.trim())
        errs.push(
          invalidValue(`spec.${key}[${i}].image`, c.image, "must not have leading or trailing whitespace"),
        );
    });
  }
  return errs;
}

export function validatePodSpec(path: string, spec: unknown): FieldError[] {
  if (!isObject(spec)) return [{ type: "FieldValueRequired", field: path }];
  const names = new Set<string>();
  const errs = [
    ...validateContainers(`${path}.initContainers`, spec.initContainers, names, false),
    ...validateContainers(`${path}.containers`, spec.containers, names, true),
  ];
  if (typeof spec.activeDeadlineSeconds === "number" && spec.activeDeadlineSeconds <= 0) {
    errs.push(
      invalidValue(
        `${path}.activeDeadlineSeconds`,
        spec.activeDeadlineSeconds,
        "must be between 1 and 2147483647, inclusive",
      ),
    );
  }
  if (typeof spec.serviceAccountName === "string" && spec.serviceAccountName !== "") {
    errs.push(...validateSubdomain(`${path}.serviceAccountName`, spec.serviceAccountName));
  }
  return errs;
}

function nonNegative(errs: FieldError[], field: string, v: unknown): void {
  if (typeof v === "number" && v < 0) errs.push(invalidValue(field, v, "must be greater than or equal to 0"));
}

function validateJob(obj: KubeObject): FieldError[] {
  const spec = obj.spec;
  if (!isObject(spec)) return [{ type: "FieldValueRequired", field: "spec" }];
  const errs: FieldError[] = [];
  nonNegative(errs, "spec.parallelism", spec.parallelism);
  nonNegative(errs, "spec.completions", spec.completions);
  nonNegative(errs, "spec.backoffLimit", spec.backoffLimit);
  nonNegative(errs, "spec.ttlSecondsAfterFinished", spec.ttlSecondsAfterFinished);
  if (typeof spec.activeDeadlineSeconds === "number" && spec.activeDeadlineSeconds <= 0) {
    errs.push(
      invalidValue("spec.activeDeadlineSeconds", spec.activeDeadlineSeconds, "must be greater than 0"),
    );
  }
  const template = isObject(spec.template) ? spec.template : {};
  const podSpec = isObject(template.spec) ? template.spec : undefined;
  errs.push(...validatePodSpec("spec.template.spec", podSpec));
  const restart = podSpec?.restartPolicy ?? "Always";
  // batch validation: Always (the pod default) or empty is "Required", anything else "Unsupported"
  if (restart === "Always" || restart === "") {
    errs.push({
      type: "FieldValueRequired",
      field: "spec.template.spec.restartPolicy",
      detail: 'valid values: "OnFailure", "Never"',
    });
  } else if (restart !== "Never" && restart !== "OnFailure") {
    errs.push({
      type: "FieldValueNotSupported",
      field: "spec.template.spec.restartPolicy",
      value: restart,
      detail: 'supported values: "OnFailure", "Never"',
    });
  }
  const tmplMeta = isObject(template.metadata) ? template.metadata : {};
  errs.push(...validateLabels("spec.template.metadata.labels", tmplMeta.labels));
  return errs;
}

/** an IntOrString percentage or count: its value against `of`, and whether it is a percentage */
function intOrPercent(v: unknown): { n: number; percent: boolean } | undefined {
  if (typeof v === "number") return { n: v, percent: false };
  if (typeof v === "string") {
    const m = /^(\d+)%$/.exec(v);
    if (m) return { n: Number(m[1]), percent: true };
  }
  return undefined;
}

/** ValidateDeploymentSpec / ValidateReplicaSetSpec (apps/v1): selector, template, replicas, strategy. */
function validateWorkload(rt: ResourceType, obj: KubeObject): FieldError[] {
  const spec = obj.spec;
  if (!isObject(spec)) return [{ type: "FieldValueRequired", field: "spec" }];
  const errs: FieldError[] = [];
  nonNegative(errs, "spec.replicas", spec.replicas);
  nonNegative(errs, "spec.minReadySeconds", spec.minReadySeconds);
  const selector = spec.selector;
  const template = isObject(spec.template) ? spec.template : {};
  const tmplMeta = isObject(template.metadata) ? template.metadata : {};
  if (!isObject(selector)) errs.push({ type: "FieldValueRequired", field: "spec.selector" });
  else {
    const reqs = labelSelectorRequirements(selector as Parameters<typeof labelSelectorRequirements>[0]);
    if (reqs.length === 0) {
      errs.push(invalidValue("spec.selector", selector, `empty selector is invalid for ${rt.singular}`));
    } else if (!matchesLabels(tmplMeta.labels as Record<string, string> | undefined, reqs)) {
      errs.push(
        invalidValue(
          "spec.template.metadata.labels",
          tmplMeta.labels,
          "`selector` does not match template `labels`",
        ),
      );
    }
  }
  errs.push(...validateLabels("spec.template.metadata.labels", tmplMeta.labels));
  const podSpec = isObject(template.spec) ? template.spec : undefined;
  errs.push(...validatePodSpec("spec.template.spec", podSpec));
  const restart = podSpec?.restartPolicy ?? "Always";
  if (restart !== "Always") {
    errs.push({
      type: "FieldValueNotSupported",
      field: "spec.template.spec.restartPolicy",
      value: restart,
      detail: 'supported values: "Always"',
    });
  }
  if (rt.resource === "deployments") {
    const strategy = isObject(spec.strategy) ? spec.strategy : {};
    nonNegative(errs, "spec.revisionHistoryLimit", spec.revisionHistoryLimit);
    if (strategy.type === "Recreate" && strategy.rollingUpdate !== undefined) {
      errs.push({
        type: "FieldValueForbidden",
        field: "spec.strategy.rollingUpdate",
        detail: "may not be specified when strategy `type` is 'Recreate'",
      });
    }
    const ru = isObject(strategy.rollingUpdate) ? strategy.rollingUpdate : undefined;
    if (strategy.type === "RollingUpdate" && ru) {
      const unavailable = intOrPercent(ru.maxUnavailable);
      const surge = intOrPercent(ru.maxSurge);
      for (const [key, v] of [
        ["maxUnavailable", unavailable],
        ["maxSurge", surge],
      ] as const) {
        if (!v)
          errs.push(
            invalidValue(
              `spec.strategy.rollingUpdate.${key}`,
              ru[key],
              "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            ),
          );
      }
      if (unavailable?.percent && unavailable.n > 100)
        errs.push(
          invalidValue(
            "spec.strategy.rollingUpdate.maxUnavailable",
            ru.maxUnavailable,
            "must not be greater than 100%",
          ),
        );
      if (unavailable && surge && unavailable.n === 0 && surge.n === 0)
        errs.push(
          invalidValue(
            "spec.strategy.rollingUpdate.maxUnavailable",
            ru.maxUnavailable,
            "may not be 0 when `maxSurge` is 0",
          ),
        );
    }
  }
  return errs;
}

function validateSecret(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const data = isObject(obj.data) ? obj.data : {};
  for (const k of Object.keys(data))
    if (!CONFIG_KEY.test(k)) errs.push(invalidValue(`data[${k}]`, k, CONFIG_KEY_MSG));
  if (obj.type === "kubernetes.io/tls") {
    for (const key of ["tls.crt", "tls.key"])
      if (data[key] === undefined) errs.push({ type: "FieldValueRequired", field: `data[${key}]` });
  }
  if (obj.type === "kubernetes.io/dockerconfigjson") {
    const raw = data[".dockerconfigjson"];
    if (typeof raw !== "string" || raw === "") {
      errs.push({ type: "FieldValueRequired", field: "data[.dockerconfigjson]" });
    } else {
      try {
        JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
      } catch (e) {
        errs.push(
          invalidValue("data[.dockerconfigjson]", "<secret contents redacted>", (e as Error).message),
        );
      }
    }
  }
  return errs;
}

function validateConfigMap(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  for (const [field, map] of [
    ["data", obj.data],
    ["binaryData", obj.binaryData],
  ] as const) {
    for (const k of Object.keys(isObject(map) ? map : {}))
      if (!CONFIG_KEY.test(k)) errs.push(invalidValue(`${field}[${k}]`, k, CONFIG_KEY_MSG));
  }
  return errs;
}

function validateRoleBinding(obj: KubeObject): FieldError[] {
  const ref = obj.roleRef;
  const errs: FieldError[] = [];
  if (!isObject(ref)) return [{ type: "FieldValueRequired", field: "roleRef" }];
  if (ref.kind !== "Role" && ref.kind !== "ClusterRole") {
    errs.push({
      type: "FieldValueNotSupported",
      field: "roleRef.kind",
      value: ref.kind,
      detail: 'supported values: "Role", "ClusterRole"',
    });
  }
  if (ref.apiGroup !== "rbac.authorization.k8s.io") {
    errs.push({
      type: "FieldValueNotSupported",
      field: "roleRef.apiGroup",
      value: ref.apiGroup,
      detail: 'supported values: "rbac.authorization.k8s.io"',
    });
  }
  return errs;
}

/**
 * Go's `%#v` of a metav1.OwnerReference, as the API server prints it in a message (a set pointer
 * prints as its address there, which no two servers share: here a fixed one).
 */
function goOwnerReference(ref: Record<string, unknown>): string {
  const q = (v: unknown) => JSON.stringify(typeof v === "string" ? v : "");
  const ptr = (v: unknown) => (typeof v === "boolean" ? "(*bool)(0xc000000000)" : "(*bool)(nil)");
  return `v1.OwnerReference{APIVersion:${q(ref.apiVersion)}, Kind:${q(ref.kind)}, Name:${q(ref.name)}, UID:${q(ref.uid)}, Controller:${ptr(ref.controller)}, BlockOwnerDeletion:${ptr(ref.blockOwnerDeletion)}}`;
}

/**
 * apimachinery's ValidateOwnerReferences: each reference's version, kind, name and uid non-empty (the
 * field is `metadata.ownerReferences.<field>`, no index), and at most one with `controller: true`.
 */
function validateOwnerReferences(refs: unknown): FieldError[] {
  if (!Array.isArray(refs)) return [];
  const field = "metadata.ownerReferences";
  const errs: FieldError[] = [];
  let firstController = "";
  for (const ref of refs) {
    if (!isObject(ref)) continue;
    const apiVersion = typeof ref.apiVersion === "string" ? ref.apiVersion : "";
    const parts = apiVersion.split("/");
    // schema.ParseGroupVersion: "v1", "group/version"; more slashes parse to nothing
    const version = parts.length === 1 ? parts[0] : parts.length === 2 ? parts[1] : "";
    const str = (v: unknown) => (typeof v === "string" ? v : "");
    if (!version) errs.push(invalidValue(`${field}.apiVersion`, apiVersion, "version must not be empty"));
    if (!str(ref.kind)) errs.push(invalidValue(`${field}.kind`, str(ref.kind), "kind must not be empty"));
    if (!str(ref.name)) errs.push(invalidValue(`${field}.name`, str(ref.name), "name must not be empty"));
    if (!str(ref.uid)) errs.push(invalidValue(`${field}.uid`, str(ref.uid), "uid must not be empty"));
    if (apiVersion === "v1" && ref.kind === "Event")
      errs.push({
        ...invalidValue(field, ref, "/v1, Kind=Event is disallowed from being an owner"),
        goValue: goOwnerReference(ref),
      });
    if (ref.controller === true) {
      const current = `${str(ref.kind)}/${str(ref.name)}`;
      if (firstController)
        errs.push({
          ...invalidValue(
            field,
            refs,
            `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${current}`,
          ),
          goValue: `[]v1.OwnerReference{${refs.map((r) => goOwnerReference(isObject(r) ? r : {})).join(", ")}}`,
        });
      else firstController = current;
    }
  }
  return errs;
}

/** Field validation run on create and update (422 on any error). */
export function validateObject(rt: ResourceType, obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const name = obj.metadata.name;
  if (!name)
    errs.push({
      type: "FieldValueRequired",
      field: "metadata.name",
      detail: "name or generateName is required",
    });
  else errs.push(...validateName(rt, name));
  if (rt.namespaced && obj.metadata.namespace)
    errs.push(...validateDnsLabel("metadata.namespace", obj.metadata.namespace));
  errs.push(...validateLabels("metadata.labels", obj.metadata.labels));
  for (const k of Object.keys(obj.metadata.annotations ?? {}))
    errs.push(...validateQualifiedName("metadata.annotations", k));
  errs.push(...validateOwnerReferences(obj.metadata.ownerReferences));
  switch (rt.resource) {
    case "pods":
      errs.push(...validatePodSpec("spec", obj.spec), ...validateContainersOnlyForPod(obj.spec));
      break;
    case "jobs":
      errs.push(...validateJob(obj));
      break;
    case "deployments":
    case "replicasets":
      errs.push(...validateWorkload(rt, obj));
      break;
    case "secrets":
      errs.push(...validateSecret(obj));
      break;
    case "configmaps":
      errs.push(...validateConfigMap(obj));
      break;
    case "rolebindings":
      errs.push(...validateRoleBinding(obj));
      break;
  }
  return errs;
}

/** `kubernetes-models` enum/required errors plus `validateObject`, deduplicated by field. */
export function allFieldErrors(rt: ResourceType, obj: KubeObject, fromSchema: FieldError[]): FieldError[] {
  const own = validateObject(rt, obj);
  const seen = new Set(own.map((e) => `${e.field}|${e.type}`));
  return [...fromSchema.filter((e) => !seen.has(`${e.field}|${e.type}`)), ...own];
}

const POD_MUTABLE_MSG =
  "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

function immutable(field: string, value: unknown): FieldError {
  return invalidValue(field, value, "field is immutable");
}

/** Go's `%#v` of an rbac.RoleRef */
function goRoleRef(ref: unknown): string {
  const r = isObject(ref) ? ref : {};
  const q = (v: unknown) => JSON.stringify(typeof v === "string" ? v : "");
  return `rbac.RoleRef{APIGroup:${q(r.apiGroup)}, Kind:${q(r.kind)}, Name:${q(r.name)}}`;
}

/** Immutable-field rules on update (old and new are both full objects). */
export function validateUpdate(rt: ResourceType, next: KubeObject, prev: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  if (rt.resource === "pods") {
    const a = structuredClone(prev.spec ?? {});
    const b = structuredClone(next.spec ?? {});
    for (const s of [a, b]) {
      delete s.activeDeadlineSeconds;
      delete s.tolerations;
      delete s.terminationGracePeriodSeconds;
      for (const c of [...(s.containers ?? []), ...(s.initContainers ?? [])]) if (isObject(c)) delete c.image;
    }
    if (!jsonEqual(a, b)) errs.push({ type: "FieldValueForbidden", field: "spec", detail: POD_MUTABLE_MSG });
    const oldTol: unknown[] = prev.spec?.tolerations ?? [];
    const newTol: unknown[] = next.spec?.tolerations ?? [];
    if (!oldTol.every((t) => newTol.some((u) => jsonEqual(t, u)))) {
      errs.push({
        type: "FieldValueForbidden",
        field: "spec.tolerations",
        detail: "existing toleration can not be modified except its tolerationSeconds",
      });
    }
  }
  if (rt.resource === "jobs") {
    if (!jsonEqual(prev.spec?.template, next.spec?.template))
      errs.push(immutable("spec.template", next.spec?.template));
    if (!jsonEqual(prev.spec?.selector, next.spec?.selector))
      errs.push(immutable("spec.selector", next.spec?.selector));
    if (prev.spec?.completions !== next.spec?.completions)
      errs.push(immutable("spec.completions", next.spec?.completions));
  }
  if (
    (rt.resource === "deployments" || rt.resource === "replicasets") &&
    !jsonEqual(prev.spec?.selector, next.spec?.selector)
  ) {
    errs.push(immutable("spec.selector", next.spec?.selector));
  }
  if (rt.resource === "secrets" || rt.resource === "configmaps") {
    if (
      prev.immutable === true &&
      (!jsonEqual(prev.data, next.data) || !jsonEqual(prev.binaryData, next.binaryData))
    ) {
      errs.push({
        type: "FieldValueForbidden",
        field: "data",
        detail: "field is immutable when `immutable` is set",
      });
    }
    if (rt.resource === "secrets" && (prev.type ?? "Opaque") !== (next.type ?? "Opaque"))
      errs.push(immutable("type", next.type));
  }
  if (rt.resource === "rolebindings" && !jsonEqual(prev.roleRef, next.roleRef)) {
    errs.push({
      type: "FieldValueInvalid",
      field: "roleRef",
      value: next.roleRef,
      goValue: goRoleRef(next.roleRef),
      detail: "cannot change roleRef",
    });
  }
  if (prev.metadata.deletionTimestamp) {
    const added = (next.metadata.finalizers ?? []).filter(
      (f) => !(prev.metadata.finalizers ?? []).includes(f),
    );
    if (added.length > 0) {
      errs.push({
        type: "FieldValueForbidden",
        field: "metadata.finalizers",
        detail: `no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(", ")}}`,
      });
    }
  }
  return errs;
}
