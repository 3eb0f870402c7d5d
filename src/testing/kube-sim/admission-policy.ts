// ValidatingAdmissionPolicy enforcement (admissionregistration.k8s.io/v1), as the API server's
// ValidatingAdmissionPolicy plugin does it on every create and update once the object is defaulted,
// named and valid: each binding's policy whose matchConstraints (resourceRules, excludeResourceRules,
// namespaceSelector, objectSelector) and the binding's matchResources match the request, and whose
// matchConditions all hold, has its validations evaluated (CEL, by @marcbachmann/cel-js) over
// `object`, `oldObject`, `request`, `namespaceObject` and `variables`; a false validation under a Deny
// binding refuses the request with the API server's message and reason (Invalid by default, 422), a
// Warn binding adds a Warning header. An expression that cannot be evaluated follows the policy's
// failurePolicy (Fail by default). Not supported: paramKind/paramRef (a policy that needs params
// refuses every matching request under Fail, as a missing param would), `authorizer`,
// auditAnnotations, type checking of expressions at write time.
import { evaluate } from "@marcbachmann/cel-js";
import { ApiError } from "./errors.ts";
import { isObject, type KubeObject } from "./objects.ts";
import type { UserInfo } from "./rbac.ts";
import { apiVersionOf, type ResourceType } from "./resources.ts";
import { labelSelectorRequirements, matchesLabels } from "./selectors.ts";
import type { Store } from "./store.ts";

export const POLICIES = "validatingadmissionpolicies.admissionregistration.k8s.io";
export const BINDINGS = "validatingadmissionpolicybindings.admissionregistration.k8s.io";

// biome-ignore lint/suspicious/noExplicitAny: policies and objects are read field by field
type Loose = Record<string, any>;

export interface AdmissionRequest {
  rt: ResourceType;
  operation: "CREATE" | "UPDATE";
  subresource?: string;
  namespace?: string;
  object: KubeObject;
  oldObject?: KubeObject;
  user: UserInfo;
  dryRun: boolean;
  /** Warning header texts of the request (Warn bindings add theirs) */
  warnings?: string[];
}

const REASON_CODES: Record<string, number> = {
  Unauthorized: 401,
  Forbidden: 403,
  Invalid: 422,
  RequestEntityTooLarge: 413,
};

/** CEL sees Kubernetes integers as int (JavaScript numbers that are whole become BigInt) */
function celValue(v: unknown): unknown {
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (Array.isArray(v)) return v.map(celValue);
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, celValue(x)]));
  return v;
}

function ruleMatches(rule: Loose, req: AdmissionRequest): boolean {
  const has = (list: unknown, v: string) => Array.isArray(list) && (list.includes("*") || list.includes(v));
  if (!has(rule.apiGroups, req.rt.group) || !has(rule.apiVersions, req.rt.version)) return false;
  if (!has(rule.operations, req.operation)) return false;
  const scope = rule.scope ?? "*";
  if (scope === "Namespaced" && !req.rt.namespaced) return false;
  if (scope === "Cluster" && req.rt.namespaced) return false;
  const resources: string[] = Array.isArray(rule.resources) ? rule.resources : [];
  const target = req.subresource ? `${req.rt.resource}/${req.subresource}` : req.rt.resource;
  return resources.some((r) => {
    if (r === target || r === "*/*") return true;
    if (r === "*") return !req.subresource;
    if (r.endsWith("/*")) return req.subresource !== undefined && r.slice(0, -2) === req.rt.resource;
    if (r.startsWith("*/")) return req.subresource !== undefined && r.slice(2) === req.subresource;
    return false;
  });
}

function selectorMatches(selector: unknown, labels: Record<string, string> | undefined): boolean {
  if (!isObject(selector)) return true;
  return matchesLabels(labels ?? {}, labelSelectorRequirements(selector as never));
}

/** matchConstraints or a binding's matchResources */
function resourcesMatch(
  match: unknown,
  req: AdmissionRequest,
  namespaceObject: KubeObject | undefined,
): boolean {
  if (!isObject(match)) return true;
  const m = match as Loose;
  if (Array.isArray(m.resourceRules) && !m.resourceRules.some((r: Loose) => ruleMatches(r, req)))
    return false;
  if (Array.isArray(m.excludeResourceRules) && m.excludeResourceRules.some((r: Loose) => ruleMatches(r, req)))
    return false;
  // the namespace selector applies to namespaced objects (and to Namespaces themselves)
  const nsLabels =
    req.rt.resource === "namespaces" ? req.object.metadata.labels : namespaceObject?.metadata.labels;
  if (
    (req.rt.namespaced || req.rt.resource === "namespaces") &&
    !selectorMatches(m.namespaceSelector, nsLabels)
  )
    return false;
  const objectLabels = req.object.metadata.labels ?? req.oldObject?.metadata.labels;
  return selectorMatches(m.objectSelector, objectLabels);
}

