// The one way Flotilla creates and deletes its Kubernetes objects: the body goes raw (client-node
// would re-serialise it through its models and drop fields it does not know) with
// `fieldValidation=Strict` (the API server rejects what it does not know instead of dropping it);
// a 409 on create means the object is already there (names are deterministic, so a retried create
// is the same object), a 404 on delete means it is already gone; a Job is deleted with
// `propagationPolicy: Background` (the API default for Jobs orphans their pods). Every other
// failure is translated into an error naming the verb, the resource, the object and the fix.

import type { KubeClients } from "./client.ts";
import { rawBody } from "./client.ts";
import { apiCall, isAlreadyExists, isNotFound } from "./errors.ts";

/** The kinds Flotilla creates, with their resource names as RBAC and messages spell them. */
const RESOURCES = { Secret: "secrets", Job: "jobs.batch", Pod: "pods" } as const;

/** A kind Flotilla creates. */
export type ObjectKind = keyof typeof RESOURCES;

/** An object of one of those kinds, as a plan holds it. */
export interface KubeObject {
  kind?: string | undefined;
  metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined;
}

/** Which object: kind, name, namespace. */
export interface ObjectRef {
  kind: ObjectKind;
  name: string;
  namespace: string;
}

function refOf(obj: KubeObject): ObjectRef {
  const kind = obj.kind;
  if (kind !== "Secret" && kind !== "Job" && kind !== "Pod") {
    throw new TypeError(`createObject: unsupported kind ${String(kind)}`);
  }
  return { kind, name: obj.metadata?.name ?? "", namespace: obj.metadata?.namespace ?? "default" };
}

/**
 * Create `obj` as is. Resolves to the created object, or `undefined` when it was already there
 * (409 AlreadyExists).
 */
export async function createObject<T>(
  clients: Pick<KubeClients, "core" | "batch">,
  obj: KubeObject,
): Promise<T | undefined> {
  const { kind, name, namespace } = refOf(obj);
  const call = { verb: "create", resource: RESOURCES[kind], namespace, name };
  const params = { namespace, body: obj as never, fieldValidation: "Strict" };
  try {
    return (await apiCall(call, (): Promise<unknown> => {
      switch (kind) {
        case "Secret":
          return clients.core.createNamespacedSecret(params, rawBody(obj));
        case "Job":
          return clients.batch.createNamespacedJob(params, rawBody(obj));
        case "Pod":
          return clients.core.createNamespacedPod(params, rawBody(obj));
      }
    })) as T;
  } catch (error) {
    if (isAlreadyExists((error as { cause?: unknown }).cause)) return undefined;
    throw error;
  }
}

/** Delete an object; already gone (404) is fine. A Job takes its pods with it (Background). */
export async function deleteObject(
  clients: Pick<KubeClients, "core" | "batch">,
  ref: ObjectRef,
  options: { gracePeriodSeconds?: number } = {},
): Promise<void> {
  const { kind, name, namespace } = ref;
  const call = { verb: "delete", resource: RESOURCES[kind], namespace, name };
  const grace =
    options.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: options.gracePeriodSeconds } : {};
  try {
    await apiCall(call, (): Promise<unknown> => {
      switch (kind) {
        case "Secret":
          return clients.core.deleteNamespacedSecret({ name, namespace, ...grace });
        case "Job":
          return clients.batch.deleteNamespacedJob({
            name,
            namespace,
            propagationPolicy: "Background",
            ...grace,
          });
        case "Pod":
          return clients.core.deleteNamespacedPod({ name, namespace, ...grace });
      }
    });
  } catch (error) {
    if (isNotFound((error as { cause?: unknown }).cause)) return;
    throw error;
  }
}
