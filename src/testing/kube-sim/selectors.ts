// Label and field selectors: parsing the query-string forms and matching objects, with the operators
// the API server accepts (labels: = == != in notin exists !key; fields: = == !=).
import { badRequest } from "./errors.ts";
import type { KubeObject } from "./objects.ts";

export type LabelRequirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!" };

/** Split on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

export function parseLabelSelector(selector: string | undefined): LabelRequirement[] {
  if (!selector) return [];
  return splitTerms(selector).map((term) => {
    const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3]!
        .split(",")
        .map((v) => v.trim())
        .filter((v) => v !== "");
      return { key: set[1]!, op: set[2] as "in" | "notin", values };
    }
    const cmp = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(term);
    if (cmp) return { key: cmp[1]!, op: cmp[2] === "!=" ? "!=" : "=", value: cmp[3]! };
    const not = /^!\s*([^\s!=]+)$/.exec(term);
    if (not) return { key: not[1]!, op: "!" };
    if (/^[^\s!=(),]+$/.test(term)) return { key: term, op: "exists" };
    throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
  });
}

export function matchesLabels(labels: Record<string, string> | undefined, reqs: LabelRequirement[]): boolean {
  const l = labels ?? {};
  return reqs.every((r): boolean => {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case "=":
        return has && v === r.value;
      case "!=":
        return !has || v !== r.value;
      case "in":
        return has && r.values.includes(v!);
      case "notin":
        return !has || !r.values.includes(v!);
      case "exists":
        return has;
      default:
        return !has;
    }
  });
}

export interface FieldRequirement {
  field: string;
  op: "=" | "!=";
  value: string;
}

const FIELDS: Record<string, readonly string[]> = {
  "": ["metadata.name", "metadata.namespace"],
  pods: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
  events: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
  secrets: ["type"],
  namespaces: ["status.phase"],
  "jobs.batch": ["status.successful"],
};

export function parseFieldSelector(selector: string | undefined, resource: string): FieldRequirement[] {
  if (!selector) return [];
  return splitTerms(selector).map((term) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = m[1]!;
    const supported = [...(FIELDS[""] ?? []), ...(FIELDS[resource] ?? [])];
    if (!supported.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    return { field, op: m[2] === "!=" ? "!=" : "=", value: m[3]! };
  });
}

function fieldValue(obj: KubeObject, field: string): string {
  if (field === "source") return obj.source?.component ?? "";
  if (field === "status.successful") return String(obj.status?.succeeded ?? 0);
  let cur: unknown = obj;
  for (const part of field.split(".")) {
    cur = cur && typeof cur === "object" ? (cur as Record<string, unknown>)[part] : undefined;
  }
  return cur === undefined || cur === null ? "" : String(cur);
}

export function matchesFields(obj: KubeObject, reqs: FieldRequirement[]): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === "="));
}

export interface Selector {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

export function matches(obj: KubeObject, sel: Selector): boolean {
  return matchesLabels(obj.metadata.labels, sel.labels) && matchesFields(obj, sel.fields);
}

/** `matchLabels` + `matchExpressions` of a LabelSelector object, as requirements. */
export function labelSelectorRequirements(sel: {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}): LabelRequirement[] {
  const reqs: LabelRequirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, value]) => ({
    key,
    op: "=",
    value,
  }));
  for (const e of sel.matchExpressions ?? []) {
    if (e.operator === "In") reqs.push({ key: e.key, op: "in", values: e.values ?? [] });
    else if (e.operator === "NotIn") reqs.push({ key: e.key, op: "notin", values: e.values ?? [] });
    else if (e.operator === "Exists") reqs.push({ key: e.key, op: "exists" });
    else reqs.push({ key: e.key, op: "!" });
  }
  return reqs;
}
