// Kubernetes API errors translated into FlotillaErrors a user can act on. client-node 1.4's
// ApiException carries the response body as a JSON *string* (a V1Status); a 401 has no body.
// Every translated error names the verb, the resource, the namespace and the object, and for 403
// the missing permission and `flotilla rbac` as the fix. Messages pass through the scrubber when
// printed; this file never puts object bodies (which may hold secrets) into a message.

import { ErrorCode, FlotillaError } from "../core/errors.ts";

/** What was being done when the API answered with an error. */
export interface ApiCall {
  /** The RBAC verb: create, get, list, watch, delete, patch. */
  verb: string;
  /** The resource, with subresource and group when not core: `pods`, `pods/log`, `jobs.batch`. */
  resource: string;
  namespace?: string | undefined;
  name?: string | undefined;
}

/** The status fields of a failed API call. */
export interface ApiStatus {
  code: number | undefined;
  reason: string | undefined;
  message: string | undefined;
}

/** Read code, reason and message from whatever client-node threw. */
function apiStatus(error: unknown): ApiStatus {
  if (typeof error !== "object" || error === null)
    return { code: undefined, reason: undefined, message: undefined };
  const e = error as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const code =
    typeof e.code === "number" ? e.code : typeof e.statusCode === "number" ? e.statusCode : undefined;
  let body: unknown = e.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      body = { message: body };
    }
  }
  const b = (typeof body === "object" && body !== null ? body : {}) as {
    reason?: unknown;
    message?: unknown;
  };
  return {
    code,
    reason: typeof b.reason === "string" ? b.reason : undefined,
    message:
      typeof b.message === "string"
        ? b.message
        : code === undefined && typeof e.message === "string"
          ? e.message
          : undefined,
  };
}

/** True when `error` is the API's 404. */
export function isNotFound(error: unknown): boolean {
  return apiStatus(error).code === 404;
}

/** True when `error` is the API's 409 AlreadyExists (a repeated create: treat as "already there"). */
export function isAlreadyExists(error: unknown): boolean {
  return apiStatus(error).code === 409;
}

function describeCall(call: ApiCall): string {
  const target = call.name ? `${call.resource} "${call.name}"` : call.resource;
  return `${call.verb} ${target}${call.namespace ? ` in namespace "${call.namespace}"` : ""}`;
}

/** Turn a failed API call into a FLOTILLA_KUBERNETES error naming the call and the fix. */
export function translateApiError(error: unknown, call: ApiCall): FlotillaError {
  if (error instanceof FlotillaError) return error;
  const s = apiStatus(error);
  const what = describeCall(call);
  const detail = s.message ? `: ${s.message}` : "";
  switch (s.code) {
    case 401:
      return new FlotillaError(
        ErrorCode.Kubernetes,
        `Kubernetes API: ${what} was refused: not authenticated (401)`,
        {
          hint: "check the kubeconfig's credentials (--kubeconfig, --context); the token may have expired",
          cause: error,
        },
      );
    case 403:
      return new FlotillaError(
        ErrorCode.Kubernetes,
        `Kubernetes API: ${what} is forbidden (403): missing permission "${call.verb}" on "${call.resource}"${call.namespace ? ` in namespace "${call.namespace}"` : ""}${detail}`,
        {
          hint: `grant it: \`flotilla rbac${call.namespace ? ` -n ${call.namespace}` : ""} | kubectl apply -f -\`, then check with \`flotilla doctor\``,
          cause: error,
        },
      );
    case 404:
      return new FlotillaError(
        ErrorCode.Kubernetes,
        `Kubernetes API: ${what} failed: not found (404)${detail}`,
        {
          hint: call.namespace
            ? `check that namespace "${call.namespace}" exists and the name is right`
            : undefined,
          cause: error,
        },
      );
    case 409:
      return new FlotillaError(
        ErrorCode.Kubernetes,
        `Kubernetes API: ${what} failed: conflict (409)${detail}`,
        { cause: error },
      );
    case 422:
      return new FlotillaError(
        ErrorCode.Kubernetes,
        `Kubernetes API: ${what} was rejected as invalid (422)${detail}`,
        {
          hint: "the object does not pass the API server's validation; fix the field it names (custom spec files are the usual source)",
          cause: error,
        },
      );
    case undefined:
      return new FlotillaError(
        ErrorCode.Kubernetes,
        `Kubernetes API: ${what} failed: ${s.message ?? String(error)}`,
        {
          hint: "check that the API server is reachable (kubectl cluster-info with the same kubeconfig and context)",
          cause: error,
        },
      );
    default:
      return new FlotillaError(
        ErrorCode.Kubernetes,
        `Kubernetes API: ${what} failed (${s.code}${s.reason ? ` ${s.reason}` : ""})${detail}`,
        {
          cause: error,
        },
      );
  }
}

/** Run `fn`; translate whatever the API throws. */
export async function apiCall<T>(call: ApiCall, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw translateApiError(error, call);
  }
}
