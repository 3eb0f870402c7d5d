// The flow: a DAG of task runs, their data bindings, and parameters. Two ways to build one: the
// seed's imperative API (`addTask`, `addEdge`, `task.setUpstream`, `task.bind`) and the typed
// functional builder (`Flow.build`), where calling a task records it. Both produce the same graph.
// Validation (cycles, duplicate slugs, bindings) happens here, before anything runs.

import { ErrorCode, FlotillaError } from "./errors.ts";
import { callerModule, moduleFileVersion, refuseRunDuringImport } from "./flow-module.ts";
import type { Binding, Edge, FlowGraph, FlowNode } from "./graph.ts";
import type { Logger } from "./logger.ts";
import {
  type Input,
  isParameterSchema,
  Parameter,
  type ParameterOptions,
  type ParameterRef,
  type ParameterSchema,
  TaskRef,
} from "./refs.ts";
import type { FlowRunState, TaskRunRecord } from "./states.ts";
import { type AnyTask, type BindingInput, isTask, recordTaskCalls, type TaskCallRecorder } from "./task.ts";

/** Where a flow's code lives so that pods can load it (e.g. a container image). */
export interface Storage {
  readonly kind: string;
  /** The image runners and workers run, when the storage is an image. */
  imageRef?(): string;
}

/**
 * Options of a flow. The model knows nothing of running, so the contracts that say how a flow
 * runs add their own option here: `environment` (environment.ts, how runs are launched;
 * @default LocalEnvironment) and `executor` (executor.ts, where task runs execute when the
 * environment does not decide; @default LocalExecutor).
 */
export interface FlowOptions {
  /** Where the flow's code lives for pods (DockerStorage). */
  storage?: Storage;
  /** Version of the flow's code, part of its fingerprint. @default a hash of the flow module's source */
  version?: string;
}

/**
 * Options of one run. executor.ts adds `executor` (where the task runs execute) and `onEvent`
 * (called with progress events: task runs started, finished, retrying; worker counts).
 */
export interface RunOptions {
  parameters?: Record<string, unknown>;
  runId?: string;
  signal?: AbortSignal;
  logger?: Logger;
}

/** Any parameters: the type of a flow whose parameters are declared with `param(...)` in its body. */
export type AnyParams = Record<string, unknown>;

/**
 * How `Flow.build(name, body, { params })` declares parameters: per name, its default value (its
 * type is the parameter's type), or a schema (a zod schema or any Standard Schema) whose output is.
 */
export type ParamSpecs = Record<string, unknown>;

type Widen<T> = T extends string ? string : T extends number ? number : T extends boolean ? boolean : T;
type SpecType<S> = S extends ParameterSchema<infer T> ? T : Widen<S>;
/** Parameters a run must give: schemas that do not accept `undefined` (no default). */
type RequiredSpecKeys<S> = {
  [K in keyof S]: S[K] extends ParameterSchema<infer T> ? (undefined extends T ? never : K) : never;
}[keyof S];

/** The `parameters` a flow built with `params: S` takes: each typed, the ones with a default optional. */
export type ParamsOf<S extends ParamSpecs> = {
  [K in Exclude<keyof S, RequiredSpecKeys<S>>]?: SpecType<S[K]>;
} & { [K in RequiredSpecKeys<S>]: SpecType<S[K]> };

/** A flow's result type from what its builder returns: a task's result, or undefined. */
export type ResultOf<R> = R extends TaskRef<infer T> ? T : undefined;

/** `RunOptions` with the flow's own parameter type. */
export type TypedRunOptions<P> = Omit<RunOptions, "parameters"> & { parameters?: P };

/** A flow run's final state with the flow's result (the returned task's), when it succeeded. */
export type TypedFlowRunState<R> = FlowRunState & { result?: R };

/** How `flow.run()` runs a flow here: provided by the local environment (see provideLocalRun). */
export type LocalRun = (flow: Flow, options: RunOptions) => Promise<FlowRunState>;
let localRun: LocalRun | undefined;

/**
 * Internal: give `flow.run()` the way to run a flow here. The local environment calls this when
 * it is loaded (the package's entry loads it), so that the model needs no import of the engine.
 */
export function provideLocalRun(run: LocalRun): void {
  localRun = run;
}

const FLOW = Symbol.for("flotilla.flow");

/** True for a Flow, even one from another copy of the package. */
export function isFlow(value: unknown): value is Flow {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[FLOW] === true;
}

