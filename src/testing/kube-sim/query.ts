// Query parameters as the API server converts them into its options structs (apimachinery
// `pkg/runtime/conversion.go`): a bool is false only when absent, "0" or "false" in any case — every
// other value, the empty string included, is true; an integer is Go's strconv.ParseInt (base 10, an
// optional sign, nothing else), and anything else is a 400.
import { badRequest } from "./errors.ts";

/** `Convert_Slice_string_To_bool`: the first value; false only for absent, "0" and "false" (any case). */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !(v === "0" || v.toLowerCase() === "false");
}

/** `Convert_Slice_string_To_int64`: undefined when absent; a 400 with Go's error text when not an integer. */
export function queryInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^[+-]?\d+$/.test(v))
    throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = Number(v);
  if (!Number.isSafeInteger(n))
    throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: value out of range`);
  return n;
}
