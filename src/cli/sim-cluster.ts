// The embedded cluster of `flotilla run --sim`: a kube-sim set up as
// `flotilla rbac -n default --service-account flotilla-launcher` prints (runner and launcher
// ServiceAccounts, Roles, RoleBindings), mapping the run's image to this checkout. The clients it
// gives are the launcher service account's, not the sim's admin: a `--sim` run proves the printed
// RBAC is enough. Only the CLI imports the simulator; the product never does. `prestartSimCluster`
// starts it while the flow module loads (the two are independent), holding SIGINT/SIGTERM until
// the run takes them over.

import * as k8s from "@kubernetes/client-node";
import { connect, type KubeClients } from "../kubernetes/client.ts";
import { buildRbac } from "../kubernetes/rbac.ts";
import { findProjectDir } from "../storage/project.ts";
import { stopSignals } from "./signals.ts";

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
  /**
   * Let `image` run this checkout too (the flow's image, known once the flow is loaded): called
   * before the run is launched, so before any pod pulls it.
   */
  mapImage(image: string): void;
  /** Stop every pod and the simulator; removes its temp folder. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Start a kube-sim whose Flotilla images (and those given to `mapImage`) run this checkout in
 * `projectDir`. It needs nothing of the flow, so `flotilla run --sim` starts it while the flow
 * module loads.
 */
export async function startSimCluster(projectDir: string): Promise<SimCluster> {
  const testing = await import("../testing/index.ts");
  // pods run in the flow's project, as the image's WORKDIR holds it; the table is the sim's own,
  // read at each pull, so an image mapped before the launch is found by the pods
  const images = testing.defaultImages(projectDir);
  const flotilla = images["*flotilla*"]!;
  const sim = await testing.KubeSim.start({ images });
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
    return {
      clients: connect({ kubeConfig: launcher.kubeConfig }),
      mapImage: (image) => {
        images[image] = flotilla;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A sim started before the flow was loaded, and the signals that arrived meanwhile. */
export interface PendingSim {
  /** The starting sim (rejects as startSimCluster does). */
  readonly cluster: Promise<SimCluster>;
  /** A SIGINT or SIGTERM came while the flow loaded: the run is cancelled before launch. */
  readonly stopped: () => boolean;
  /** Hand the signals over (the run listens from here on). */
  release(): void;
  /** Stop the sim, whether or not it started; releases the signals. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Start the embedded sim for a flow file now, before the flow is loaded: undefined when the file is
 * in no project (the run then fails on that, with its own message, and no sim is started).
 */
export function prestartSimCluster(flowFile: string, stderr?: NodeJS.WritableStream): PendingSim | undefined {
  const projectDir = findProjectDir(flowFile);
  if (projectDir === undefined) return undefined;
  const cluster = startSimCluster(projectDir);
  cluster.catch(() => {}); // awaited (and reported) by the run
  // a signal while the flow loads cancels the run before launch; the sim is stopped by the run
  const signals = stopSignals({ stopping: "cancelling the run", ...(stderr ? { stderr } : {}) });
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    signals.off();
  };
  return {
    cluster,
    stopped: () => signals.signal.aborted,
    release,
    stop: async () => {
      release();
      await cluster.then(
        (sim) => sim.stop(),
        () => {},
      );
    },
  };
}
