// The Node object kube-sim's kubelet registers for its single node at start: the labels, addresses,
// capacity/allocatable, conditions and nodeInfo a kubelet 1.32 reports (`kubectl get nodes`,
// `kubectl describe node`), with this host's kernel and architecture.
import { randomUUID } from "node:crypto";
import { arch, release } from "node:os";
import { timestamp } from "../objects.ts";
import { NODE_NAME } from "../scheduler.ts";

/** Go's GOARCH for this host */
function goArch(): string {
  const map: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    s390x: "s390x",
    ppc64: "ppc64le",
  };
  return map[arch()] ?? arch();
}

/** The Node as the kubelet creates it (status included: the kubelet writes both). */
export function nodeObject(
  capacity: { cpu: string; memory: string },
  kubeletVersion = "v1.32.4",
): Record<string, unknown> {
  const now = timestamp();
  const resources = { cpu: capacity.cpu, memory: capacity.memory, pods: "110", "ephemeral-storage": "100Gi" };
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
    reason,
    message,
  });
  const archName = goArch();
  return {
    metadata: {
      name: NODE_NAME,
      labels: {
        "beta.kubernetes.io/arch": archName,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": archName,
        "kubernetes.io/hostname": NODE_NAME,
        "kubernetes.io/os": "linux",
      },
      annotations: {
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
      },
    },
    spec: { podCIDR: "127.0.0.0/8", podCIDRs: ["127.0.0.0/8"] },
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [
        condition(
          "MemoryPressure",
          "False",
          "KubeletHasSufficientMemory",
          "kubelet has sufficient memory available",
        ),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
      ],
      addresses: [
        { type: "InternalIP", address: "127.0.0.1" },
        { type: "Hostname", address: NODE_NAME },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: randomUUID().replace(/-/g, ""),
        systemUUID: randomUUID(),
        bootID: randomUUID(),
        kernelVersion: release(),
        osImage: "kube-sim",
        containerRuntimeVersion: "kube-sim://1.0.0",
        kubeletVersion,
        kubeProxyVersion: "",
        operatingSystem: "linux",
        architecture: archName,
      },
    },
  };
}
