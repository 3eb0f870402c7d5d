// Tasks: a TypeScript function plus how to run it (retries, delay, timeout, trigger). A task is
// callable: inside `Flow.build`, calling it records a task run in the flow and returns a typed
// reference to its result; `task.map(...)` records a fan-out. Outside a builder, the imperative API
// (`setUpstream`, `bind`) wires it into a flow, as in the seed.

import { ErrorCode, FlotillaError } from "./errors.ts";
import { currentBuilder, type Flow, type FlowNode } from "./flow.ts";
import { type Input, ParameterRef, TaskRef, Unmapped } from "./refs.ts";

export const Trigger = {
  /** Run when every upstream task run succeeded (Success, Skipped, or a Mapped with all children successful). */
  allSuccessful: "allSuccessful",
  /** Run when every upstream task run finished, whatever its state. */
  allFinished: "allFinished",
  /** Run when at least one upstream task run failed (e.g. a clean-up or alert task). */
  anyFailed: "anyFailed",
  /** Run when at least one upstream task run succeeded. */
  anySuccessful: "anySuccessful",
} as const;
export type Trigger = (typeof Trigger)[keyof typeof Trigger];

export interface TaskOptions {
  /** Unique name of the task in a flow; defaults to the task's name. */
  slug?: string;
  /** How many times a failed run is tried again. @default 0 */
  retries?: number;
  /** Wait between attempts, in milliseconds. @default 0 */
  retryDelayMs?: number;
  /** An attempt running longer than this ends as TimedOut (and is retried if retries remain). @default none */
  timeoutMs?: number;
  /** When the task runs, given its upstream states. @default "allSuccessful" */
  trigger?: Trigger;
  /** Skip this task when an upstream task was skipped. @default true */
  skipOnUpstreamSkip?: boolean;
  /**
   * Names of the function's parameters, for `bind`. Read from the function's source when omitted;
   * give them when the function takes destructured or rest parameters.
   */
  params?: readonly string[];
}

