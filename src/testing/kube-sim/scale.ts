// The `scale` subresource of Deployments and ReplicaSets (autoscaling/v1 Scale), as the apps registry
// serves it (pkg/registry/apps/{deployment,replicaset}/storage ScaleREST @ v1.32): GET reads the
// Scale out of the object (name, namespace, uid, resourceVersion and creationTimestamp of the
// Deployment; spec.replicas; status.replicas and the selector as a string); PUT and PATCH (JSON,
// merge, strategic, apply) change the Scale, validate it (ValidateScale: replicas >= 0) and write
// only `spec.replicas` back to the object, its resourceVersion the precondition, so a stale Scale is
// the object's 409 Conflict; the answer is the new Scale. Authorised as `deployments/scale` and
// `replicasets/scale` by the caller (server.ts), as RBAC sees them.
import { Scale } from "kubernetes-models/autoscaling/v1/Scale";
import { badRequest, type FieldError, invalid } from "./errors.ts";
import { clone, isObject, type KubeObject } from "./objects.ts";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, type PatchType } from "./patch.ts";
import type { Registry, WriteContext } from "./registry.ts";
import type { ResourceType } from "./resources.ts";
import { decode } from "./validation.ts";

/** What validation and errors need of the Scale kind (it is served only as a subresource). */
export const SCALE: ResourceType = {
  group: "autoscaling",
  version: "v1",
  resource: "scale",
  singular: "scale",
  kind: "Scale",
  namespaced: true,
  shortNames: [],
  verbs: ["get", "patch", "update"],
  subresources: [],
  nameRule: "subdomain",
  deleteReturnsObject: false,
  clientModel: "V1Scale",
  model: Scale,
};

interface SelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by key, values sorted */
export function selectorString(sel: SelectorObject | undefined): string {
  const reqs: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(sel?.matchLabels ?? {}))
    reqs.push({ key, text: `${key}=${value}` });
  for (const e of sel?.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(",");
    const text =
      e.operator === "In"
        ? `${e.key} in (${values})`
        : e.operator === "NotIn"
          ? `${e.key} notin (${values})`
          : e.operator === "Exists"
            ? e.key
            : `!${e.key}`;
    reqs.push({ key: e.key, text });
  }
  return reqs
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((r) => r.text)
    .join(",");
}

/** The Scale of a Deployment or ReplicaSet (scaleFromDeployment / scaleFromReplicaSet). */
export function scaleOf(obj: KubeObject): KubeObject {
  const replicas: number = obj.spec?.replicas ?? 0;
  const selector = selectorString(obj.spec?.selector);
  const { name, namespace, uid, resourceVersion, creationTimestamp } = obj.metadata;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    // ScaleSpec.replicas is omitempty; ScaleStatus.replicas is not
    spec: replicas !== 0 ? { replicas } : {},
    status: { replicas: obj.status?.replicas ?? 0, ...(selector ? { selector } : {}) },
  } as KubeObject;
}

/** Decode a Scale body as the API server does: type meta, unknown fields, the schema. */
function decodeScale(body: unknown, ctx: WriteContext): KubeObject {
  if (!isObject(body))
    throw badRequest(
      'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal into Go value of type Scale',
    );
  const scale = clone(body) as KubeObject;
  if (scale.apiVersion !== undefined && scale.apiVersion !== "autoscaling/v1") {
    throw badRequest(
      `the API version in the data (${scale.apiVersion}) does not match the expected API version (autoscaling/v1)`,
    );
  }
  if (scale.kind !== undefined && scale.kind !== "Scale") {
    throw badRequest(
      `Scale in version "v1" cannot be handled as a Scale: the kind in the data (${scale.kind}) does not match the expected kind (Scale)`,
    );
  }
  scale.apiVersion = "autoscaling/v1";
  scale.kind = "Scale";
  if (!isObject(scale.metadata)) scale.metadata = {};
  const { warnings, fieldErrors } = decode(SCALE, scale, ctx.fieldValidation ?? "Warn");
  ctx.warnings?.push(...warnings);
  if (fieldErrors.length > 0) throw invalid(SCALE, String(scale.metadata.name ?? ""), fieldErrors);
  return scale;
}

/** autoscaling's ValidateScale */
function validateScale(scale: KubeObject): FieldError[] {
  const replicas = scale.spec?.replicas;
  if (typeof replicas === "number" && replicas < 0)
    return [
      {
        type: "FieldValueInvalid",
        field: "spec.replicas",
        value: replicas,
        detail: "must be greater than or equal to 0",
      },
    ];
  return [];
}

/** Writes `scale`'s replicas to the object (its resourceVersion the precondition); the new Scale. */
function write(
  registry: Registry,
  rt: ResourceType,
  namespace: string,
  name: string,
  scale: KubeObject,
  ctx: WriteContext,
): KubeObject {
  if (scale.metadata.name !== undefined && scale.metadata.name !== name) {
    throw badRequest(
      `the name of the object (${scale.metadata.name}) does not match the name on the URL (${name})`,
    );
  }
  const errs = validateScale(scale);
  if (errs.length > 0) throw invalid(SCALE, name, errs);
  const obj = registry.get(rt, namespace, name);
  obj.spec = { ...(obj.spec ?? {}), replicas: scale.spec?.replicas ?? 0 };
  obj.metadata.resourceVersion = scale.metadata.resourceVersion ?? "";
  const { managedFields: _m, ...metadata } = obj.metadata;
  const updated = registry.update(
    rt,
    namespace,
    name,
    { ...obj, metadata },
    { ...ctx, fieldValidation: "Ignore" },
  );
  return scaleOf(updated);
}

/** GET …/{deployments,replicasets}/NAME/scale */
export function getScale(registry: Registry, rt: ResourceType, namespace: string, name: string): KubeObject {
  return scaleOf(registry.get(rt, namespace, name));
}

/** PUT …/scale */
export function updateScale(
  registry: Registry,
  rt: ResourceType,
  namespace: string,
  name: string,
  body: unknown,
  ctx: WriteContext,
): KubeObject {
  return write(registry, rt, namespace, name, decodeScale(body, ctx), ctx);
}

/** PATCH …/scale: the patch applies to the Scale, never to the object behind it. */
export function patchScale(
  registry: Registry,
  rt: ResourceType,
  namespace: string,
  name: string,
  type: PatchType,
  patch: unknown,
  ctx: WriteContext & { fieldManager?: string },
): KubeObject {
  const current = getScale(registry, rt, namespace, name);
  if (type === "apply" && !ctx.fieldManager) {
    throw invalid({ ...SCALE, kind: "PatchOptions", group: "meta.k8s.io" }, "", [
      { type: "FieldValueRequired", field: "fieldManager", detail: "is required for apply patch" },
    ]);
  }
  // the patched Scale keeps the current resourceVersion unless the patch sets one, which is then the
  // precondition (a stale one is a 409), as for any patch
  const base = clone(current);
  let patched: unknown;
  if (type === "json") patched = applyJsonPatch(base, patch);
  else if (type === "strategic") patched = applyStrategicMergePatch(base, patch, SCALE.clientModel);
  else patched = applyMergePatch(base, patch);
  const scale = decodeScale(patched, ctx);
  return write(registry, rt, namespace, name, scale, ctx);
}
