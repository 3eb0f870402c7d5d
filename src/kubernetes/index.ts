// `flotilla/kubernetes`: run each flow run on its own temporary, autoscaling worker cluster on
// Kubernetes. The curated surface: the environment and its options, the pure manifest builders
// (for inspection and tests), RBAC, and runs: plan, launch, follow, list, logs, cancel (runs.ts).

export type { RegistryCredentials } from "../storage/docker-credentials.ts";
export { type ConnectOptions, connect, type KubeClients } from "./client.ts";
export { isKubeClusterEnvironment, type KubeCallOptions, KubeClusterEnvironment } from "./environment.ts";
export { type ApiCall, translateApiError } from "./errors.ts";
export { flowModuleInImage, type LaunchProgress } from "./launcher.ts";
export {
  type Built,
  buildBrokerSecret,
  buildRunnerJob,
  buildWorkerPod,
  planWorkers,
  type RunIdentity,
  type Specs,
  type WorkerIdentity,
  type WorkerPlan,
} from "./manifests.ts";
export { jobName, Label, pullSecretName, runSelector } from "./names.ts";
export type { KubeClusterEnvironmentOptions, ResourceList, ResourceRequirements } from "./options.ts";
export {
  ADDED_AT_LAUNCH,
  chooseImage,
  type PlanInput,
  type PlannableEnvironment,
  planRun,
  printablePlan,
  type RunPlan,
} from "./plan.ts";
export { buildPullSecret, ensurePullSecret } from "./pull-secret.ts";
export { accessChecks, buildRbac, PERMISSIONS, type Permission, type RbacOptions } from "./rbac.ts";
export {
  cancelRun,
  environmentOf,
  followRunLogs,
  getRun,
  type KubernetesRunHandle,
  type KubernetesRunOptions,
  type LaunchKubernetesRunOptions,
  type ListRunsOptions,
  launchKubernetesRun,
  listRuns,
  type PlanKubernetesRunOptions,
  planKubernetesRun,
  type RunInfo,
  type RunLogsOptions,
  type RunStatus,
  type RunsOptions,
  runLogs,
  runState,
  type StreamRunLogsOptions,
  streamRunLogs,
} from "./runs.ts";
export { decodeTermination, encodeTermination, summarize, type TerminationSummary } from "./termination.ts";
