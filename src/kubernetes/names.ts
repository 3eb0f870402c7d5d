// Names and labels of every Kubernetes object Flotilla creates. Names are deterministic from the
// flow and the run id (so a retried create is a 409, not a duplicate), always valid DNS-1123, and
// every object carries the same label set so teardown and `flotilla runs` work by label.

/** Label keys Flotilla sets on everything it creates. */
export const Label = {
  flow: "flotilla.io/flow",
  runId: "flotilla.io/flow-run-id",
  component: "flotilla.io/component",
  worker: "flotilla.io/worker-id",
  managedBy: "app.kubernetes.io/managed-by",
} as const;

export const MANAGED_BY = "flotilla";

/** What an object is for, in the `flotilla.io/component` label. */
export type Component = "runner" | "worker" | "broker-secret" | "pull-secret";

/** The container Flotilla runs in a custom spec when present, else the first. */
export const FLOTILLA_CONTAINER = "flotilla";
export const BROKER_CONTAINER = "broker";
export const BROKER_PORT = 6379;
export const BROKER_PASSWORD_KEY = "password";
/** The per-run Secret's key holding the run's parameters as JSON (never a plain env value). */
export const PARAMETERS_KEY = "parameters";
/**
 * The per-run Secret's key holding the run's own API token (scope runner, usable only for this
 * run's reporting), present when the run reports to a Flotilla server.
 */
export const API_TOKEN_KEY = "api-token";
export const TERMINATION_MESSAGE_PATH = "/dev/termination-log";

/**
 * A DNS-1123 label made from any text: lower case, `[a-z0-9-]`, no leading/trailing `-`, at most
 * `max` characters. `DOCKER_REGISTRY_CREDENTIALS` → `docker-registry-credentials`.
 */
function dns1123(text: string, max = 63): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, max)
    .replace(/-+$/g, "");
  return s === "" ? "x" : s;
}

/** A label value (≤ 63 chars, alphanumeric at both ends) made from a flow name. */
export function labelValue(text: string): string {
  return dns1123(text, 63);
}

/** The first 8 characters of a run id, as used in object names. */
export function run8(runId: string): string {
  return dns1123(runId).replace(/-/g, "").slice(0, 8) || "run";
}

/** `flotilla-<flow-slug>-<run8>`: the runner Job's name (≤ 52 chars, so pod names fit in 63). */
export function jobName(flowName: string, runId: string): string {
  const suffix = `-${run8(runId)}`;
  const slug = dns1123(flowName, 52 - "flotilla-".length - suffix.length);
  return `flotilla-${slug}${suffix}`;
}

/** The per-run broker Secret's name. */
export function brokerSecretName(flowName: string, runId: string): string {
  return brokerSecretNameOfJob(jobName(flowName, runId));
}

/** The name of worker `index` of a run (unique per run, stable for a worker id). */
export function workerPodName(flowName: string, runId: string, workerId: string): string {
  return `${jobName(flowName, runId)}-w-${dns1123(workerId, 8)}`;
}

/** The Kubernetes pull Secret named after the Flotilla secret `dockerSecret`. */
export function pullSecretName(dockerSecret: string): string {
  return dns1123(dockerSecret, 253);
}

/** The labels of one object of a run. */
export function runLabels(flowName: string, runId: string, component: Component): Record<string, string> {
  return {
    [Label.flow]: labelValue(flowName),
    [Label.runId]: labelValue(runId),
    [Label.component]: component,
    [Label.managedBy]: MANAGED_BY,
  };
}

/** The label selector of every object of a run, or of its objects of one `component`. */
export function runSelector(runId: string, component?: Component): string {
  const selector = `${Label.runId}=${labelValue(runId)},${Label.managedBy}=${MANAGED_BY}`;
  return component === undefined ? selector : `${selector},${Label.component}=${component}`;
}

/** The broker Secret of a runner Job, from the Job's name. */
export function brokerSecretNameOfJob(job: string): string {
  return `${job}-broker`;
}
