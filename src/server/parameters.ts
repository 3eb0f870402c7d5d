// Parameters of a deployment's run checked against the flow's parameter schema (the `describe`
// list of names, required flags and defaults): an unknown name or a missing required value is a
// 400 naming the deployment, the parameter and the known names.

import { ApiCode, ApiError } from "./api-error.ts";

export interface ParameterSpec {
  name: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

/**
 * Throws ApiError 400 when `given` names a parameter the flow does not have, or (unless
 * `partial`, as for a deployment's own defaults) leaves a required one without a value.
 */
export function checkParameters(
  deployment: string,
  schema: readonly ParameterSpec[],
  given: Record<string, unknown>,
  options: { partial?: boolean } = {},
): void {
  const known = new Map(schema.map((p) => [p.name, p]));
  const names = [...known.keys()];
  for (const key of Object.keys(given)) {
    if (!known.has(key)) {
      throw new ApiError(
        400,
        ApiCode.ParameterInvalid,
        `deployment ${deployment}: the flow has no parameter "${key}"`,
        names.length ? `its parameters are: ${names.join(", ")}` : "the flow takes no parameters",
      );
    }
  }
  if (options.partial) return;
  for (const p of schema) {
    if (p.required && !("default" in p) && !Object.hasOwn(given, p.name)) {
      throw new ApiError(
        400,
        ApiCode.ParameterInvalid,
        `deployment ${deployment}: the parameter "${p.name}" is required`,
        `give it with --param ${p.name}=VALUE`,
      );
    }
  }
}