/**
 * A flow. `P` is the `parameters` object its runs take, `R` its result (what the builder returned);
 * both are inferred by `Flow.build` and only exist at compile time.
 */
export class Flow<P = AnyParams, R = unknown> implements FlowGraph {
  declare readonly __types?: { params: P; result: R };
  readonly [FLOW] = true;
  readonly name: string;
  readonly options: FlowOptions;
  /**
   * The module's file and a hash of its source: the module that constructed the flow, confirmed by
   * the flow module loader. Cluster workers import this module to find the flow's tasks.
   */
  modulePath: string | undefined;
  moduleVersion: string | undefined;

  readonly #nodes: FlowNode[] = [];
  readonly #bySlug = new Map<string, FlowNode>();
  readonly #byTask = new Map<AnyTask, FlowNode>();
  /** Per base slug, the suffix to try next: slugs are never freed, so the search never restarts at 2. */
  readonly #nextSuffix = new Map<string, number>();
  readonly #params = new Map<string, Parameter>();
  readonly #edges: Edge[] = [];
  #reference: FlowNode[] | undefined;
  #order: FlowNode[] | undefined;

  constructor(name: string, options: FlowOptions = {}) {
    if (typeof name !== "string" || name.trim() === "") {
      throw new FlotillaError(ErrorCode.FlowInvalid, "new Flow(name): the name must be a non-empty string");
    }
    this.name = name;
    this.options = options;
    this.modulePath = callerModule();
    this.moduleVersion = this.modulePath === undefined ? undefined : moduleFileVersion(this.modulePath);
  }

  get environment(): FlowOptions["environment"] {
    return this.options.environment;
  }
  get storage(): Storage | undefined {
    return this.options.storage;
  }

  /**
   * Build a flow with the typed functional API: calling a task records a task run and returns a
   * reference to its result; `task.map(xs)` fans out; passing a mapped result to a task fans in.
   * The task reference the builder returns is the flow's result and its reference task (its
   * state is the flow's). With `params`, the parameters are typed: `flow.run({ parameters })`
   * rejects unknown names and wrong types at compile time, and the body reads them as `params.x`.
   *
   * ```ts
   * const etl = Flow.build("etl", ({ params }) => report(extract(params.records)), {
   *   params: { records: 100, rate: z.number().positive().default(1.1) },
   * });
   * const state = await etl.run({ parameters: { records: 20 } }); // state.result: the report
   * ```
   */
  static build<S extends ParamSpecs, R>(
    name: string,
    body: (ctx: BuildContext<S>) => R,
    options: FlowOptions & { slug?: string; params: S },
  ): Flow<ParamsOf<S>, ResultOf<R>>;
  static build<R>(
    name: string,
    body: (ctx: BuildContext) => R,
    options?: FlowOptions & { slug?: string },
  ): Flow<AnyParams, ResultOf<R>>;
  static build(
    name: string,
    body: (ctx: BuildContext<ParamSpecs>) => unknown,
    options: FlowOptions & { slug?: string; params?: ParamSpecs } = {},
  ): Flow<unknown, unknown> {
    const { params, ...flowOptions } = options;
    const flow = new Flow(name, flowOptions);
    const builder = new FlowBuilder(flow, params);
    const returned = recordTaskCalls(builder, () => body(builder.context));
    if (returned instanceof TaskRef && returned.node.flow === flow) flow.setReferenceTasks(returned);
    flow.validate();
    return flow;
  }

  /** The node of `task` in this flow, added if absent (imperative API: one node per task). */
  addTask(task: AnyTask): FlowNode {
    if (!isTask(task)) {
      throw new FlotillaError(
        ErrorCode.FlowInvalid,
        `flow "${this.name}": addTask takes a task made with task(...)`,
      );
    }
    const existing = this.#byTask.get(task);
    if (existing !== undefined) return existing;
    const node = this.#newNode(task, task.slug, true);
    this.#byTask.set(task, node);
    return node;
  }

