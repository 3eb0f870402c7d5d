// Kubeconfig files for kube-sim: the https URL with the sim's own certificate as
// `certificate-authority-data` (verified as on a real cluster), cluster and context "kube-sim", a
// bearer-token user.
import { writeFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";

/** Where a kubeconfig points: the https URL and the PEM certificate that signs the server's. */
export interface ClusterEndpoint {
  server: string;
  caCert: string;
}

export function kubeconfigYaml(
  cluster: ClusterEndpoint,
  token: string,
  user: string,
  namespace = "default",
): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "kube-sim",
        cluster: {
          server: cluster.server,
          "certificate-authority-data": Buffer.from(cluster.caCert).toString("base64"),
        },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: "kube-sim", context: { cluster: "kube-sim", user, namespace } }],
    "current-context": "kube-sim",
    preferences: {},
  });
}

export function writeKubeconfig(
  path: string,
  cluster: ClusterEndpoint,
  token: string,
  user: string,
  namespace = "default",
): KubeConfig {
  const text = kubeconfigYaml(cluster, token, user, namespace);
  writeFileSync(path, text, { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}
