// The flow graph's vocabulary: nodes (task runs of a flow), edges, input bindings, and what a
// node knows of its task and of its flow. Pure types at the bottom of the model, so that
// references (refs.ts), tasks (task.ts) and the flow (flow.ts) build on it without importing
// each other in a circle.

import type { ResolvedTaskOptions, TaskFn } from "./task-options.ts";

/** What a flow node knows of its task: its names, its function and its compiled options. */
export interface TaskDefinition {
  readonly taskName: string;
  readonly slug: string;
  readonly fn: TaskFn;
  readonly options: ResolvedTaskOptions;
  /** Parameter names of `fn`, as far as they can be known. */
  readonly paramNames: readonly (string | undefined)[];
}

/** What a node knows of its flow (a Flow): its name, and how to add an edge while building. */
export interface FlowGraph {
  readonly name: string;
  /** Internal: make `upstream` run before `downstream` (`TaskRef.after`); both must be nodes of this flow. */
  addOrderEdge(upstream: FlowNode, downstream: FlowNode): void;
}

/** One task run definition in a flow. A task called twice in a builder gives two nodes. */
export interface FlowNode {
  readonly flow: FlowGraph;
  readonly slug: string;
  readonly task: TaskDefinition;
  /** Positional inputs of the task function. */
  readonly inputs: (Binding | undefined)[];
  readonly upstream: Set<FlowNode>;
  readonly downstream: Set<FlowNode>;
}

export interface Edge {
  upstream: string;
  downstream: string;
  /** The downstream parameter the upstream result is passed to; absent for order-only edges. */
  key?: string;
  mapped: boolean;
}

/** What a task input is bound to, positionally. */
export type Binding =
  | { kind: "task"; node: FlowNode; mapped: boolean }
  | { kind: "param"; name: string; mapped: boolean }
  | { kind: "const"; value: unknown; mapped: boolean };
