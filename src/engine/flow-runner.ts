// The flow runner: a state machine over one flow run. Events in (start, a task run finished,
// a fatal executor error), commands out (submit these task runs, the run is finished). No I/O,
// no clock of its own beyond the injected `now`: every rule of triggers, skips, mapping and the
// final state lives here and is unit-tested without an executor.
//
// Cost is O(tasks + edges): each node keeps a count of unfinished upstream nodes, decremented
// once per edge when an upstream finishes; a mapped node counts its unfinished children.

import { ErrorCode, FlotillaError, type SerializedError, serializeError } from "../core/errors.ts";
import type { RunEvent, TaskRunRequest, TaskRunResult } from "../core/executor.ts";
import type { Flow, FlowNode } from "../core/flow.ts";
import type { Binding } from "../core/graph.ts";
import {
  type FinalTaskState,
  type FlowRunState,
  isFailed,
  isSuccessful,
  resultOf,
  type TaskRunRecord,
  type TaskState,
} from "../core/states.ts";

export type RunnerCommand =
  | { type: "submit"; runs: TaskRunRequest[] }
  | { type: "finish"; state: FlowRunState };

interface NodeRun {
  readonly node: FlowNode;
  readonly record: TaskRunRecord;
  /** Unfinished upstream nodes. */
  remaining: number;
  /** Children of a mapped node, once known. */
  children: TaskRunRecord[] | undefined;
  childrenLeft: number;
  mapped: boolean;
  finished: boolean;
}

const NONE: RunnerCommand[] = [];

export interface FlowRunnerOptions {
  runId: string;
  parameters: Record<string, unknown>;
  now?: () => number;
  onEvent?: (event: RunEvent) => void;
}

export class FlowRunner {
  readonly flow: Flow;
  readonly #runs = new Map<string, NodeRun>();
  readonly #order: NodeRun[];
  readonly #params: Record<string, unknown>;
  readonly #now: () => number;
  readonly #onEvent: ((event: RunEvent) => void) | undefined;
  readonly #state: FlowRunState;
  #unfinished: number;
  #out: TaskRunRequest[] = [];

