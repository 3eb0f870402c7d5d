// Flotilla's public API. Internals are not exported; what is here is what users may rely on.

export type { Environment, RunHandle } from "./core/environment.ts";
export {
  ErrorCode,
  FlotillaError,
  type SerializedError,
} from "./core/errors.ts";
export type {
  Executor,
  ExecutorContext,
  ExecutorSession,
  RunEvent,
  TaskRunRequest,
  TaskRunResult,
} from "./core/executor.ts";
export { flowFingerprint } from "./core/fingerprint.ts";
export {
  type AnyParams,
  type BuildContext,
  Flow,
  type FlowOptions,
  type ParamSpecs,
  type ParamsOf,
  type ResultOf,
  type RunOptions,
  type Storage,
  type TypedFlowRunState,
  type TypedRunOptions,
} from "./core/flow.ts";
export { isMain } from "./core/flow-module.ts";
export type { Edge } from "./core/graph.ts";
export type { Logger } from "./core/logger.ts";
export {
  type Input,
  Parameter,
  type ParameterOptions,
  type ParameterRef,
  type ParameterSchema,
  type TaskRef,
} from "./core/refs.ts";
export { FailSignal, RetrySignal, Signal, SkipSignal, signals } from "./core/signals.ts";
export * from "./core/states.ts";
export { type AnyTask, type Task, task, unmapped } from "./core/task.ts";
export { type TaskOptions, Trigger } from "./core/task-options.ts";
export { context, getLogger, type TaskRunContext } from "./engine/context.ts";
export { createLogger } from "./engine/logging.ts";
export { LocalEnvironment } from "./executors/local-environment.ts";
export { LocalExecutor, type LocalExecutorOptions } from "./executors/local-executor.ts";
export { Secret, type SecretOptions, secretEnvName } from "./secrets/index.ts";
export { DockerStorage, type DockerStorageOptions } from "./storage/docker.ts";
