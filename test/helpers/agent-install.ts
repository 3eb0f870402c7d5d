// Test helper for the Kubernetes agent on kube-sim: a program run to its end with a FLOTILLA_HOME,
// and the agent's identity exactly as `flotilla agent install kubernetes --rbac` prints it, applied
// with kubectl as an admin would (kube-sim serves the RBAC objects; the Deployment is left to the
// test), then the agent's clients under its own ServiceAccount.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { connect, type KubeClients } from "../../src/kubernetes/client.ts";
import type { KubeSim } from "../../src/testing/index.ts";
import { root } from "./cli.ts";
import { kubectlPath } from "./system.ts";

// biome-ignore lint/suspicious/noExplicitAny: printed Kubernetes documents
type Loose = any;

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a program to its end (bounded) from the repository root, with `input` on its stdin, FLOTILLA_HOME
 * `home` and no FLOTILLA_API_URL.
 */
export function execWithHome(
  home: string,
  file: string,
  args: string[],
  input?: string,
  timeoutMs = 60_000,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FLOTILLA_HOME: home, FLOTILLA_API_URL: "" },
    });
    child.stdin.end(input ?? "");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${path.basename(file)} ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stderr}`),
      );
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `flotilla agent install kubernetes --rbac -n NAMESPACE --server URL --image IMAGE ...extra`: what it
 * printed and its documents; every one but the Deployment applied with `kubectl apply -f -` under
 * the sim's admin (kubectl's output returned); the agent's clients as its ServiceAccount.
 */
export async function installAgentRbac(options: {
  sim: KubeSim;
  home: string;
  namespace: string;
  serverUrl: string;
  image: string;
  extra?: string[];
}): Promise<{ installed: string; docs: Loose[]; appliedOutput: string; agentClients: KubeClients }> {
  const { sim, home, namespace } = options;
  const printed = await execWithHome(home, process.execPath, [
    path.join(root, "bin/flotilla.js"),
    ...["agent", "install", "kubernetes", "--rbac", "-n", namespace],
    ...["--server", options.serverUrl, "--image", options.image, ...(options.extra ?? [])],
  ]);
  assert.equal(printed.code, 0, printed.stderr);
  const docs = parseAllDocuments(printed.stdout).map((d) => d.toJS() as Loose);
  const kubeconfig = path.join(home, "admin.kubeconfig");
  writeFileSync(kubeconfig, sim.kubeConfig().exportConfig());
  // kubectl talks to the kube-sim of this process: spawned, never spawnSync
  const applied = await execWithHome(
    home,
    kubectlPath(),
    ["--kubeconfig", kubeconfig, "apply", "-f", "-"],
    docs
      .filter((d) => d.kind !== "Deployment")
      .map((d) => stringify(d))
      .join("---\n"),
  );
  assert.equal(applied.code, 0, applied.stderr);
  const agentClients = connect({
    kubeConfig: (await sim.serviceAccountKubeconfig(namespace, "flotilla-agent")).kubeConfig,
  });
  return { installed: printed.stdout, docs, appliedOutput: applied.stdout, agentClients };
}
