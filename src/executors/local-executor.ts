// LocalExecutor: task runs execute in this process, as async functions, at most `concurrency` at
// a time, through the same task runner the workers use.

import { ErrorCode, FlotillaError } from "../core/errors.ts";
import type { Executor, ExecutorContext, ExecutorSession, TaskRunRequest } from "../core/executor.ts";
import { runTask, type TaskRunnerEnv } from "../engine/task-runner.ts";

export interface LocalExecutorOptions {
  /** Task runs in flight at once. @default 256 */
  concurrency?: number;
}

export class LocalExecutor implements Executor {
  readonly kind = "local";
  readonly concurrency: number;

  constructor(options: LocalExecutorOptions = {}) {
    const c = options.concurrency ?? 256;
    if (!(Number.isInteger(c) && c >= 1) && c !== Number.POSITIVE_INFINITY) {
      throw new FlotillaError(
        ErrorCode.OptionsInvalid,
        `LocalExecutor: concurrency must be a whole number >= 1, got ${c}`,
      );
    }
    this.concurrency = c;
  }

  async start(ctx: ExecutorContext): Promise<ExecutorSession> {
    const flow = ctx.flow;
    const env: TaskRunnerEnv = {
      runId: ctx.runId,
      flow: flow.name,
      logger: ctx.logger,
      onEvent: ctx.onEvent,
      signal: ctx.signal,
    };
    const limit = this.concurrency;
    let queue: TaskRunRequest[] = [];
    let head = 0;
    let active = 0;
    let closed = false;

    const pump = () => {
      while (active < limit && head < queue.length && !closed) {
        const request = queue[head++]!;
        active++;
        const node = flow.node(request.slug)!;
        void runTask(node.task, request, env).then(onDone);
      }
      if (head > 4096 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
    };
    const onDone = (result: Awaited<ReturnType<typeof runTask>>) => {
      active--;
      if (closed) return;
      ctx.onResult(result);
      pump();
    };

    return {
      submit(runs) {
        for (const r of runs) queue.push(r);
        pump();
      },
      async close() {
        closed = true;
        queue = [];
        head = 0;
      },
    };
  }
}