/** Compiled, validated task options. */
export interface ResolvedTaskOptions {
  retries: number;
  retryDelayMs: number;
  timeoutMs: number | undefined;
  trigger: Trigger;
  skipOnUpstreamSkip: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: task functions take any arguments
export type TaskFn = (...args: any[]) => unknown;

/** The arguments a task accepts when called in a builder: each a value or a reference to one. */
export type TaskInputs<A extends readonly unknown[]> = { [K in keyof A]: Input<A[K]> };
/** The arguments of `task.map`: arrays to map over, or `unmapped(x)` constants. */
export type MapInputs<A extends readonly unknown[]> = {
  [K in keyof A]: Input<readonly A[K][]> | Unmapped<A[K]>;
};

export interface TaskMethods<A extends readonly unknown[], R> {
  readonly taskName: string;
  readonly slug: string;
  readonly fn: (...args: A) => R;
  readonly options: ResolvedTaskOptions;
  /** Parameter names of `fn`, as far as they can be known. */
  readonly paramNames: readonly (string | undefined)[];
  /** Fan out: one task run per element of the array inputs; `unmapped(x)` inputs are passed whole. */
  map(...args: MapInputs<A>): TaskRef<Awaited<R>[]>;
  /** Imperative API: make `upstream` run before this task in `flow`. */
  setUpstream(upstream: AnyTask | TaskRef<unknown>, options: { flow: Flow }): void;
  /** Imperative API: make this task run before `downstream` in `flow`. */
  setDownstream(downstream: AnyTask | TaskRef<unknown>, options: { flow: Flow }): void;
  /**
   * Imperative API: bind the function's parameters by name to tasks, parameters or constants in
   * `flow`; with `mapped: true`, every task or parameter bound is mapped over.
   */
  bind(
    bindings: Record<string, Input<unknown> | Unmapped<unknown>>,
    options: { flow: Flow; mapped?: boolean },
  ): void;
}

export type Task<A extends readonly unknown[] = readonly unknown[], R = unknown> = ((
  ...args: TaskInputs<A>
) => TaskRef<Awaited<R>>) &
  TaskMethods<A, R>;

// biome-ignore lint/suspicious/noExplicitAny: any task, whatever its signature
export type AnyTask = Task<any, any>;

const TASK = Symbol.for("flotilla.task");

export function isTask(value: unknown): value is AnyTask {
  return typeof value === "function" && (value as unknown as Record<symbol, unknown>)[TASK] === true;
}

/**
 * Define a task.
 *
 * ```ts
 * const double = task("double", async (x: number) => x * 2, { retries: 2, retryDelayMs: 1000 });
 * ```
 */
export function task<A extends unknown[], R>(
  name: string,
  fn: (...args: A) => R,
  options: TaskOptions = {},
): Task<A, R> {
  if (typeof name !== "string" || name.trim() === "") {
    throw new FlotillaError(ErrorCode.FlowInvalid, "task(name, fn): the name must be a non-empty string");
  }
  if (typeof fn !== "function") {
    throw new FlotillaError(ErrorCode.FlowInvalid, `task "${name}": the second argument must be a function`);
  }
  const resolved = resolveTaskOptions(name, options);
  const paramNames = options.params ?? readParamNames(fn);

  const self = ((...args: unknown[]) => {
    const builder = currentBuilder(`task "${name}"`);
    return builder.call(
      self,
      args.map((a) => toBinding(a, false)),
    );
  }) as unknown as Task<A, R>;

  const methods: TaskMethods<A, R> & { [TASK]: true } = {
    [TASK]: true,
    taskName: name,
    slug: options.slug ?? slugify(name),
    fn,
    options: resolved,
    paramNames,
    map(...args) {
      const builder = currentBuilder(`${name}.map`);
      return builder.call(
        self,
        args.map((a) => toBinding(a, true)),
      ) as unknown as TaskRef<Awaited<R>[]>;
    },
    setUpstream(upstream, { flow }) {
      flow.addEdge(upstream, self);
    },
    setDownstream(downstream, { flow }) {
      flow.addEdge(self, downstream);
    },
    bind(bindings, { flow, mapped = false }) {
      const node = flow.addTask(self);
      for (const [key, value] of Object.entries(bindings)) {
        const index = paramNames.indexOf(key);
        if (index < 0) {
          const takes = paramNames.filter((p) => p !== undefined).join(", ");
          throw new FlotillaError(
            ErrorCode.BindInvalid,
            `${name}.bind: the task function has no parameter "${key}"; it takes (${takes})`,
            {
              hint: "bind only the function's parameter names, or give them with task(name, fn, { params: [...] })",
            },
          );
        }
        flow.bindInput(node, index, toBinding(value, mapped), key);
      }
    },
  };
  Object.assign(self, methods);
  Object.defineProperty(self, "name", { value: name });
  return self;
}

/** Pass a value whole to every run of `task.map`, instead of mapping over it. */
export function unmapped<T>(value: Input<T>): Unmapped<T> {
  return new Unmapped(value);
}

/** What a task input is bound to, positionally. */
export type Binding =
  | { kind: "task"; node: FlowNode; mapped: boolean }
  | { kind: "param"; name: string; mapped: boolean }
  | { kind: "const"; value: unknown; mapped: boolean };

/** A binding as given by the user: a bare task (imperative API) is resolved to its node by the flow. */
export type BindingInput = Binding | { kind: "taskDef"; task: AnyTask; mapped: boolean };

function toBinding(value: unknown, mapped: boolean): BindingInput {
  if (value instanceof Unmapped) return toBinding(value.value, false) as BindingInput;
  if (value instanceof TaskRef) return { kind: "task", node: value.node, mapped };
  if (value instanceof ParameterRef) return { kind: "param", name: value.name, mapped };
  if (isTask(value)) return { kind: "taskDef", task: value, mapped };
  return { kind: "const", value, mapped };
}

function resolveTaskOptions(name: string, o: TaskOptions): ResolvedTaskOptions {
  const where = `task "${name}"`;
  const nonNegInt = (field: string, v: number | undefined) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new FlotillaError(
        ErrorCode.FlowInvalid,
        `${where}: ${field} must be a whole number >= 0, got ${v}`,
      );
    }
  };
  nonNegInt("retries", o.retries);
  nonNegInt("retryDelayMs", o.retryDelayMs);
  if (o.timeoutMs !== undefined && (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0)) {
    throw new FlotillaError(ErrorCode.FlowInvalid, `${where}: timeoutMs must be > 0, got ${o.timeoutMs}`);
  }
  const trigger = o.trigger ?? "allSuccessful";
  if (!Object.values(Trigger).includes(trigger)) {
    throw new FlotillaError(
      ErrorCode.FlowInvalid,
      `${where}: unknown trigger "${String(trigger)}"; use one of ${Object.values(Trigger).join(", ")}`,
    );
  }
  if (o.slug !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.slug)) {
    throw new FlotillaError(
      ErrorCode.FlowInvalid,
      `${where}: slug "${o.slug}" may hold only letters, digits, ".", "_" and "-", and start with a letter or digit`,
    );
  }
  return {
    retries: o.retries ?? 0,
    retryDelayMs: o.retryDelayMs ?? 0,
    timeoutMs: o.timeoutMs,
    trigger,
    skipOnUpstreamSkip: o.skipOnUpstreamSkip ?? true,
  };
}

function slugify(name: string): string {
  const s = name
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[-._]+|-+$/g, "");
  return s === "" ? "task" : s;
}

/**
 * Reads a function's parameter names from its source. Destructured or rest parameters have no
 * name (undefined at that position): give `params` in the task options to bind them.
 */
function readParamNames(fn: TaskFn): (string | undefined)[] {
  const src = Function.prototype.toString.call(fn);
  let list: string;
  const arrowSingle = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (arrowSingle?.[1] !== undefined) return [arrowSingle[1]];
  const open = src.indexOf("(");
  if (open < 0) return [];
  let depth = 0;
  let end = open;
  for (let i = open; i < src.length; i++) {
    const ch = src[i];
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") {
      depth--;
      if (depth === 0) {
        end = i;
        break;
      }
    }
  }
  list = src.slice(open + 1, end);
  // Split on top-level commas.
  const parts: string[] = [];
  depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i];
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    else if (ch === ")" || ch === "]" || ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(list.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(list.slice(start));
  return parts
    .map((p) => p.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "").trim())
    .filter((p) => p !== "")
    .map((p) => {
      const m = /^([A-Za-z_$][\w$]*)\s*(=|$)/.exec(p);
      return m?.[1];
    });
}
