// The environment variables Flotilla's runner and worker processes read, named once: the pod
// manifests set them (src/kubernetes), LocalCluster passes the broker password through them, and
// `flotilla worker` / `flotilla execute` / the broker read them. Secret values travel only by
// these names (from a Secret's key in a pod), never in argv.

/** The names of the FLOTILLA_* (and downward API) environment variables of runner and worker. */
export const Env = {
  runId: "FLOTILLA_RUN_ID",
  flowModule: "FLOTILLA_FLOW_MODULE",
  flow: "FLOTILLA_FLOW",
  brokerUrl: "FLOTILLA_BROKER_URL",
  brokerPassword: "FLOTILLA_BROKER_PASSWORD",
  workerId: "FLOTILLA_WORKER_ID",
  concurrency: "FLOTILLA_CONCURRENCY",
  namespace: "FLOTILLA_NAMESPACE",
  terminationMessagePath: "FLOTILLA_TERMINATION_MESSAGE_PATH",
  image: "FLOTILLA_IMAGE",
  parameters: "FLOTILLA_PARAMETERS",
  /** The Flotilla server a runner reports to (a runner pod of a run launched with one). */
  apiUrl: "FLOTILLA_API_URL",
  /** The API token it reports with (from the per-run Secret by secretKeyRef, never a plain value). */
  apiToken: "FLOTILLA_API_TOKEN",
  podName: "POD_NAME",
  podIp: "POD_IP",
} as const;
