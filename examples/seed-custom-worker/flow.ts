// The seed's second example: a custom worker pod spec (worker_spec.yaml, next to this file, the
// seed's YAML verbatim) and the flow's code in an image built by DockerStorage.
// Prefect: DaskKubernetesEnvironment(worker_spec_file="worker_spec.yaml"),
//          storage=Docker(registry_url="gcr.io/dev/", image_name="dask-k8s-flow", image_tag="0.1.0")
//
// The spec's `replicas: 2` starts two workers; its dask-worker args are translated
// (`--nthreads 2` → two task runs per worker) and replaced by `flotilla worker`.

import { DockerStorage, Flow, task } from "flotilla";
import { KubeClusterEnvironment } from "flotilla/kubernetes";

const getValue = task("get-value", async () => "Example!");
const outputValue = task("output-value", async (value: string) => console.log(value));

export const flow = new Flow("Custom Worker Spec Kubernetes Example", {
  environment: new KubeClusterEnvironment({ workerSpecFile: "worker_spec.yaml" }),
  storage: new DockerStorage({ registryUrl: "gcr.io/dev/", imageName: "dask-k8s-flow", imageTag: "0.1.0" }),
});

// set task dependencies using the imperative API, as in the seed
outputValue.setUpstream(getValue, { flow });
outputValue.bind({ value: getValue }, { flow });
