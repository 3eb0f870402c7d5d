// The query options of a write (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions) checked as
// the API server's handlers check them (apimachinery's ValidateCreateOptions & co.) before the body is
// decoded: a 422 Invalid on `CreateOptions.meta.k8s.io ""`, with the option as its field.
import { type FieldError, goStringSlice, invalid } from "./errors.ts";
import type { FieldValidation } from "./validation.ts";

export type OptionsKind = "CreateOptions" | "UpdateOptions" | "PatchOptions" | "DeleteOptions";

const FIELD_MANAGER_MAX_LENGTH = 128;

/** `dryRun`: only `All` (any number of times) */
export function dryRunErrors(values: string[]): FieldError[] {
  if (values.every((v) => v === "All")) return [];
  return [
    {
      type: "FieldValueNotSupported",
      field: "dryRun",
      value: values,
      goValue: goStringSlice(values),
      detail: 'supported values: "All"',
    },
  ];
}

function fieldManagerErrors(fieldManager: string): FieldError[] {
  const errs: FieldError[] = [];
  if (fieldManager.length > FIELD_MANAGER_MAX_LENGTH)
    errs.push({
      type: "FieldValueTooLong",
      field: "fieldManager",
      detail: `may not be more than ${FIELD_MANAGER_MAX_LENGTH} bytes`,
    });
  let i = 0;
  for (const ch of fieldManager) {
    const cp = ch.codePointAt(0)!;
    // Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space
    if (!/[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch) && ch !== " ") {
      const hex = cp.toString(16).toUpperCase().padStart(4, "0");
      errs.push({
        type: "FieldValueInvalid",
        field: "fieldManager",
        value: fieldManager,
        detail: `invalid character U+${hex} (at position ${i})`,
      });
    }
    i += Buffer.byteLength(ch);
  }
  return errs;
}

/**
 * Validate a write's options from its query; throws the API server's 422. Returns the field
 * validation directive (`Warn` when absent).
 */
export function validateWriteOptions(
  kind: Exclude<OptionsKind, "DeleteOptions">,
  q: URLSearchParams,
  isApply = false,
): FieldValidation {
  const errs: FieldError[] = [];
  const fieldManager = q.get("fieldManager") ?? "";
  if (kind === "PatchOptions") {
    if (isApply && !fieldManager)
      errs.push({ type: "FieldValueRequired", field: "fieldManager", detail: "is required for apply patch" });
    if (!isApply && q.get("force") !== null)
      errs.push({
        type: "FieldValueForbidden",
        field: "force",
        detail: "may not be specified for non-apply patch",
      });
  }
  errs.push(...fieldManagerErrors(fieldManager), ...dryRunErrors(q.getAll("dryRun")));
  const fieldValidation = q.get("fieldValidation") ?? "";
  if (!["", "Ignore", "Strict", "Warn"].includes(fieldValidation))
    errs.push({
      type: "FieldValueNotSupported",
      field: "fieldValidation",
      value: fieldValidation,
      detail: 'supported values: "", "Ignore", "Strict", "Warn"',
    });
  if (errs.length > 0) throw invalid({ kind, group: "meta.k8s.io" }, "", errs);
  return (fieldValidation || "Warn") as FieldValidation;
}
