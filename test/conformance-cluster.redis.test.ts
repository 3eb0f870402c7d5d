// The engine conformance suite on ClusterExecutor with a LocalCluster of 2 worker processes.
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { conformance } from "./conformance.ts";

conformance(
  "ClusterExecutor + LocalCluster",
  () => new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 2, maxWorkers: 2 }) }),
);
