// The API's error answers: `{ error: { code, message, hint? } }` with an HTTP status, the same
// shape for validation errors, refused transitions, missing tokens and unknown ids.

import { ErrorCode } from "../core/errors.ts";

export const ApiCode = {
  Unauthorized: "FLOTILLA_UNAUTHORIZED",
  Forbidden: "FLOTILLA_FORBIDDEN",
  NotFound: "FLOTILLA_NOT_FOUND",
  Ambiguous: "FLOTILLA_AMBIGUOUS",
  Conflict: "FLOTILLA_CONFLICT",
  Invalid: "FLOTILLA_INVALID",
  ParameterInvalid: ErrorCode.ParameterInvalid,
  Internal: ErrorCode.Internal,
} as const;
export type ApiCode = (typeof ApiCode)[keyof typeof ApiCode];

/** An error the API answers with its status and body. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: ApiCode | string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }

  body(): { error: { code: string; message: string; hint?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

export const notFound = (what: string, hint?: string) =>
  new ApiError(404, ApiCode.NotFound, `${what} not found`, hint);
