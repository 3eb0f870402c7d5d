// The node agent: watches pods bound to kube-sim-node, gives each a unique loopback IP and a PodWorker,
// and serves `pods/log` from the workers' container logs.
import type { ServerResponse } from "node:http";
import { badRequest } from "../errors.ts";
import type { KubeObject } from "../objects.ts";
import { NODE_NAME } from "../scheduler.ts";
import type { LogOptions, PodLogSource } from "../server.ts";
import { type KubeletContext, PodWorker } from "./pod-worker.ts";

export type { KubeletContext };

/**
 * Allocates consecutive loopback addresses (never 127.0.0.1), reusing released ones last. Each sim
 * starts at a random place in 127.1.0.1–127.254.x.y, so that two sims running at once (parallel
 * test files) do not hand out the same pod IP and collide on its ports.
 */
class LoopbackIpPool {
  private next = 1 + Math.floor(Math.random() * 250 * 254 * 254);
  private readonly free: string[] = [];

  allocate(): string {
    const reused = this.free.shift();
    if (reused) return reused;
    const n = this.next++;
    if (n >= 254 * 254 * 254) throw new Error("kube-sim: out of loopback pod IPs");
    const a = Math.floor(n / (254 * 254));
    const b = Math.floor(n / 254) % 254;
    const c = (n % 254) + 1;
    return `127.${a + 1}.${b}.${c}`;
  }

  release(ip: string): void {
    this.free.push(ip);
  }
}

export class Kubelet implements PodLogSource {
  private readonly workers = new Map<string, PodWorker>();
  private readonly ips = new LoopbackIpPool();
  private readonly unsubscribe: () => void;
  private stopping = false;

  constructor(ctx: KubeletContext) {
    this.unsubscribe = ctx.store.subscribe((e) => {
      if (e.resource !== "pods" || this.stopping) return;
      const uid = e.object.metadata.uid!;
      const worker = this.workers.get(uid);
      if (e.type === "DELETED") {
        if (worker) {
          worker.remove();
          this.workers.delete(uid);
          this.ips.release(worker.ip);
        }
        return;
      }
      if (worker) {
        worker.update(e.object);
        return;
      }
      if (e.object.spec?.nodeName !== NODE_NAME) return;
      const phase = e.object.status?.phase;
      if (phase === "Succeeded" || phase === "Failed") return;
      const w = new PodWorker(ctx, e.object, this.ips.allocate());
      this.workers.set(uid, w);
      setImmediate(() => {
        w.start();
        const current = ctx.store.get("pods", e.object.metadata.namespace, e.object.metadata.name!);
        if (current?.metadata.uid === uid) w.update(current);
      });
    });
  }

  processes(): { pod: string; namespace: string; container: string; pid: number }[] {
    return [...this.workers.values()].flatMap((w) => w.processes());
  }

  /** stop every container (SIGTERM, SIGKILL after graceMs) */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.unsubscribe();
    await Promise.all([...this.workers.values()].map((w) => w.kill(graceMs)));
    this.workers.clear();
  }

  async stream(pod: KubeObject, options: LogOptions, out: ServerResponse): Promise<void> {
    const name = pod.metadata.name!;
    const mains: string[] = (pod.spec?.containers ?? []).map((c: { name: string }) => c.name);
    const inits: string[] = (pod.spec?.initContainers ?? []).map((c: { name: string }) => c.name);
    let container = options.container;
    if (!container) {
      if (mains.length !== 1) {
        const initPart = inits.length ? ` or one of the init containers: [${inits.join(" ")}]` : "";
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${mains.join(" ")}]${initPart}`,
        );
      }
      container = mains[0]!;
    }
    if (!mains.includes(container) && !inits.includes(container))
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    const worker = this.workers.get(pod.metadata.uid!);
    const found = worker?.containerLog(container, options.previous);
    const waiting = found && "waiting" in found.state ? found.state.waiting.reason : "ContainerCreating";
    if (!found || (!found.log && !options.previous)) {
      throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ${waiting}`);
    }
    if (!found.log)
      throw badRequest(`previous terminated container "${container}" in pod "${name}" not found`);
    const log = found.log;
    if ("waiting" in found.state && !options.previous && log.read().length === 0 && !log.ended) {
      throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ${waiting}`);
    }
    out.writeHead(200, { "Content-Type": "text/plain", "Transfer-Encoding": "chunked" });
    out.write(log.read(options));
    if (!options.follow || options.previous) {
      out.end();
      return;
    }
    out.flushHeaders();
    await new Promise<void>((resolve) => {
      const unsubscribe = log.follow(
        (s) => out.write(s),
        () => {
          out.end();
          resolve();
        },
        options.timestamps,
      );
      out.on("close", () => {
        unsubscribe();
        resolve();
      });
    });
  }
}
