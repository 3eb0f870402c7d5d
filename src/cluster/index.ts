// `flotilla/cluster`: the worker cluster on Redis + BullMQ. A subpath of its own so that importing
// `flotilla` in a flow module does not load BullMQ and ioredis where no cluster is used.

export { ClusterExecutor, type ClusterExecutorOptions } from "../executors/cluster-executor.ts";
export { type Bounds, type Decision, demand, type Observed, plan } from "./adaptive.ts";
export type {
  BrokerLease,
  Cluster,
  ClusterHooks,
  ClusterRun,
  ClusterSession,
  ProviderEvent,
  WorkerLaunch,
  WorkerProvider,
} from "./cluster.ts";
export { type LocalBroker, type LocalBrokerOptions, startLocalBroker } from "./local-broker.ts";
export { LocalCluster, type LocalClusterOptions } from "./local-cluster.ts";
