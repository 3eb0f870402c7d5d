// The embedded cluster of `flotilla run --sim`: a kube-sim set up as
// `flotilla rbac -n default --service-account flotilla-launcher` prints (runner and launcher
// ServiceAccounts, Roles, RoleBindings), mapping the run's image to this checkout. The clients it
// gives are the launcher service account's, not the sim's admin: a `--sim` run proves the printed
// RBAC is enough. Only the CLI imports the simulator; the product never does.

import * as k8s from "@kubernetes/client-node";
import { connect, type KubeClients } from "../kubernetes/client.ts";
import { buildRbac } from "../kubernetes/rbac.ts";

/** The image `--sim` runs when the flow names none: kube-sim maps it to this checkout. */
export const SIM_IMAGE = "flotilla.local/flow:sim";

/** The service account `--sim` launches as: it holds exactly the launcher Role `flotilla rbac` prints. */
export const SIM_LAUNCHER_SERVICE_ACCOUNT = "flotilla-launcher";

/** The namespace `--sim` runs in. */
export const SIM_NAMESPACE = "default";

/** A started embedded cluster. */
export interface SimCluster {
  /** The launcher service account's clients. */
  clients: KubeClients;
  /** Stop every pod and the simulator; removes its temp folder. Idempotent. */
  stop(): Promise<void>;
}

/** Start a kube-sim whose `image` (and Flotilla's images) run this checkout in `projectDir`. */
export async function startSimCluster(image: string, projectDir: string): Promise<SimCluster> {
  const testing = await import("../testing/index.ts");
  // pods run in the flow's project, as the image's WORKDIR holds it
  const images = testing.defaultImages(projectDir);
  const flotilla = images["*flotilla*"]!;
  const sim = await testing.KubeSim.start({ images: { ...images, [image]: flotilla } });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= sim.stop();
    return stopping;
  };
  try {
    const namespace = SIM_NAMESPACE;
    const kc = sim.kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: SIM_LAUNCHER_SERVICE_ACCOUNT } },
    });
    const objects = buildRbac({ namespace, launcherServiceAccount: SIM_LAUNCHER_SERVICE_ACCOUNT });
    await Promise.all(
      objects.map((o) => {
        if (o.kind === "ServiceAccount")
          return core.createNamespacedServiceAccount({ namespace, body: o as never });
        if (o.kind === "Role") return rbac.createNamespacedRole({ namespace, body: o as never });
        return rbac.createNamespacedRoleBinding({ namespace, body: o as never });
      }),
    );
    const launcher = await sim.serviceAccountKubeconfig(namespace, SIM_LAUNCHER_SERVICE_ACCOUNT);
    return { clients: connect({ kubeConfig: launcher.kubeConfig }), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