  constructor(flow: Flow, options: FlowRunnerOptions) {
    this.flow = flow;
    this.#params = options.parameters;
    this.#now = options.now ?? Date.now;
    this.#onEvent = options.onEvent;
    const taskRuns: Record<string, TaskRunRecord> = {};
    this.#order = flow.sorted().map((node) => {
      const record: TaskRunRecord = { state: { type: "Pending" }, attempts: 0 };
      taskRuns[node.slug] = record;
      const run: NodeRun = {
        node,
        record,
        remaining: node.upstream.size,
        children: undefined,
        childrenLeft: 0,
        mapped: node.inputs.some((b) => b?.mapped === true),
        finished: false,
      };
      this.#runs.set(node.slug, run);
      return run;
    });
    this.#unfinished = this.#order.length;
    this.#state = {
      type: "Pending",
      message: "",
      flow: flow.name,
      runId: options.runId,
      taskRuns,
      startedAt: this.#now(),
    };
  }

  get state(): FlowRunState {
    return this.#state;
  }

  get finished(): boolean {
    return this.#state.type === "Success" || this.#state.type === "Failed";
  }

  /** Start the run: the root task runs are submitted. */
  start(): RunnerCommand[] {
    if (this.finished || this.#state.type === "Running") return NONE;
    this.#state.type = "Running";
    this.#state.message = "running";
    for (const run of this.#order) if (run.remaining === 0) this.#ready(run);
    return this.#flush();
  }

  /** A task run finished. Unknown or duplicate results are ignored (at-least-once delivery). */
  handle(result: TaskRunResult): RunnerCommand[] {
    const run = this.#runs.get(result.slug);
    if (run === undefined || run.finished) return NONE;
    const record: TaskRunRecord = {
      state: result.state,
      attempts: result.attempts,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
    };
    if (result.worker !== undefined) record.worker = result.worker;
    if (result.mapIndex >= 0) {
      const children = run.children;
      const slot = children?.[result.mapIndex];
      const open = slot?.state.type === "Pending" || slot?.state.type === "Running";
      if (children === undefined || slot === undefined || !open) return NONE;
      children[result.mapIndex] = record;
      this.#onEvent?.({
        type: "taskFinished",
        slug: result.slug,
        mapIndex: result.mapIndex,
        state: result.state,
      });
      if (--run.childrenLeft === 0) this.#finishMapped(run);
    } else {
      Object.assign(run.record, record);
      this.#finish(run, result.state);
    }
    return this.#flush();
  }

  /**
   * A task run started (an executor's `taskStarted` event): its record shows Running until its
   * result, so a run stopped while it runs says so rather than Pending.
   */
  started(slug: string, mapIndex: number, attempt: number, worker?: string): void {
    const run = this.#runs.get(slug);
    if (run === undefined || run.finished) return;
    const record = mapIndex >= 0 ? run.children?.[mapIndex] : run.record;
    if (record === undefined || (record.state.type !== "Pending" && record.state.type !== "Running")) return;
    record.state = { type: "Running", attempt };
    record.attempts = Math.max(record.attempts, attempt);
    record.startedAt ??= this.#now();
    if (worker !== undefined) record.worker = worker;
  }

  /** The executor failed for good: the run ends Failed with this error. */
  fail(error: SerializedError | Error): RunnerCommand[] {
    if (this.finished) return NONE;
    const e = error instanceof Error ? serializeError(error) : error;
    this.#state.type = "Failed";
    this.#state.message = e.message;
    this.#state.error = e;
    this.#state.finishedAt = this.#now();
    return [{ type: "finish", state: this.#state }];
  }

  #flush(): RunnerCommand[] {
    const commands: RunnerCommand[] = [];
    if (this.#out.length > 0) {
      commands.push({ type: "submit", runs: this.#out });
      this.#out = [];
    }
    if (this.#unfinished === 0 && !this.finished) commands.push({ type: "finish", state: this.#complete() });
    return commands.length === 0 ? NONE : commands;
  }

  #ready(run: NodeRun): void {
    const node = run.node;
    if (!run.mapped) {
      const blocked = this.#gate(node, summarize(node, this.#runs));
      if (blocked !== undefined) {
        this.#finish(run, blocked, 0);
        return;
      }
      this.#out.push({
        slug: node.slug,
        mapIndex: -1,
        args: node.inputs.map((b) => this.#value(b)),
        attempt: 1,
      });
      return;
    }
    // A mapped node: every mapped input must be a successful list; then one child per element.
    for (const b of node.inputs) {
      if (b?.kind === "task" && b.mapped) {
        const s = this.#runs.get(b.node.slug)!.record.state;
        // A mapped upstream is gated child by child below; anything else must be a Success.
        if (s.type !== "Success" && s.type !== "Mapped") {
          const one = emptySummary();
          add(one, s);
          const blocked = this.#gate(node, one) ?? {
            type: "TriggerFailed" as const,
            message: `cannot map over the result of "${b.node.slug}", which ended ${s.type}`,
          };
          this.#finish(run, blocked, 0);
          return;
        }
      }
    }
    const values = node.inputs.map((b) => this.#value(b));
    let length = Number.POSITIVE_INFINITY;
    for (let i = 0; i < node.inputs.length; i++) {
      const b = node.inputs[i];
      if (!b?.mapped) continue;
      let v = values[i];
      if (!Array.isArray(v)) {
        if (v !== null && typeof v === "object" && Symbol.iterator in v)
          v = values[i] = Array.from(v as Iterable<unknown>);
        else {
          const name = node.task.paramNames[i] ?? `#${i}`;
          const got = v === null ? "null" : typeof v;
          this.#finish(run, {
            type: "Failed",
            message: `cannot map "${node.slug}" over its input "${name}": it is ${got}, not an array`,
            error: serializeError(
              new FlotillaError(
                ErrorCode.FlowInvalid,
                `mapped input "${name}" of "${node.slug}" is not an array`,
              ),
            ),
          });
          return;
        }
      }
      length = Math.min(length, (v as unknown[]).length);
    }
    if (!Number.isFinite(length)) length = 0;
    const children: TaskRunRecord[] = new Array(length);
    run.children = children;
    run.childrenLeft = length;
    run.record.state = { type: "Mapped", children };
    this.#onEvent?.({ type: "mapped", slug: node.slug, children: length });
    if (length === 0) {
      this.#finishMapped(run);
      return;
    }
    // Mapped sources that are themselves mapped count child by child (element i sees child i).
    const sources = [
      ...new Set(
        node.inputs.flatMap((b) => (b?.kind === "task" && b.mapped ? [this.#runs.get(b.node.slug)!] : [])),
      ),
    ].filter((r) => r.children !== undefined);
    const common = summarize(node, this.#runs, new Set(sources.map((r) => r.node)));
    for (let i = 0; i < length; i++) {
      const blocked = this.#gate(node, withChild(common, sources, i));
      if (blocked !== undefined) {
        children[i] = { state: blocked, attempts: 0 };
        this.#onEvent?.({ type: "taskFinished", slug: node.slug, mapIndex: i, state: blocked });
        run.childrenLeft--;
        continue;
      }
      children[i] = { state: { type: "Pending" }, attempts: 0 };
      const args = values.map((v, j) => (node.inputs[j]?.mapped ? (v as unknown[])[i] : v));
      this.#out.push({ slug: node.slug, mapIndex: i, args, attempt: 1 });
    }
    if (run.childrenLeft === 0) this.#finishMapped(run);
  }

  /** Skip and trigger rules: the state to end in without running, or undefined to run. */
  #gate(node: FlowNode, up: Summary): FinalTaskState | undefined {
    const opts = node.task.options;
    if (opts.skipOnUpstreamSkip && up.skipped) {
      return { type: "Skipped", message: "an upstream task run was skipped" };
    }
    if (up.count === 0) return undefined;
    switch (opts.trigger) {
      case "allSuccessful":
        return up.firstBad === undefined
          ? undefined
          : {
              type: "TriggerFailed",
              message: `trigger allSuccessful: an upstream task run ended ${up.firstBad}`,
            };
      case "allFinished":
        return undefined;
      case "anyFailed":
        return up.anyFailed
          ? undefined
          : { type: "TriggerFailed", message: "trigger anyFailed: no upstream task run failed" };
      case "anySuccessful":
        return up.anySuccessful
          ? undefined
          : { type: "TriggerFailed", message: "trigger anySuccessful: no upstream task run succeeded" };
    }
  }

  #value(b: Binding | undefined): unknown {
    if (b === undefined) return undefined;
    switch (b.kind) {
      case "const":
        return b.value;
      case "param":
        return this.#params[b.name];
      case "task":
        return resultOf(this.#runs.get(b.node.slug)!.record.state);
    }
  }

  #finishMapped(run: NodeRun): void {
    this.#finish(run, run.record.state as FinalTaskState);
  }

  #finish(run: NodeRun, state: FinalTaskState, attempts?: number): void {
    if (run.finished) return;
    run.finished = true;
    run.record.state = state;
    if (attempts !== undefined) run.record.attempts = attempts;
    if (state.type !== "Mapped" || run.children === undefined) {
      this.#onEvent?.({ type: "taskFinished", slug: run.node.slug, mapIndex: -1, state });
    }
    this.#unfinished--;
    for (const d of run.node.downstream) {
      const dr = this.#runs.get(d.slug)!;
      if (--dr.remaining === 0) this.#ready(dr);
    }
  }

  #complete(): FlowRunState {
    const failed: string[] = [];
    for (const node of this.flow.referenceTasks) {
      const s = this.#runs.get(node.slug)!.record.state;
      if (!isSuccessful(s)) failed.push(`${node.slug} (${s.type})`);
    }
    this.#state.type = failed.length === 0 ? "Success" : "Failed";
    this.#state.message =
      failed.length === 0
        ? "All reference tasks succeeded."
        : `Some reference tasks failed: ${failed.join(", ")}`;
    this.#state.finishedAt = this.#now();
    return this.#state;
  }
}