  /** Internal: a new node for a builder call, with a unique slug (`double`, `double-2`, ...). */
  addCall(task: AnyTask): FlowNode {
    let slug = task.slug;
    if (this.#bySlug.has(slug)) {
      let i = this.#nextSuffix.get(task.slug) ?? 2;
      for (; this.#bySlug.has(`${task.slug}-${i}`); i++);
      slug = `${task.slug}-${i}`;
      this.#nextSuffix.set(task.slug, i + 1);
    }
    const node = this.#newNode(task, slug, false);
    if (!this.#byTask.has(task)) this.#byTask.set(task, node);
    return node;
  }

  #newNode(task: AnyTask, slug: string, strict: boolean): FlowNode {
    const clash = this.#bySlug.get(slug);
    if (clash !== undefined && strict) {
      throw new FlotillaError(
        ErrorCode.DuplicateSlug,
        `flow "${this.name}": two different tasks have the slug "${slug}" ("${clash.task.taskName}" and "${task.taskName}")`,
        { hint: `give one of them its own slug: task("${task.taskName}", fn, { slug: "..." })` },
      );
    }
    const node: FlowNode = { flow: this, slug, task, inputs: [], upstream: new Set(), downstream: new Set() };
    this.#nodes.push(node);
    this.#bySlug.set(slug, node);
    this.#order = undefined;
    return node;
  }

  /** Make `upstream` run before `downstream`; with `key`, pass its result to that parameter. */
  addEdge(
    upstream: AnyTask | TaskRef<unknown>,
    downstream: AnyTask | TaskRef<unknown>,
    options: { key?: string; mapped?: boolean } = {},
  ): this {
    const up = this.#nodeOf(upstream);
    const down = this.#nodeOf(downstream);
    if (options.key !== undefined) {
      const index = down.task.paramNames.indexOf(options.key);
      if (index < 0) {
        throw new FlotillaError(
          ErrorCode.BindInvalid,
          `flow "${this.name}": task "${down.slug}" has no parameter "${options.key}"`,
          { hint: `it takes (${down.task.paramNames.filter(Boolean).join(", ")})` },
        );
      }
      this.bindInput(down, index, { kind: "task", node: up, mapped: options.mapped ?? false }, options.key);
      return this;
    }
    this.#link(up, down, undefined, false);
    return this;
  }

  /** Internal: an order-only edge between two nodes of this flow (`TaskRef.after`). */
  addOrderEdge(upstream: FlowNode, downstream: FlowNode): void {
    for (const n of [upstream, downstream]) {
      if (n.flow !== this) {
        throw new FlotillaError(
          ErrorCode.FlowInvalid,
          `flow "${this.name}": "${n.slug}" belongs to another flow`,
        );
      }
    }
    this.#link(upstream, downstream, undefined, false);
  }

  /** Internal: bind input `index` of `node` (imperative `bind`, builder calls). */
  bindInput(node: FlowNode, index: number, input: BindingInput, key?: string): void {
    const binding = this.#resolve(input);
    node.inputs[index] = binding;
    if (binding.kind === "task") {
      this.#link(binding.node, node, key ?? node.task.paramNames[index] ?? String(index), binding.mapped);
    } else if (binding.kind === "param") {
      this.#ensureParam(binding.name);
    }
  }

  #resolve(input: BindingInput): Binding {
    if (input.kind === "taskDef")
      return { kind: "task", node: this.addTask(input.task), mapped: input.mapped };
    if (input.kind === "task" && input.node.flow !== this) {
      throw new FlotillaError(
        ErrorCode.FlowInvalid,
        `flow "${this.name}": task "${input.node.slug}" belongs to flow "${input.node.flow.name}"`,
      );
    }
    return input;
  }

