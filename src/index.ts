// Flotilla's public API. Internals are not exported; what is here is what users may rely on.

export type { Environment, RunHandle } from "./core/environment.ts";
export {
  ErrorCode,
  FlotillaError,
  type SerializedError,
} from "./core/errors.ts";
export { flowFingerprint } from "./core/fingerprint.ts";
export {
  type BuildContext,
  type Edge,
  Flow,
  type FlowOptions,
  type RunOptions,
  type Storage,
} from "./core/flow.ts";
export {
  type Input,
  Parameter,
  type ParameterOptions,
  type ParameterRef,
  type TaskRef,
} from "./core/refs.ts";
export { FailSignal, RetrySignal, Signal, SkipSignal, signals } from "./core/signals.ts";
export * from "./core/states.ts";
export { type AnyTask, type Task, type TaskOptions, Trigger, task, unmapped } from "./core/task.ts";
export { context, getLogger, type TaskRunContext } from "./engine/context.ts";
export type {
  Executor,
  ExecutorContext,
  ExecutorSession,
  RunEvent,
  TaskRunRequest,
  TaskRunResult,
} from "./engine/executor.ts";
export { LocalEnvironment } from "./engine/local-environment.ts";
export { createLogger, type Logger } from "./engine/logging.ts";
export { LocalExecutor, type LocalExecutorOptions } from "./executors/local.ts";
export { Secret, type SecretOptions, secretEnvName } from "./secrets/index.ts";
export { DockerStorage, type DockerStorageOptions } from "./storage/docker.ts";