/** What the trigger rules need to know of a set of upstream states. */
interface Summary {
  count: number;
  skipped: boolean;
  anyFailed: boolean;
  anySuccessful: boolean;
  /** The type of the first upstream state that is not successful. */
  firstBad: string | undefined;
}

function emptySummary(): Summary {
  return { count: 0, skipped: false, anyFailed: false, anySuccessful: false, firstBad: undefined };
}

function add(sum: Summary, s: TaskState): void {
  if (s.type === "Mapped") {
    for (const c of s.children) add(sum, c.state);
    return;
  }
  sum.count++;
  if (s.type === "Skipped") sum.skipped = true;
  if (isSuccessful(s)) sum.anySuccessful = true;
  else sum.firstBad ??= s.type;
  if (isFailed(s)) sum.anyFailed = true;
}

/** Upstream states of a node, leaving out the mapped sources (whose children count one by one). */
function summarize(node: FlowNode, runs: Map<string, NodeRun>, except?: ReadonlySet<FlowNode>): Summary {
  const sum = emptySummary();
  for (const up of node.upstream) if (!except?.has(up)) add(sum, runs.get(up.slug)!.record.state);
  return sum;
}

/** `common` plus child `index` of each mapped source. */
function withChild(common: Summary, sources: readonly NodeRun[], index: number): Summary {
  if (sources.length === 0) return common;
  const sum = { ...common };
  for (const src of sources) add(sum, src.children?.[index]?.state ?? src.record.state);
  return sum;
}
