// Chain continuation: which task run a worker may start by itself, at once, when a task run it
// ran succeeds, instead of waiting for the runner to hand it over (a queue or lane round trip
// through the broker per hop of a chain). It is the task run the flow runner would submit next,
// with the same inputs, whatever else is in the run: the lone successor of an unmapped task whose
// only upstream is that task and whose inputs are that task's result and constants. The runner
// still hears every state (the first task run's result says the worker went on with it) and keeps
// the successor as handed to that worker until its result arrives. Pure: no I/O.

import type { TaskRunResult } from "../core/executor.ts";
import type { FlowNode } from "../core/graph.ts";

/**
 * The node whose task run the flow runner submits, and only it, when `node`'s unmapped task run
 * succeeds; undefined when that depends on anything but this result (other upstream tasks, a
 * mapping, parameters) or when the successor's trigger would not run it on a success.
 */
export function chainSuccessor(node: FlowNode): FlowNode | undefined {
  if (node.downstream.size !== 1 || node.inputs.some((b) => b?.mapped === true)) return undefined;
  const [next] = node.downstream;
  if (next === undefined || next.upstream.size !== 1) return undefined;
  // anyFailed: a successful upstream gates it (TriggerFailed); the others run it.
  if (next.task.options.trigger === "anyFailed") return undefined;
  for (const b of next.inputs) {
    if (b === undefined) continue;
    if (b.mapped || b.kind === "param") return undefined;
    if (b.kind === "task" && b.node !== node) return undefined;
  }
  return next;
}

/**
 * The successor's arguments after `result` (a Success of `node`, the successor's one upstream),
 * as the flow runner builds them: the upstream's result where it is bound, constants elsewhere.
 */
export function successorArgs(next: FlowNode, result: TaskRunResult): unknown[] {
  const value = result.state.type === "Success" ? result.state.result : undefined;
  return next.inputs.map((b) => (b === undefined ? undefined : b.kind === "const" ? b.value : value));
}
