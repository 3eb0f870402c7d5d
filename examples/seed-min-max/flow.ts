// The seed's first example: an autoscaling cluster of 1 to 3 workers per run.
// Prefect: Flow("...", environment=DaskKubernetesEnvironment(min_workers=1, max_workers=3))

import { Flow, task } from "flotilla";
import { KubeClusterEnvironment } from "flotilla/kubernetes";

const getValue = task("get-value", async () => "Example!");
const outputValue = task("output-value", async (value: string) => console.log(value));

export const flow = new Flow("Min / Max Workers Kubernetes Example", {
  environment: new KubeClusterEnvironment({ minWorkers: 1, maxWorkers: 3 }),
});

// set task dependencies using the imperative API, as in the seed
outputValue.setUpstream(getValue, { flow });
outputValue.bind({ value: getValue }, { flow });
