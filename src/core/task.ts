// Tasks: a TypeScript function plus how to run it (retries, delay, timeout, trigger). A task is
// callable: inside `Flow.build`, calling it records a task run in the flow and returns a typed
// reference to its result; `task.map(...)` records a fan-out. Outside a builder, the imperative API
// (`setUpstream`, `bind`) wires it into a flow, as in the seed.

import { ErrorCode, FlotillaError } from "./errors.ts";
import type { Binding, FlowNode, TaskDefinition } from "./graph.ts";
import { type Input, ParameterRef, TaskRef, Unmapped } from "./refs.ts";
import { resolveTaskOptions, type TaskFn, type TaskOptions } from "./task-options.ts";

/** What the imperative API (`setUpstream`, `bind`) needs of a flow: a Flow provides it. */
export interface FlowWiring {
  addEdge(upstream: AnyTask | TaskRef<unknown>, downstream: AnyTask | TaskRef<unknown>): unknown;
  addTask(task: AnyTask): FlowNode;
  bindInput(node: FlowNode, index: number, input: BindingInput, key?: string): void;
}

/** Where task calls are recorded: the builder of the flow `Flow.build` is building. */
export interface TaskCallRecorder {
  call(task: AnyTask, inputs: BindingInput[]): TaskRef<unknown>;
}

const recorders: TaskCallRecorder[] = [];

/** Run `body` with task calls recorded by `recorder` (what `Flow.build` does). */
export function recordTaskCalls<T>(recorder: TaskCallRecorder, body: () => T): T {
  recorders.push(recorder);
  try {
    return body();
  } finally {
    recorders.pop();
  }
}

/** The recorder a task call belongs to; throws the imperative-API hint outside `Flow.build`. */
function currentRecorder(what: string): TaskCallRecorder {
  const r = recorders[recorders.length - 1];
  if (r === undefined) {
    throw new FlotillaError(ErrorCode.FlowInvalid, `${what} was called outside Flow.build(...)`, {
      hint: "call tasks inside Flow.build(name, ({ param }) => ...), or wire them with setUpstream/bind and { flow }",
    });
  }
  return r;
}

/** The arguments a task accepts when called in a builder: each a value or a reference to one. */
export type TaskInputs<A extends readonly unknown[]> = { [K in keyof A]: Input<A[K]> };
/** The arguments of `task.map`: arrays to map over, or `unmapped(x)` constants. */
export type MapInputs<A extends readonly unknown[]> = {
  [K in keyof A]: Input<readonly A[K][]> | Unmapped<A[K]>;
};

export interface TaskMethods<A extends readonly unknown[], R> extends TaskDefinition {
  readonly fn: (...args: A) => R;
  /** Fan out: one task run per element of the array inputs; `unmapped(x)` inputs are passed whole. */
  map(...args: MapInputs<A>): TaskRef<Awaited<R>[]>;
  /** Imperative API: make `upstream` run before this task in `flow`. */
  setUpstream(upstream: AnyTask | TaskRef<unknown>, options: { flow: FlowWiring }): void;
  /** Imperative API: make this task run before `downstream` in `flow`. */
  setDownstream(downstream: AnyTask | TaskRef<unknown>, options: { flow: FlowWiring }): void;
  /**
   * Imperative API: bind the function's parameters by name to tasks, parameters or constants in
   * `flow`; with `mapped: true`, every task or parameter bound is mapped over.
   */
  bind(
    bindings: Record<string, Input<unknown> | Unmapped<unknown>>,
    options: { flow: FlowWiring; mapped?: boolean },
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
    const builder = currentRecorder(`task "${name}"`);
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
      const builder = currentRecorder(`${name}.map`);
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
              hint: "bind only the function's parameter names, or name them with task(name, fn, { params: [...] }) (needed when a minifier renames them)",
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

/** A binding as given by the user: a bare task (imperative API) is resolved to its node by the flow. */
export type BindingInput = Binding | { kind: "taskDef"; task: AnyTask; mapped: boolean };

function toBinding(value: unknown, mapped: boolean): BindingInput {
  if (value instanceof Unmapped) return toBinding(value.value, false) as BindingInput;
  if (value instanceof TaskRef) return { kind: "task", node: value.node, mapped };
  if (value instanceof ParameterRef) return { kind: "param", name: value.name, mapped };
  if (isTask(value)) return { kind: "taskDef", task: value, mapped };
  return { kind: "const", value, mapped };
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
