// References recorded while a flow is built: to a task run's result, to a parameter, and the
// `unmapped` wrapper. They carry the result type so the builder API stays typed end to end.

import { ErrorCode, FlotillaError } from "./errors.ts";
import type { FlowNode } from "./graph.ts";

/** A reference to the result of a task run in a flow (what calling a task in `Flow.build` returns). */
export class TaskRef<T> {
  declare readonly __type: T;
  readonly node: FlowNode;
  constructor(node: FlowNode) {
    this.node = node;
  }
  /** The task run's slug in its flow. */
  get slug(): string {
    return this.node.slug;
  }
  /** Add upstream edges without passing data: this task run waits for `refs` too. */
  after(...refs: TaskRef<unknown>[]): this {
    for (const r of refs) this.node.flow.addOrderEdge(r.node, this.node);
    return this;
  }
}

/** A reference to a flow parameter, resolved when the flow runs. */
export class ParameterRef<T> {
  declare readonly __type: T;
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

/**
 * A schema a parameter's value is checked with: any Standard Schema (https://standardschema.dev),
 * e.g. a zod 4 schema (`z.number().int().min(1)`). Only its synchronous `validate` is used.
 */
export interface ParameterSchema<T = unknown> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): StandardResult<T> | Promise<StandardResult<T>>;
    readonly types?: { readonly input: unknown; readonly output: T } | undefined;
  };
}
type StandardResult<T> =
  | { readonly value: T; readonly issues?: undefined }
  | { readonly issues: readonly { readonly message: string; readonly path?: readonly unknown[] }[] };

/** True for a Standard Schema (a zod schema, for one). */
export function isParameterSchema(value: unknown): value is ParameterSchema {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { "~standard"?: { validate?: unknown } })["~standard"]?.validate === "function"
  );
}

/** The JSON type a value has, as parameter errors name it. */
export function valueType(value: unknown): "string" | "number" | "boolean" | "array" | "object" | "null" {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const t = typeof value;
  return t === "string" || t === "number" || t === "boolean" ? t : "object";
}

export interface ParameterOptions<T> {
  /** Value used when the run does not give one; a parameter without a default is required. */
  default?: T;
  /** Check given values with this schema (a zod schema, or any Standard Schema); @default the default's type */
  schema?: ParameterSchema<T>;
  /** Require the parameter even if it has a default. @default true when there is no default */
  required?: boolean;
  /** What the parameter is for (shown by `flotilla describe`). */
  description?: string;
}

/** A flow parameter: a named input given at run time (`--param name=value`, `flow.run({ parameters })`). */
export class Parameter<T = unknown> extends ParameterRef<T> {
  readonly default: T | undefined;
  readonly hasDefault: boolean;
  readonly required: boolean;
  readonly description: string | undefined;
  readonly schema: ParameterSchema<T> | undefined;
  constructor(name: string, options: ParameterOptions<T> = {}) {
    super(name);
    this.hasDefault = "default" in options;
    this.default = options.default;
    this.required = options.required ?? !this.hasDefault;
    this.description = options.description;
    this.schema = options.schema;
  }

  /**
   * The type given values must have, when the parameter declares one: its schema's, else its
   * default's JSON type (`null` and `undefined` defaults declare none).
   */
  get expectedType(): string | undefined {
    if (this.schema) return "a value its schema accepts";
    if (!this.hasDefault || this.default === null) return undefined;
    return valueType(this.default);
  }

  /**
   * Check a value given for this parameter; returns it (a schema's output when there is one).
   * Throws FLOTILLA_PARAMETER_INVALID naming the flow, the parameter, the type and the value.
   */
  check(flowName: string, value: unknown): T {
    const shown = JSON.stringify(value) ?? String(value);
    if (this.schema) {
      const result = this.schema["~standard"].validate(value);
      if (result instanceof Promise) {
        throw new FlotillaError(
          ErrorCode.ParameterInvalid,
          `flow "${flowName}": parameter "${this.name}" has an asynchronous schema; parameters are checked synchronously`,
        );
      }
      if (result.issues) {
        const why = result.issues
          .map((i) => `${i.path?.length ? `${i.path.join(".")}: ` : ""}${i.message}`)
          .join("; ");
        throw new FlotillaError(
          ErrorCode.ParameterInvalid,
          `flow "${flowName}": parameter "${this.name}" got ${valueType(value)} ${shown}: ${why}`,
          { usage: true },
        );
      }
      return result.value;
    }
    const expected = this.expectedType;
    if (expected !== undefined && valueType(value) !== expected) {
      throw new FlotillaError(
        ErrorCode.ParameterInvalid,
        `flow "${flowName}": parameter "${this.name}" expects a ${expected} (its default is ${JSON.stringify(this.default)}), got ${valueType(value)} ${shown}`,
        { usage: true },
      );
    }
    return value as T;
  }

  /**
   * A value typed on the command line (`--param name=text`), read as this parameter's type: text
   * for a string parameter, JSON for the others, and either for an untyped one.
   */
  fromText(text: string): unknown {
    if (this.expectedType === "string") return jsonString(text) ?? text;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return text;
    }
    // a schema that takes text gets the text when it does not take the JSON reading
    if (this.schema && !this.#accepts(parsed) && this.#accepts(text)) return text;
    return parsed;
  }

  #accepts(value: unknown): boolean {
    const result = this.schema?.["~standard"].validate(value);
    return result !== undefined && !(result instanceof Promise) && !result.issues;
  }
}

/** The string a JSON string literal (`"a b"`) spells, or undefined when `text` is not one. */
function jsonString(text: string): string | undefined {
  if (text.length < 2 || !text.startsWith('"') || !text.endsWith('"')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A value passed whole to every run of `task.map`. */
export class Unmapped<T> {
  readonly value: Input<T>;
  constructor(value: Input<T>) {
    this.value = value;
  }
}

/** A task input: a value, or a reference to a task result or a parameter of that type. */
export type Input<T> = T | TaskRef<T> | ParameterRef<T>;
