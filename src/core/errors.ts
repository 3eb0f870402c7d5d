// Typed errors with stable codes. Every error a user can hit says what is wrong, where, and how
// to fix it; errors that cross a process boundary (worker → runner, runner pod → launcher) travel
// as plain `SerializedError` data (code, message, hint) and stay data: states carry them as is.

export const ErrorCode = {
  FlowInvalid: "FLOTILLA_FLOW_INVALID",
  FlowCycle: "FLOTILLA_FLOW_CYCLE",
  DuplicateSlug: "FLOTILLA_DUPLICATE_SLUG",
  BindInvalid: "FLOTILLA_BIND_INVALID",
  ParameterUnknown: "FLOTILLA_PARAMETER_UNKNOWN",
  ParameterMissing: "FLOTILLA_PARAMETER_MISSING",
  ParameterInvalid: "FLOTILLA_PARAMETER_INVALID",
  ModuleNotFound: "FLOTILLA_MODULE_NOT_FOUND",
  ModuleLoad: "FLOTILLA_MODULE_LOAD",
  ModuleRunsOnImport: "FLOTILLA_MODULE_RUNS_ON_IMPORT",
  NoFlow: "FLOTILLA_NO_FLOW",
  AmbiguousFlow: "FLOTILLA_AMBIGUOUS_FLOW",
  Usage: "FLOTILLA_USAGE",
  OptionsInvalid: "FLOTILLA_OPTIONS_INVALID",
  SpecInvalid: "FLOTILLA_SPEC_INVALID",
  SecretMissing: "FLOTILLA_SECRET_MISSING",
  SecretInvalid: "FLOTILLA_SECRET_INVALID",
  TaskTimeout: "FLOTILLA_TASK_TIMEOUT",
  Serialization: "FLOTILLA_SERIALIZATION",
  Broker: "FLOTILLA_BROKER",
  Fingerprint: "FLOTILLA_FINGERPRINT_MISMATCH",
  Kubernetes: "FLOTILLA_KUBERNETES",
  WorkerStart: "FLOTILLA_WORKER_START",
  Storage: "FLOTILLA_STORAGE",
  Server: "FLOTILLA_SERVER",
  Internal: "FLOTILLA_INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FlotillaErrorOptions {
  /** How to fix it, in one sentence. */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
  /** True for errors of how the CLI was called (exit code 2). */
  usage?: boolean;
}

/** An error a user can act on: stable `code`, message naming what and where, optional `hint`. */
export class FlotillaError extends Error {
  override readonly name: string = "FlotillaError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly usage: boolean;

  constructor(code: ErrorCode, message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.usage = options.usage ?? false;
  }
}

/** An error as plain data, safe to send between processes and to store in a state. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  hint?: string;
  cause?: SerializedError;
}

export function serializeError(err: unknown, depth = 0): SerializedError {
  if (err instanceof Error) {
    const out: SerializedError = { name: err.name, message: err.message };
    if (err.stack !== undefined) out.stack = err.stack;
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string") out.code = code;
    const hint = (err as { hint?: unknown }).hint;
    if (typeof hint === "string") out.hint = hint;
    if (err.cause !== undefined && depth < 8) out.cause = serializeError(err.cause, depth + 1);
    return out;
  }
  return { name: "Error", message: typeof err === "string" ? err : safeString(err) };
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
