// flotilla/testing: test helpers for Flotilla and its users — kube-sim, a simulated Kubernetes cluster
// whose pods run as local processes.
export { defaultImages, flotillaBin } from "./kube-sim/default-images.ts";
export type { ImageSpec } from "./kube-sim/images.ts";
export type { AuditedRequest } from "./kube-sim/server.ts";
export { KubeSim, type KubeSimOptions, type SimProcess, type SimRecording } from "./kube-sim/sim.ts";
