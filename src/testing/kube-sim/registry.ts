// The generic REST semantics over the store, as the API server's registry implements them: create
// (generateName, AlreadyExists, namespace checks), get, list, update (optimistic concurrency), patch,
// graceful and finalizer-aware delete with propagation policies, deletecollection, status subresources.

import { admitPodCreate } from "./admission.ts";
import { enforceAdmissionPolicies } from "./admission-policy.ts";
import { defaultForCreate, prepareForStatusUpdate, prepareForUpdate, setDefaults } from "./defaults.ts";
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  type FieldError,
  forbidden,
  invalid,
  notFound,
  STALE_RESOURCE_VERSION,
} from "./errors.ts";
import { clone, generateName, isObject, type KubeObject, timestamp } from "./objects.ts";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, type PatchType } from "./patch.ts";
import { describeRule, type PolicyRule, type RbacAuthorizer, type UserInfo } from "./rbac.ts";
import { apiVersionOf, type ResourceType, resourceById, resourceForKind, resourceId } from "./resources.ts";
import { matches, type Selector } from "./selectors.ts";
import type { Store } from "./store.ts";
import { allFieldErrors, decode, type FieldValidation, validateUpdate } from "./validation.ts";

/** Per-request options that shape a write. */
export interface WriteContext {
  user: UserInfo;
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  /** Warning header texts collected while serving the request */
  warnings?: string[];
}

export type PropagationPolicy = "Background" | "Foreground" | "Orphan";

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: PropagationPolicy;
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface DeleteResult {
  code: number;
  body: KubeObject | Record<string, unknown>;
}

const JOB_ORPHAN_WARNING =
  "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

/** Attach kind/apiVersion, as single-object responses and watch events carry them. */
export function withTypeMeta(rt: ResourceType, obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return { kind: rt.kind, apiVersion: apiVersionOf(rt), ...rest };
}

function withoutTypeMeta(obj: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest as KubeObject;
}

