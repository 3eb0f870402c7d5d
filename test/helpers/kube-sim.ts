// Shared helpers for the kube-sim tests: a kube-sim whose flow image runs this checkout's bin, Status
// bodies from client-node errors, small images, and the RBAC objects `flotilla rbac` prints, applied
// as an admin would.
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { buildRbac } from "../../src/kubernetes/rbac.ts";
import { defaultImages, type ImageSpec, KubeSim, type KubeSimOptions } from "../../src/testing/index.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * A kube-sim with `flotilla sim`'s image table (pods' cwd the repository), `extraImages` over it, and
 * `image` run as Flotilla's own image (this checkout's bin), as the Kubernetes tests' flow image.
 */
export function startFlotillaSim(
  image: string,
  options: Omit<KubeSimOptions, "images"> & { extraImages?: Record<string, ImageSpec> } = {},
): Promise<KubeSim> {
  const { extraImages, ...rest } = options;
  const images = defaultImages(ROOT);
  return KubeSim.start({ ...rest, images: { ...images, ...extraImages, [image]: images["*flotilla*"]! } });
}

export interface StatusBody {
  kind: string;
  apiVersion: string;
  metadata: Record<string, unknown>;
  status: string;
  message: string;
  reason: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason: string; message: string; field?: string }[];
  };
  code: number;
}

/** Run `fn`, expect an ApiException, and return its parsed Status body. */
export async function apiError(fn: () => Promise<unknown>): Promise<StatusBody & { httpCode: number }> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      const body = typeof e.body === "string" ? JSON.parse(e.body) : e.body;
      return { ...(body ?? {}), httpCode: e.code };
    }
    throw e;
  }
  throw new Error("expected the call to fail");
}

/** `busybox:1` runs its args through /bin/sh -c, like `sh -c "<script>"`. */
export const TEST_IMAGES: Record<string, ImageSpec> = {
  "busybox:1": { entrypoint: ["/bin/sh", "-c"], commands: { sh: ["/bin/sh"] } },
  "node:20": { entrypoint: [process.execPath], commands: { node: [process.execPath] }, cwd: process.cwd() },
  "registry.example.com/private/app:1": { entrypoint: ["/bin/sh", "-c"] },
};

export const shPod = (name: string, script: string, extra: Record<string, unknown> = {}): k8s.V1Pod => ({
  metadata: { name },
  spec: {
    restartPolicy: "Never",
    containers: [{ name: "main", image: "busybox:1", args: [script] }],
    ...extra,
  },
});

export const strategic = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch);
export const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
export const jsonPatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch);

export { groupAlive } from "../../src/testing/kube-sim/kubelet/process.ts";

/**
 * Apply what `flotilla rbac -n NAMESPACE` prints (the runner's ServiceAccount, Role and RoleBinding;
 * with `launcher`, also the launcher's Role bound to that ServiceAccount, which is created first), as
 * an admin would with `kubectl apply`. `create` wraps each API call (kube-e2e's tolerates objects a
 * real cluster already has).
 */
export async function applyRbac(
  kc: k8s.KubeConfig,
  namespace: string,
  options: { launcher?: string; create?: (call: () => Promise<unknown>) => Promise<unknown> } = {},
): Promise<void> {
  const create = options.create ?? ((call) => call());
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  if (options.launcher) {
    const body = { metadata: { name: options.launcher } };
    await create(() => core.createNamespacedServiceAccount({ namespace, body }));
  }
  const objects = buildRbac({
    namespace,
    ...(options.launcher ? { launcherServiceAccount: options.launcher } : {}),
  }) as { kind: string }[];
  for (const o of objects) {
    const body = o as never;
    if (o.kind === "ServiceAccount")
      await create(() => core.createNamespacedServiceAccount({ namespace, body }));
    if (o.kind === "Role") await create(() => rbac.createNamespacedRole({ namespace, body }));
    if (o.kind === "RoleBinding") await create(() => rbac.createNamespacedRoleBinding({ namespace, body }));
  }
}
