// Kubernetes `Status` error bodies, built exactly as apimachinery's `pkg/api/errors` does
// (field order kind, apiVersion, metadata, status, message, reason, details, code).
import type { ResourceType } from "./resources.ts";

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** An API failure carrying the Status body the server answers with. */
export class ApiError extends Error {
  readonly status: Status;
  /** answered as the router's plain-text `404 page not found`, not as a Status */
  plainText = false;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.status = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    };
  }
  get code(): number {
    return this.status.code;
  }
}

/** `pods`, `jobs.batch`, `roles.rbac.authorization.k8s.io`. */
export function qualifiedResource(rt: Pick<ResourceType, "resource" | "group">): string {
  return rt.group ? `${rt.resource}.${rt.group}` : rt.resource;
}

function groupKind(rt: Pick<ResourceType, "resource" | "group">, name?: string): StatusDetails {
  return {
    ...(name !== undefined ? { name } : {}),
    ...(rt.group ? { group: rt.group } : {}),
    kind: rt.resource,
  };
}

export function notFound(rt: Pick<ResourceType, "resource" | "group">, name: string): ApiError {
  return new ApiError(404, "NotFound", `${qualifiedResource(rt)} "${name}" not found`, groupKind(rt, name));
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    "AlreadyExists",
    `${qualifiedResource(rt)} "${name}" already exists`,
    groupKind(rt, name),
  );
}

export function conflict(rt: ResourceType, name: string, detail: string): ApiError {
  return new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": ${detail}`,
    groupKind(rt, name),
  );
}

export const STALE_RESOURCE_VERSION =
  "the object has been modified; please apply your changes to the latest version and try again";

export function badRequest(message: string): ApiError {
  return new ApiError(400, "BadRequest", message);
}

export function forbidden(
  rt: Pick<ResourceType, "resource" | "group">,
  name: string | undefined,
  reason: string,
): ApiError {
  const subject = name ? `${qualifiedResource(rt)} "${name}"` : qualifiedResource(rt);
  return new ApiError(
    403,
    "Forbidden",
    `${subject} is forbidden: ${reason}`,
    groupKind(rt, name || undefined),
  );
}

export function unauthorized(): ApiError {
  const e = new ApiError(401, "Unauthorized", "Unauthorized");
  return e;
}

/** a path the API server does not serve at all (an unknown group or version): plain text */
export function pageNotFound(): ApiError {
  const e = new ApiError(404, "NotFound", "404 page not found");
  e.plainText = true;
  return e;
}

/** an unknown resource of a served group version */
export function resourceNotFound(): ApiError {
  return new ApiError(404, "NotFound", "the server could not find the requested resource", {});
}

/** 405, as the API server's router answers it (with empty details) */
export function methodNotAllowed(): ApiError {
  return new ApiError(
    405,
    "MethodNotAllowed",
    "the server does not allow this method on the requested resource",
    {},
  );
}

/** 415 for a PATCH whose Content-Type is no patch type: the router's answer, before any handler */
export function unsupportedPatchType(): ApiError {
  return new ApiError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {});
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`,
  );
}

export function gone(message: string): ApiError {
  return new ApiError(410, "Expired", message);
}

export function internalError(message: string): ApiError {
  return new ApiError(500, "InternalError", `Internal error occurred: ${message}`, {
    causes: [{ reason: "UnexpectedServerResponse", message }],
  });
}

/** A field error, as apimachinery's `field.Error` renders it. */
export interface FieldError {
  type:
    | "FieldValueRequired"
    | "FieldValueInvalid"
    | "FieldValueNotSupported"
    | "FieldValueDuplicate"
    | "FieldValueForbidden"
    | "FieldValueTooLong"
    | "FieldValueTypeInvalid"
    | "FieldValueNotFound";
  field: string;
  /** The bad value (omitted for Required/Forbidden). */
  value?: unknown;
  /** the value as Go's `%#v` prints it, when that is not its JSON (`[]string{"Some"}`) */
  goValue?: string;
  detail?: string;
}

/** Go's `%#v` of a []string: `[]string{"a", "b"}` */
export function goStringSlice(values: string[]): string {
  return `[]string{${values.map((v) => JSON.stringify(v)).join(", ")}}`;
}

function quoteValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || value === undefined) return "null";
  // a map[string]string prints as Go's %#v does: keys sorted, `"k":"v"` joined by ", "
  if (
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  )
    return `map[string]string{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify((value as Record<string, string>)[k])}`)
      .join(", ")}}`;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `field.Error.ErrorBody()` */
export function fieldErrorBody(e: FieldError): string {
  const shown = (v: unknown) => e.goValue ?? quoteValue(v);
  switch (e.type) {
    case "FieldValueRequired":
      return e.detail ? `Required value: ${e.detail}` : "Required value";
    case "FieldValueForbidden":
      return e.detail ? `Forbidden: ${e.detail}` : "Forbidden";
    case "FieldValueTooLong":
      return e.detail ? `Too long: ${e.detail}` : "Too long";
    case "FieldValueNotSupported":
      return `Unsupported value: ${shown(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
    case "FieldValueDuplicate":
      return `Duplicate value: ${shown(e.value)}`;
    case "FieldValueNotFound":
      return `Not found: ${shown(e.value)}`;
    default:
      return `Invalid value: ${shown(e.value)}${e.detail ? `: ${e.detail}` : ""}`;
  }
}

/**
 * 422 Invalid (apimachinery's NewInvalid); `details.kind` is the Kind here, not the resource, and the
 * message names the group-qualified kind: `Pod "p"`, `Job.batch "j"`, `CreateOptions.meta.k8s.io ""`.
 */
export function invalid(
  rt: Pick<ResourceType, "kind" | "group">,
  name: string,
  errors: FieldError[],
): ApiError {
  const items = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const summary = items.length === 1 ? items[0] : `[${items.join(", ")}]`;
  const qualifiedKind = rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
  return new ApiError(422, "Invalid", `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    ...(name ? { name } : {}),
    ...(rt.group ? { group: rt.group } : {}),
    kind: rt.kind,
    causes: errors.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
  });
}