  #link(up: FlowNode, down: FlowNode, key: string | undefined, mapped: boolean): void {
    if (up === down) {
      throw new FlotillaError(
        ErrorCode.FlowCycle,
        `flow "${this.name}": task "${up.slug}" cannot depend on itself`,
      );
    }
    const isNew = !up.downstream.has(down);
    up.downstream.add(down);
    down.upstream.add(up);
    if (key !== undefined) {
      // A data edge makes an order-only edge between the same tasks redundant.
      const orderOnly = isNew
        ? -1
        : this.#edges.findIndex(
            (e) => e.upstream === up.slug && e.downstream === down.slug && e.key === undefined,
          );
      if (orderOnly >= 0) this.#edges.splice(orderOnly, 1);
      this.#edges.push({ upstream: up.slug, downstream: down.slug, key, mapped });
    } else if (isNew) {
      this.#edges.push({ upstream: up.slug, downstream: down.slug, mapped });
    }
    this.#order = undefined;
  }

  #nodeOf(x: AnyTask | TaskRef<unknown>): FlowNode {
    if (x instanceof TaskRef) {
      if (x.node.flow !== this) {
        throw new FlotillaError(
          ErrorCode.FlowInvalid,
          `flow "${this.name}": "${x.slug}" belongs to another flow`,
        );
      }
      return x.node;
    }
    return this.addTask(x);
  }

  #ensureParam(name: string): Parameter {
    let p = this.#params.get(name);
    if (p === undefined) {
      p = new Parameter(name);
      this.#params.set(name, p);
    }
    return p;
  }

  /** Declare a parameter (the builder's `param` does this for you). */
  addParameter<T>(parameter: Parameter<T>): Parameter<T> {
    const existing = this.#params.get(parameter.name);
    if (existing !== undefined && existing !== parameter && (existing.hasDefault || existing.description)) {
      throw new FlotillaError(
        ErrorCode.FlowInvalid,
        `flow "${this.name}": parameter "${parameter.name}" is declared twice`,
      );
    }
    this.#params.set(parameter.name, parameter as Parameter);
    return parameter;
  }

  /** Mark the tasks whose states decide the flow's state (default: the terminal tasks). */
  setReferenceTasks(...tasks: (AnyTask | TaskRef<unknown>)[]): this {
    this.#reference = tasks.map((t) => this.#nodeOf(t));
    return this;
  }

  get nodes(): readonly FlowNode[] {
    return this.#nodes;
  }
  get edges(): readonly Edge[] {
    return this.#edges;
  }
  get parameters(): readonly Parameter[] {
    return [...this.#params.values()];
  }
  node(slug: string): FlowNode | undefined {
    return this.#bySlug.get(slug);
  }
  get referenceTasks(): readonly FlowNode[] {
    return this.#reference ?? this.#nodes.filter((n) => n.downstream.size === 0);
  }

  /** Nodes in a topological order; throws a FlotillaError naming a cycle if there is one. */
  sorted(): readonly FlowNode[] {
    if (this.#order !== undefined) return this.#order;
    const indegree = new Map<FlowNode, number>();
    for (const n of this.#nodes) indegree.set(n, n.upstream.size);
    const queue = this.#nodes.filter((n) => n.upstream.size === 0);
    const order: FlowNode[] = [];
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i]!;
      order.push(n);
      for (const d of n.downstream) {
        const left = indegree.get(d)! - 1;
        indegree.set(d, left);
        if (left === 0) queue.push(d);
      }
    }
    if (order.length !== this.#nodes.length) {
      const cycle = findCycle(this.#nodes.filter((n) => indegree.get(n)! > 0));
      throw new FlotillaError(ErrorCode.FlowCycle, `flow "${this.name}" has a cycle: ${cycle.join(" -> ")}`, {
        hint: "remove one of these edges; a flow must be a DAG",
      });
    }
    this.#order = order;
    return order;
  }

  /** Check the whole flow; throws a FlotillaError on the first problem. */
  validate(): void {
    if (this.#nodes.length === 0) {
      throw new FlotillaError(ErrorCode.FlowInvalid, `flow "${this.name}" has no tasks`);
    }
    this.sorted();
    for (const n of this.#nodes) {
      const maxArgs = n.task.paramNames.length;
      const given = n.inputs.length;
      const hasNames = n.task.paramNames.every((p) => p !== undefined);
      if (hasNames && given > maxArgs && n.task.fn.length === maxArgs && maxArgs > 0) {
        throw new FlotillaError(
          ErrorCode.BindInvalid,
          `flow "${this.name}": task "${n.slug}" is given ${given} inputs but its function takes ${maxArgs}`,
        );
      }
    }
  }

  /**
   * Resolve run-time parameters: unknown names and missing required ones are errors; defaults
   * are applied.
   */
  resolveParameters(given: Record<string, unknown> = {}): Record<string, unknown> {
    const known = this.#params;
    for (const name of Object.keys(given)) {
      if (!known.has(name)) {
        const list = [...known.keys()];
        throw new FlotillaError(
          ErrorCode.ParameterUnknown,
          `flow "${this.name}" has no parameter "${name}"; ${list.length ? `its parameters are: ${list.join(", ")}` : "it takes no parameters"}`,
          { usage: true },
        );
      }
    }
    const out: Record<string, unknown> = {};
    for (const [name, p] of known) {
      if (Object.hasOwn(given, name)) out[name] = p.check(this.name, given[name]);
      else if (p.hasDefault) out[name] = p.default;
      else if (p.required) {
        throw new FlotillaError(
          ErrorCode.ParameterMissing,
          `flow "${this.name}" needs the parameter "${name}"`,
          {
            hint: `give it with --param ${name}=VALUE or flow.run({ parameters: { ${name}: ... } })`,
            usage: true,
          },
        );
      }
    }
    return out;
  }

  /**
   * Run the flow here and return its final state (Prefect's `flow.run()`), with `result`: the
   * result of the task the builder returned, when the run succeeded.
   */
  async run(options: TypedRunOptions<P> = {}): Promise<TypedFlowRunState<R>> {
    refuseRunDuringImport(this.name);
    if (localRun === undefined) {
      throw new FlotillaError(
        ErrorCode.OptionsInvalid,
        `flow "${this.name}": flow.run() has no local environment`,
        {
          hint: 'import Flow from the package entry ("flotilla"), which provides it',
        },
      );
    }
    const state: TypedFlowRunState<R> = await localRun(this as Flow, options as RunOptions);
    const ref = this.#reference?.length === 1 ? this.#reference[0] : undefined;
    const record = ref ? state.taskRuns[ref.slug] : undefined;
    if (state.type === "Success" && record) state.result = resultOf(record) as R;
    return state;
  }
}

/** A task run's result: a Success's value, a mapped task's children's results. */
function resultOf(record: TaskRunRecord): unknown {
  if (record.state.type === "Success") return record.state.result;
  if (record.state.type === "Mapped") return record.state.children.map(resultOf);
  return undefined;
}

export interface BuildContext<S extends ParamSpecs = ParamSpecs> {
  /** Declare a parameter: required without a default, optional with one. */
  param<T>(name: string, defaultValue?: T, options?: Omit<ParameterOptions<T>, "default">): ParameterRef<T>;
  /** The parameters declared by `Flow.build`'s `params` option, by name. */
  params: { readonly [K in keyof S]: ParameterRef<SpecType<S[K]>> };
  /** The flow being built. */
  flow: Flow;
}

/** Records task calls made inside `Flow.build`. */
export class FlowBuilder implements TaskCallRecorder {
  readonly flow: Flow;
  readonly context: BuildContext;
  constructor(flow: Flow, specs: ParamSpecs = {}) {
    this.flow = flow;
    const params: Record<string, ParameterRef<unknown>> = {};
    for (const [name, spec] of Object.entries(specs))
      params[name] = flow.addParameter(specParameter(name, spec));
    this.context = {
      flow,
      params,
      param: <T>(name: string, ...rest: [T?, Omit<ParameterOptions<T>, "default">?]) => {
        const opts: ParameterOptions<T> = { ...(rest[1] ?? {}) };
        if (rest.length > 0 && rest[0] !== undefined) opts.default = rest[0];
        return flow.addParameter(new Parameter<T>(name, opts));
      },
    };
  }

  call(task: AnyTask, inputs: BindingInput[]): TaskRef<unknown> {
    for (const input of inputs) {
      if (input.kind === "taskDef") {
        throw new FlotillaError(
          ErrorCode.FlowInvalid,
          `flow "${this.flow.name}": task "${input.task.taskName}" was passed to "${task.taskName}" without being called`,
          { hint: `pass its result: ${task.taskName}(${input.task.taskName}(...))` },
        );
      }
    }
    const node = this.flow.addCall(task);
    inputs.forEach((input, i) => {
      this.flow.bindInput(node, i, input);
    });
    return new TaskRef(node);
  }
}

/** The parameter a `params` entry declares: a schema (its default is what it makes of undefined), or a default. */
function specParameter(name: string, spec: unknown): Parameter {
  if (!isParameterSchema(spec)) return new Parameter(name, { default: spec });
  const empty = spec["~standard"].validate(undefined);
  const description = (spec as { description?: unknown }).description;
  const hasDefault = !(empty instanceof Promise) && !empty.issues;
  return new Parameter(name, {
    schema: spec,
    ...(hasDefault ? { default: empty.value } : {}),
    ...(typeof description === "string" ? { description } : {}),
  });
}

function findCycle(nodes: FlowNode[]): string[] {
  const inSet = new Set(nodes);
  const state = new Map<FlowNode, 1 | 2>();
  const stack: FlowNode[] = [];
  const visit = (n: FlowNode): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const d of n.downstream) {
      if (!inSet.has(d)) continue;
      if (state.get(d) === 1) {
        const from = stack.indexOf(d);
        return [...stack.slice(from), d].map((x) => x.slug);
      }
      if (state.get(d) === undefined) {
        const found = visit(d);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of nodes) {
    if (state.get(n) === undefined) {
      const found = visit(n);
      if (found) return found;
    }
  }
  return nodes.map((n) => n.slug);
}

export type { Edge, FlowNode, Input };