export class Registry {
  constructor(
    private readonly store: Store,
    private readonly authorizer: RbacAuthorizer,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  // --- reads ----------------------------------------------------------------------------------------

  get(rt: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const obj = this.store.get(resourceId(rt), namespace, name);
    if (!obj) throw notFound(rt, name);
    return withTypeMeta(rt, obj);
  }

  list(
    rt: ResourceType,
    namespace: string | undefined,
    selector: Selector,
    limit?: number,
    cont?: string,
  ): KubeObject {
    let items = this.store.list(resourceId(rt), namespace).filter((o) => matches(o, selector));
    const metadata: Record<string, unknown> = { resourceVersion: String(this.store.resourceVersion) };
    if (cont) {
      let after: string;
      try {
        after = JSON.parse(Buffer.from(cont, "base64url").toString("utf8")).after;
      } catch {
        throw badRequest(`continue key is not valid: illegal base64 data at input byte 0`);
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ""}/${o.metadata.name}` > after);
    }
    if (limit && limit > 0 && items.length > limit) {
      const last = items[limit - 1]!;
      metadata.continue = Buffer.from(
        JSON.stringify({ after: `${last.metadata.namespace ?? ""}/${last.metadata.name}` }),
      ).toString("base64url");
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    return {
      kind: `${rt.kind}List`,
      apiVersion: apiVersionOf(rt),
      metadata,
      items: items.map(withoutTypeMeta),
    } as KubeObject;
  }

  // --- create ---------------------------------------------------------------------------------------

  create(rt: ResourceType, namespace: string | undefined, body: unknown, ctx: WriteContext): KubeObject {
    const { obj, schemaErrors } = this.decodeBody(rt, body, namespace, ctx);
    if (rt.namespaced) {
      this.requireActiveNamespace(rt, namespace!, obj.metadata.name ?? "");
      obj.metadata.namespace = namespace;
    } else delete obj.metadata.namespace;
    this.checkEscalation(rt, namespace, obj, ctx.user);
    if (rt.resource === "pods") admitPodCreate(this.store, rt, obj, namespace!);
    defaultForCreate(rt, obj, timestamp(this.clock()));
    const id = resourceId(rt);
    if (!obj.metadata.name && obj.metadata.generateName) {
      const prefix = obj.metadata.generateName;
      for (let attempt = 0; ; attempt++) {
        obj.metadata.name = generateName(prefix);
        if (!this.store.has(id, namespace, obj.metadata.name)) break;
        if (attempt === 7) {
          const e = alreadyExists(rt, obj.metadata.name);
          throw new ApiError(
            409,
            "AlreadyExists",
            `${e.message}, the server was not able to generate a unique name for the object`,
            {
              ...e.status.details,
              retryAfterSeconds: 1,
            },
          );
        }
      }
    }
    this.validate(rt, obj, schemaErrors);
    if (this.store.has(id, namespace, obj.metadata.name!)) throw alreadyExists(rt, obj.metadata.name!);
    enforceAdmissionPolicies(this.store, {
      rt,
      operation: "CREATE",
      ...(namespace !== undefined && rt.namespaced ? { namespace } : {}),
      object: obj,
      user: ctx.user,
      dryRun: ctx.dryRun ?? false,
      ...(ctx.warnings ? { warnings: ctx.warnings } : {}),
    });
    if (ctx.dryRun) return withTypeMeta(rt, obj);
    return withTypeMeta(rt, this.store.create(id, obj));
  }

  // --- update ---------------------------------------------------------------------------------------

  update(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    ctx: WriteContext,
    subresource?: string,
  ): KubeObject {
    const prev = this.store.get(resourceId(rt), namespace, name);
    if (!prev) throw notFound(rt, name);
    const { obj: next, schemaErrors } = this.decodeBody(rt, body, namespace, ctx);
    if (next.metadata.name !== undefined && next.metadata.name !== name) {
      throw badRequest(
        `the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`,
      );
    }
    const rv = next.metadata.resourceVersion;
    if (rv !== undefined && rv !== "" && rv !== prev.metadata.resourceVersion)
      throw conflict(rt, name, STALE_RESOURCE_VERSION);
    return this.write(rt, prev, next, schemaErrors, ctx, subresource);
  }

  patch(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    ctx: WriteContext & { fieldManager?: string },
    subresource?: string,
  ): { code: number; object: KubeObject } {
    const prev = this.store.get(resourceId(rt), namespace, name);
    if (type === "apply") {
      if (!ctx.fieldManager) {
        throw invalid({ ...rt, kind: "PatchOptions", group: "meta.k8s.io" } as ResourceType, "", [
          { type: "FieldValueRequired", field: "fieldManager", detail: "is required for apply patch" },
        ]);
      }
      if (!prev) return { code: 201, object: this.create(rt, namespace, patch, ctx) };
    }
    if (!prev) throw notFound(rt, name);
    const base = withTypeMeta(rt, prev);
    let patched: unknown;
    if (type === "json") patched = applyJsonPatch(base, patch);
    else if (type === "merge") patched = applyMergePatch(base, patch);
    else patched = applyStrategicMergePatch(base, patch, rt.clientModel);
    if (!isObject(patched) || !isObject(patched.metadata))
      throw badRequest("patch produced an invalid object");
    const { obj: next, schemaErrors } = this.decodeBody(rt, patched, namespace, ctx);
    const rv = isObject(patch) && isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    if (typeof rv === "string" && rv !== prev.metadata.resourceVersion)
      throw conflict(rt, name, STALE_RESOURCE_VERSION);
    next.metadata.resourceVersion = prev.metadata.resourceVersion;
    return { code: 200, object: this.write(rt, prev, next, schemaErrors, ctx, subresource) };
  }

  private write(
    rt: ResourceType,
    prev: KubeObject,
    next: KubeObject,
    schemaErrors: FieldError[],
    ctx: WriteContext,
    subresource?: string,
  ): KubeObject {
    let obj: KubeObject;
    if (subresource === "status") obj = prepareForStatusUpdate(next, prev);
    else {
      prepareForUpdate(rt, next, prev);
      obj = next;
    }
    obj.metadata.namespace = prev.metadata.namespace;
    obj.metadata.name = prev.metadata.name;
    obj.metadata.resourceVersion = prev.metadata.resourceVersion;
    if (subresource !== "status") this.checkEscalation(rt, prev.metadata.namespace, obj, ctx.user);
    // ValidateXUpdate: the update rules (immutable fields) first, then the new object's own
    const errs = [
      ...validateUpdate(rt, obj, prev),
      ...allFieldErrors(rt, obj, subresource === "status" ? [] : schemaErrors),
    ];
    if (errs.length > 0) throw invalid(rt, prev.metadata.name!, errs);
    enforceAdmissionPolicies(this.store, {
      rt,
      operation: "UPDATE",
      ...(subresource ? { subresource } : {}),
      ...(prev.metadata.namespace !== undefined ? { namespace: prev.metadata.namespace } : {}),
      object: obj,
      oldObject: prev,
      user: ctx.user,
      dryRun: ctx.dryRun ?? false,
      ...(ctx.warnings ? { warnings: ctx.warnings } : {}),
    });
    if (ctx.dryRun) return withTypeMeta(rt, obj);
    return withTypeMeta(rt, this.commit(rt, obj));
  }

  /** Store an update and finish a pending deletion whose finalizers are gone. */
  private commit(rt: ResourceType, obj: KubeObject): KubeObject {
    const id = resourceId(rt);
    const stored = this.store.update(id, obj);
    if (this.deletionComplete(stored))
      return this.store.remove(id, stored.metadata.namespace, stored.metadata.name!) ?? stored;
    return stored;
  }

  private deletionComplete(obj: KubeObject): boolean {
    return (
      obj.metadata.deletionTimestamp !== undefined &&
      (obj.metadata.finalizers ?? []).length === 0 &&
      (obj.metadata.deletionGracePeriodSeconds ?? 0) === 0
    );
  }

  /** A controller's write: no authorization, no escalation check, status changes allowed. */
  updateInternal(rt: ResourceType, obj: KubeObject): KubeObject | undefined {
    const id = resourceId(rt);
    const prev = this.store.get(id, obj.metadata.namespace, obj.metadata.name!);
    if (!prev) return undefined;
    const next = clone(obj);
    next.metadata.uid = prev.metadata.uid;
    if (
      next.metadata.resourceVersion !== undefined &&
      next.metadata.resourceVersion !== prev.metadata.resourceVersion
    ) {
      throw conflict(rt, obj.metadata.name!, STALE_RESOURCE_VERSION);
    }
    return this.commit(rt, next);
  }

  /** Read-modify-write by a controller, retried on conflicts. Returns undefined if the object is gone. */
  mutate(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    fn: (obj: KubeObject) => void,
  ): KubeObject | undefined {
    const obj = this.store.get(resourceId(rt), namespace, name);
    if (!obj) return undefined;
    fn(obj);
    return this.updateInternal(rt, obj);
  }

  // --- delete ---------------------------------------------------------------------------------------

  delete(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions,
    ctx: WriteContext,
  ): DeleteResult {
    const id = resourceId(rt);
    const obj = this.store.get(id, namespace, name);
    if (!obj) throw notFound(rt, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== obj.metadata.uid) {
      // rest.BeforeDelete: the conflict names the Kind, not the resource
      throw conflict(
        { ...rt, resource: rt.kind },
        name,
        `the UID in the precondition (${pre.uid}) does not match the UID in record (${obj.metadata.uid}). The object might have been deleted and then recreated`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
      throw conflict(
        { ...rt, resource: rt.kind },
        name,
        `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${obj.metadata.resourceVersion}). The object might have been modified`,
      );
    }
    if (rt.resource === "namespaces") return this.deleteNamespace(rt, obj, ctx);

    let policy = options.propagationPolicy;
    if (!policy && options.orphanDependents !== undefined)
      policy = options.orphanDependents ? "Orphan" : "Background";
    if (!policy && rt.resource === "jobs") {
      policy = "Orphan";
      ctx.warnings?.push(JOB_ORPHAN_WARNING);
    }
    policy ??= "Background";

    const now = this.clock();
    const meta = obj.metadata;
    const finalizers = [...(meta.finalizers ?? [])];
    if (policy === "Foreground" && !finalizers.includes("foregroundDeletion"))
      finalizers.push("foregroundDeletion");
    if (policy === "Orphan" && !finalizers.includes("orphan")) finalizers.push("orphan");

    let grace = 0;
    if (rt.resource === "pods") {
      grace = options.gracePeriodSeconds ?? obj.spec?.terminationGracePeriodSeconds ?? 30;
      const phase = obj.status?.phase;
      if (!obj.spec?.nodeName || phase === "Succeeded" || phase === "Failed") grace = 0;
      if (grace < 0) grace = 1;
    }

    if (meta.deletionTimestamp) {
      // already deleting: a shorter grace period may shorten the wait; finalizers keep it visible
      if (rt.resource === "pods" && grace < (meta.deletionGracePeriodSeconds ?? 0)) {
        meta.deletionGracePeriodSeconds = grace;
        meta.deletionTimestamp = timestamp(new Date(now.getTime() + grace * 1000));
      }
      if (ctx.dryRun) return { code: 200, body: withTypeMeta(rt, obj) };
      const out = this.commit(rt, obj);
      return { code: 200, body: withTypeMeta(rt, out) };
    }

    const delayed = grace > 0 || finalizers.length > 0;
    if (!delayed) {
      if (ctx.dryRun) return this.deletedResponse(rt, obj);
      const last = this.store.remove(id, namespace, name)!;
      return this.deletedResponse(rt, last);
    }
    meta.deletionTimestamp = timestamp(new Date(now.getTime() + grace * 1000));
    meta.deletionGracePeriodSeconds = grace;
    meta.finalizers = finalizers;
    // the store's markAsDeleting: an object that keeps a generation gets a new one
    if (typeof meta.generation === "number" && meta.generation > 0) meta.generation += 1;
    if (ctx.dryRun) return { code: 200, body: withTypeMeta(rt, obj) };
    const stored = this.store.update(id, obj);
    return { code: 200, body: withTypeMeta(rt, stored) };
  }

  private deletedResponse(rt: ResourceType, obj: KubeObject): DeleteResult {
    if (rt.deleteReturnsObject) return { code: 200, body: withTypeMeta(rt, obj) };
    return {
      code: 200,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: {
          name: obj.metadata.name,
          ...(rt.group ? { group: rt.group } : {}),
          kind: rt.resource,
          uid: obj.metadata.uid,
        },
      },
    };
  }

  private deleteNamespace(rt: ResourceType, obj: KubeObject, ctx: WriteContext): DeleteResult {
    if (!obj.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = timestamp(this.clock());
      obj.status = { ...(obj.status ?? {}), phase: "Terminating" };
      if (!ctx.dryRun) return { code: 200, body: withTypeMeta(rt, this.store.update(resourceId(rt), obj)) };
    }
    return { code: 200, body: withTypeMeta(rt, obj) };
  }

  deleteCollection(
    rt: ResourceType,
    namespace: string | undefined,
    selector: Selector,
    options: DeleteOptions,
    ctx: WriteContext,
  ): KubeObject {
    const items: KubeObject[] = [];
    for (const obj of this.store.list(resourceId(rt), namespace).filter((o) => matches(o, selector))) {
      try {
        const r = this.delete(rt, obj.metadata.namespace, obj.metadata.name!, options, ctx);
        items.push(withoutTypeMeta(r.body.kind === "Status" ? obj : (r.body as KubeObject)));
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return {
      kind: `${rt.kind}List`,
      apiVersion: apiVersionOf(rt),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    } as KubeObject;
  }

  /** The kubelet's final delete of a pod whose containers have stopped. */
  finalizePodDeletion(namespace: string, name: string): void {
    const rt = resourceById("pods");
    const pod = this.store.get("pods", namespace, name);
    if (!pod) return;
    pod.metadata.deletionGracePeriodSeconds = 0;
    pod.metadata.deletionTimestamp ??= timestamp(this.clock());
    this.commit(rt, pod);
  }

  // --- helpers --------------------------------------------------------------------------------------

  private decodeBody(
    rt: ResourceType,
    body: unknown,
    namespace: string | undefined,
    ctx: WriteContext,
  ): { obj: KubeObject; schemaErrors: FieldError[] } {
    if (!isObject(body))
      throw badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: json: cannot unmarshal into Go value of type ${rt.kind}`,
      );
    const obj = clone(body) as KubeObject;
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(rt)) {
      throw badRequest(
        `the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(rt)})`,
      );
    }
    if (
      obj.kind !== undefined &&
      obj.kind !== rt.kind &&
      resourceForKind(apiVersionOf(rt), String(obj.kind))
    ) {
      // another kind of the same group version decodes, then fails to convert
      const internal = rt.group ? rt.group.split(".")[0] : "core";
      throw badRequest(
        `${obj.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: converting (${rt.version}.${obj.kind}) to (${internal}.${rt.kind}): unknown conversion`,
      );
    }
    if (obj.kind !== undefined && obj.kind !== rt.kind) {
      throw badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: the kind in the data (${obj.kind}) does not match the expected kind (${rt.kind})`,
      );
    }
    obj.apiVersion = apiVersionOf(rt);
    obj.kind = rt.kind;
    if (!isObject(obj.metadata)) obj.metadata = {};
    setDefaults(rt, obj);
    if (rt.namespaced && obj.metadata.namespace && namespace && obj.metadata.namespace !== namespace) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    const { warnings, fieldErrors } = decode(rt, obj, ctx.fieldValidation ?? "Warn");
    ctx.warnings?.push(...warnings);
    return { obj, schemaErrors: fieldErrors };
  }

  private validate(rt: ResourceType, obj: KubeObject, schemaErrors: FieldError[]): void {
    const errs = allFieldErrors(rt, obj, schemaErrors);
    if (errs.length > 0) throw invalid(rt, obj.metadata.name ?? "", errs);
  }

  private requireActiveNamespace(rt: ResourceType, namespace: string, name: string): void {
    const ns = this.store.get("namespaces", undefined, namespace);
    if (!ns) throw notFound({ resource: "namespaces", group: "" }, namespace);
    if (ns.metadata.deletionTimestamp || ns.status?.phase === "Terminating") {
      throw forbidden(
        rt,
        name || undefined,
        `unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  /** RBAC escalation prevention for Roles and RoleBindings written by non-admins. */
  private checkEscalation(
    rt: ResourceType,
    namespace: string | undefined,
    obj: KubeObject,
    user: UserInfo,
  ): void {
    if (rt.group !== "rbac.authorization.k8s.io" || user.groups.includes("system:masters") || !namespace)
      return;
    let rules: PolicyRule[] = [];
    if (rt.resource === "roles") rules = obj.rules ?? [];
    else {
      const ref = obj.roleRef ?? {};
      const bindAllowed = this.authorizer.authorize(user, {
        verb: "bind",
        group: "rbac.authorization.k8s.io",
        resource: ref.kind === "ClusterRole" ? "clusterroles" : "roles",
        name: ref.name,
        namespace,
      });
      if (bindAllowed.allowed) return;
      rules = this.store.get("roles.rbac.authorization.k8s.io", namespace, ref.name)?.rules ?? [];
    }
    const escalateAllowed = this.authorizer.authorize(user, {
      verb: "escalate",
      group: "rbac.authorization.k8s.io",
      resource: "roles",
      namespace,
      name: obj.metadata.name,
    });
    if (rt.resource === "roles" && escalateAllowed.allowed) return;
    const missing = this.authorizer.missingRules(user, namespace, rules);
    if (missing.length === 0) return;
    throw forbidden(
      rt,
      obj.metadata.name ?? undefined,
      `user "${user.name}" (groups=${JSON.stringify(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${missing.map(describeRule).join("\n")}`,
    );
  }
}