class EvaluationError extends Error {}

function run(expression: string, context: Record<string, unknown>): unknown {
  try {
    return evaluate(expression, context);
  } catch (error) {
    throw new EvaluationError(`expression '${expression}' resulted in error: ${(error as Error).message}`);
  }
}

function typed(rt: ResourceType, obj: KubeObject | undefined): unknown {
  if (!obj) return null;
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return celValue({ apiVersion: apiVersionOf(rt), kind: rt.kind, ...rest });
}

function requestContext(req: AdmissionRequest): Record<string, unknown> {
  const name = req.object.metadata.name ?? "";
  return {
    uid: "",
    kind: { group: req.rt.group, version: req.rt.version, kind: req.rt.kind },
    resource: { group: req.rt.group, version: req.rt.version, resource: req.rt.resource },
    requestKind: { group: req.rt.group, version: req.rt.version, kind: req.rt.kind },
    requestResource: { group: req.rt.group, version: req.rt.version, resource: req.rt.resource },
    ...(req.subresource ? { subResource: req.subresource } : {}),
    name,
    namespace: req.namespace ?? "",
    operation: req.operation,
    userInfo: { username: req.user.name, groups: req.user.groups },
    dryRun: req.dryRun,
  };
}

/** Refuse `req` (throws the API server's error) if a Deny-bound policy's validation fails. */
export function enforceAdmissionPolicies(store: Store, req: AdmissionRequest): void {
  const bindings = store.list(BINDINGS);
  if (bindings.length === 0) return;
  const namespaceObject = req.namespace ? store.get("namespaces", undefined, req.namespace) : undefined;
  for (const binding of bindings) {
    const policy = store.get(POLICIES, undefined, String(binding.spec?.policyName ?? ""));
    if (!policy) continue;
    const spec = (policy.spec ?? {}) as Loose;
    if (!resourcesMatch(spec.matchConstraints, req, namespaceObject)) continue;
    if (!resourcesMatch(binding.spec?.matchResources, req, namespaceObject)) continue;
    const actions: string[] = binding.spec?.validationActions ?? [];
    const failClosed = (spec.failurePolicy ?? "Fail") === "Fail";
    const context: Record<string, unknown> = {
      object: typed(req.rt, req.object),
      oldObject: typed(req.rt, req.oldObject),
      request: celValue(requestContext(req)),
      namespaceObject: namespaceObject ? celValue(namespaceObject) : null,
      params: null,
    };
    let decision: { message: string; reason: string } | undefined;
    try {
      if (spec.paramKind) throw new EvaluationError("kube-sim does not support paramKind/paramRef");
      const variables: Record<string, unknown> = {};
      context.variables = variables;
      for (const v of (spec.variables ?? []) as Loose[])
        variables[v.name] = run(String(v.expression), context);
      const conditions = (spec.matchConditions ?? []) as Loose[];
      if (!conditions.every((c) => run(String(c.expression), context) === true)) continue;
      for (const v of (spec.validations ?? []) as Loose[]) {
        if (run(String(v.expression), context) === true) continue;
        let message =
          typeof v.message === "string" && v.message ? v.message : `failed expression: ${v.expression}`;
        if (typeof v.messageExpression === "string") {
          try {
            const m = run(v.messageExpression, context);
            if (typeof m === "string" && m.trim() !== "" && !m.includes("\n")) message = m;
          } catch {
            // the static message stands (the API server logs the messageExpression's error)
          }
        }
        decision = { message, reason: typeof v.reason === "string" ? v.reason : "Invalid" };
        break;
      }
    } catch (error) {
      if (!(error instanceof EvaluationError) || !failClosed) continue;
      decision = { message: error.message, reason: "Invalid" };
    }
    if (!decision) continue;
    const text = `ValidatingAdmissionPolicy '${policy.metadata.name}' with binding '${binding.metadata.name}' denied request: ${decision.message}`;
    if (actions.includes("Warn"))
      req.warnings?.push(
        `Validation failed for ValidatingAdmissionPolicy '${policy.metadata.name}' with binding '${binding.metadata.name}': ${decision.message}`,
      );
    if (!actions.includes("Deny")) continue;
    const name = req.object.metadata.name ?? "";
    const qualified = req.rt.group ? `${req.rt.resource}.${req.rt.group}` : req.rt.resource;
    throw new ApiError(
      REASON_CODES[decision.reason] ?? 422,
      decision.reason,
      `${qualified}${name ? ` "${name}"` : ""} is forbidden: ${text}`,
      {
        ...(name ? { name } : {}),
        ...(req.rt.group ? { group: req.rt.group } : {}),
        kind: req.rt.resource,
        causes: [{ message: text }],
      } as never,
    );
  }
}
