// The engine conformance suite on ClusterExecutor with a LocalCluster of 2 worker processes.
import { describe } from "node:test";
import { LocalCluster } from "../src/cluster/local-cluster.ts";
import { ClusterExecutor } from "../src/executors/cluster-executor.ts";
import { conformance } from "./conformance.ts";

describe("ClusterExecutor + LocalCluster", { timeout: 600_000 }, () =>
  conformance(
    "ClusterExecutor + LocalCluster",
    () => new ClusterExecutor({ cluster: new LocalCluster({ minWorkers: 2, maxWorkers: 2 }) }),
  ),
);
