// References recorded while a flow is built: to a task run's result, to a parameter, and the
// `unmapped` wrapper. They carry the result type so the builder API stays typed end to end.

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

export interface ParameterOptions<T> {
  /** Value used when the run does not give one; a parameter without a default is required. */
  default?: T;
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
  constructor(name: string, options: ParameterOptions<T> = {}) {
    super(name);
    this.hasDefault = "default" in options;
    this.default = options.default;
    this.required = options.required ?? !this.hasDefault;
    this.description = options.description;
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
