// Kubeconfig files for kube-sim: plain http with skipTLSVerify (client-node 1.4 refuses http otherwise),
// cluster and context "kube-sim", a bearer-token user.
import { writeFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";

export function kubeconfigYaml(server: string, token: string, user: string, namespace = "default"): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "kube-sim", cluster: { server, "insecure-skip-tls-verify": true } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: "kube-sim", context: { cluster: "kube-sim", user, namespace } }],
    "current-context": "kube-sim",
    preferences: {},
  });
}

export function writeKubeconfig(
  path: string,
  server: string,
  token: string,
  user: string,
  namespace = "default",
): KubeConfig {
  const text = kubeconfigYaml(server, token, user, namespace);
  writeFileSync(path, text, { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}
