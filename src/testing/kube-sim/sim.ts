// KubeSim: wires store, API server, controllers, scheduler and kubelet into one simulated cluster on
// 127.0.0.1, and offers the test-facing helpers (kubeconfigs, processes, objects, waitFor, stop).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { DeploymentController } from "./controllers/deployment.ts";
import { GarbageCollector } from "./controllers/gc.ts";
import { JobController } from "./controllers/job.ts";
import { NamespaceController } from "./controllers/namespace.ts";
import { ReplicaSetController } from "./controllers/replicaset.ts";
import { KUBERNETES_VERSION, parseVersion } from "./discovery.ts";
import { EventRecorder } from "./events.ts";
import type { ImageSpec } from "./images.ts";
import { type ClusterEndpoint, writeKubeconfig } from "./kubeconfig.ts";
import { Kubelet, type KubeletContext } from "./kubelet/kubelet.ts";
import { nodeObject } from "./kubelet/node.ts";
import type { KubeObject } from "./objects.ts";
import { ADMIN_USER, RbacAuthorizer, TokenAuthenticator } from "./rbac.ts";
import { Registry } from "./registry.ts";
import { resourceById } from "./resources.ts";
import { Scheduler } from "./scheduler.ts";
import { ApiServer, type AuditedRequest } from "./server.ts";
import { Store } from "./store.ts";

export interface KubeSimOptions {
  /** image table; key: exact image ref, or a glob with `*` (e.g. `redis:*`, `*\/flotilla-*:*`) */
  images?: Record<string, ImageSpec>;
  /** node allocatable @default { cpu: "8", memory: "32Gi" } */
  capacity?: { cpu: string; memory: string };
  /** registry hosts whose images need a matching kubernetes.io/dockerconfigjson pull secret */
  privateRegistries?: string[];
  /** where to write the admin kubeconfig @default a file in a temp dir */
  kubeconfigPath?: string;
  /** created at start, besides "default" and "kube-system" */
  namespaces?: string[];
  /** @default "silent" */
  logLevel?: "silent" | "info";
  /** watch events kept for resuming; older resourceVersions get 410 Expired @default 5000 */
  watchHistory?: number;
  /**
   * The Kubernetes version GET /version and the node report, e.g. `1.28.9` to try what a client
   * does against an older cluster. Only the reported version changes: the API served stays 1.32's.
   * @default "1.32.4"
   */
  serverVersion?: string;
}

/** What a KubeSim saw from `record()` on: see {@link KubeSim.record}. */
export interface SimRecording {
  /** every version of every object written (created, changed, deleted), as JSON, in order */
  objects(): string[];
  /** every API request made, in order (an audit log: user, verb, resource, namespace, name, query) */
  requests(): AuditedRequest[];
  /** everything each container instance printed, stdout and stderr interleaved */
  output(): { namespace: string; pod: string; container: string; text: string }[];
  /** stop recording (what was recorded stays readable) */
  stop(): void;
}

export interface SimProcess {
  pod: string;
  namespace: string;
  container: string;
  pid: number;
}

/** Objects handed to tests: arbitrary API JSON. */
// biome-ignore lint/suspicious/noExplicitAny: assertion helpers over arbitrary API objects
type Loose = any;

const DEFAULT_CAPACITY = { cpu: "8", memory: "32Gi" };

/** grace for containers still running when the sim stops */
const STOP_GRACE_MS = 2000;

const RESOURCE_ALIASES: Record<string, string> = {
  jobs: "jobs.batch",
  deployments: "deployments.apps",
  replicasets: "replicasets.apps",
  roles: "roles.rbac.authorization.k8s.io",
  rolebindings: "rolebindings.rbac.authorization.k8s.io",
};

const live = new Set<KubeSim>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // last resort if a test process exits without stop(): kill every container process group
  process.on("exit", () => {
    for (const sim of live)
      for (const p of sim.processes()) {
        try {
          process.kill(-p.pid, "SIGKILL");
        } catch {
          // gone
        }
      }
  });
}

export class KubeSim {
  readonly url: string;
  readonly kubeconfigPath: string;
  /**
   * The same port over https: kubeconfigs point here because client-go (kubectl) never sends bearer
   * tokens over plain http.
   */
  readonly serverUrl: string;
  private readonly adminKubeConfig: KubeConfig;
  private readonly endpoint: ClusterEndpoint;
  private stopped: Promise<void> | undefined;

  private constructor(
    private readonly store: Store,
    private readonly api: ApiServer,
    private readonly authenticator: TokenAuthenticator,
    private readonly kubelet: Kubelet,
    private readonly controllers: { stop(): void }[],
    private readonly dir: string,
    private readonly ownsDir: boolean,
    url: string,
    kubeconfigPath: string,
  ) {
    this.url = url;
    this.serverUrl = url.replace(/^http:/, "https:");
    this.kubeconfigPath = kubeconfigPath;
    this.endpoint = { server: this.serverUrl, caCert: api.certificate };
    this.adminKubeConfig = writeKubeconfig(
      kubeconfigPath,
      this.endpoint,
      authenticator.adminToken,
      "kube-sim-admin",
    );
  }

  static async start(options: KubeSimOptions = {}): Promise<KubeSim> {
    // a malformed version is refused before anything is started
    if (options.serverVersion !== undefined) parseVersion(options.serverVersion);
    const dir = mkdtempSync(join(tmpdir(), "kube-sim-"));
    const log = options.logLevel === "info" ? (e: unknown) => console.error("kube-sim:", e) : () => {};
    const store = new Store(options.watchHistory);
    const authenticator = new TokenAuthenticator(store);
    const authorizer = new RbacAuthorizer(store);
    const registry = new Registry(store, authorizer);
    const events = new EventRecorder(store, registry);
    let endpoint: ClusterEndpoint = { server: "", caCert: "" };
    const taps = new Set<NonNullable<KubeletContext["onOutput"]>>();
    const kubelet = new Kubelet({
      store,
      registry,
      events,
      authenticator,
      images: options.images ?? {},
      privateRegistries: options.privateRegistries ?? [],
      get api() {
        return endpoint;
      },
      baseDir: dir,
      backoffMs: 1,
      onError: log,
      onOutput: (where, chunk) => {
        for (const tap of taps) tap(where, chunk);
      },
    });
    const audits = new Set<(r: AuditedRequest) => void>();
    const api = new ApiServer({
      store,
      registry,
      authenticator,
      authorizer,
      logs: kubelet,
      ...(options.serverVersion ? { version: options.serverVersion } : {}),
      onRequest: (r) => {
        for (const a of audits) a(r);
      },
    });
    const context = { store, registry, events, onError: log };
    const controllers = [
      new NamespaceController(context),
      new GarbageCollector(context),
      new JobController(context),
      new DeploymentController(context),
      new ReplicaSetController(context),
      new Scheduler(context, options.capacity ?? DEFAULT_CAPACITY),
    ];
    const port = await api.listen();
    const url = `http://127.0.0.1:${port}`;
    endpoint = { server: `https://127.0.0.1:${port}`, caCert: api.certificate };
    registry.create(
      resourceById("nodes"),
      undefined,
      nodeObject(
        options.capacity ?? DEFAULT_CAPACITY,
        `v${options.serverVersion ? options.serverVersion.replace(/^v/, "") : KUBERNETES_VERSION}`,
      ),
      {
        user: ADMIN_USER,
      },
    );
    const nsRt = resourceById("namespaces");
    for (const ns of new Set(["default", "kube-system", ...(options.namespaces ?? [])])) {
      registry.create(nsRt, undefined, { metadata: { name: ns } }, { user: ADMIN_USER });
    }
    const kubeconfigPath = options.kubeconfigPath ?? join(dir, "kubeconfig");
    mkdirSync(dirname(kubeconfigPath), { recursive: true });
    const sim = new KubeSim(store, api, authenticator, kubelet, controllers, dir, true, url, kubeconfigPath);
    sim.taps = taps;
    sim.audits = audits;
    live.add(sim);
    installExitHook();
    // the default service accounts exist before start() resolves
    for (const ns of new Set(["default", "kube-system", ...(options.namespaces ?? [])])) {
      await sim.waitFor("serviceaccounts", ns, "default", (o) => o !== undefined, 5000);
    }
    return sim;
  }

  /** @kubernetes/client-node KubeConfig for the admin user */
  kubeConfig(): KubeConfig {
    return this.adminKubeConfig;
  }

  /** Mint a kubeconfig file and KubeConfig for a service account, as TokenRequest does. */
  async serviceAccountKubeconfig(
    namespace: string,
    name: string,
  ): Promise<{ path: string; kubeConfig: KubeConfig; token: string }> {
    const sa = this.store.get("serviceaccounts", namespace, name);
    if (!sa) throw new Error(`kube-sim: serviceaccount ${namespace}/${name} not found`);
    const token = this.authenticator.mintForServiceAccount(namespace, name, sa.metadata.uid);
    const path = join(this.dir, `kubeconfig-${namespace}-${name}-${Date.now().toString(36)}`);
    const kubeConfig = writeKubeconfig(
      path,
      this.endpoint,
      token,
      `system:serviceaccount:${namespace}:${name}`,
      namespace,
    );
    return { path, kubeConfig, token };
  }

  /** every live host process the kubelet started */
  processes(): SimProcess[] {
    return this.kubelet.processes();
  }

  /** all stored objects of a resource (`pods`, `jobs`, `events`…), optionally in one namespace */
  objects(resource: string, namespace?: string): Loose[] {
    const id = RESOURCE_ALIASES[resource] ?? resource;
    return this.store.list(id, namespace).map((o) => ({ ...o }));
  }

  /** Resolves with the object once `predicate` holds (re-checked on every change to it); rejects after timeoutMs. */
  waitFor(
    resource: string,
    namespace: string,
    name: string,
    predicate: (obj: Loose | undefined) => boolean,
    timeoutMs = 10_000,
  ): Promise<Loose> {
    const id = RESOURCE_ALIASES[resource] ?? resource;
    const ns = resourceById(id).namespaced ? namespace : undefined;
    return new Promise((resolve, reject) => {
      let last: KubeObject | undefined = this.store.get(id, ns, name);
      const check = (): boolean => {
        if (!predicate(last)) return false;
        cleanup();
        resolve(last);
        return true;
      };
      const unsubscribe = this.store.subscribe((e) => {
        if (e.resource !== id || e.object.metadata.name !== name || e.object.metadata.namespace !== ns)
          return;
        last = e.type === "DELETED" ? undefined : e.object;
        check();
      });
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `kube-sim: timed out after ${timeoutMs}ms waiting for ${resource} ${namespace}/${name}; last seen: ${JSON.stringify(last?.status ?? last ?? null)}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        unsubscribe();
      };
      check();
    });
  }

  private taps = new Set<NonNullable<KubeletContext["onOutput"]>>();
  private audits = new Set<(r: AuditedRequest) => void>();

  /**
   * Record, from now on, every version of every object written, every API request (an audit log) and
   * everything every container prints, including objects and pods deleted since: for tests that scan a whole run for what must never
   * appear anywhere (a secret in any encoding). Unbounded: stop() it when done.
   */
  record(): SimRecording {
    const objects: string[] = [];
    const output = new Map<string, { namespace: string; pod: string; container: string; text: string }>();
    const unsubscribe = this.store.subscribe((e) => objects.push(JSON.stringify(e.object)));
    const requests: AuditedRequest[] = [];
    const audit = (r: AuditedRequest) => requests.push(r);
    this.audits.add(audit);
    const tap: NonNullable<KubeletContext["onOutput"]> = (where, chunk) => {
      const key = `${where.namespace}/${where.pod}/${where.container}`;
      const entry = output.get(key) ?? { ...where, text: "" };
      entry.text += chunk.toString();
      output.set(key, entry);
    };
    this.taps.add(tap);
    return {
      objects: () => [...objects],
      requests: () => [...requests],
      output: () => [...output.values()].map((o) => ({ ...o })),
      stop: () => {
        unsubscribe();
        this.taps.delete(tap);
        this.audits.delete(audit);
      },
    };
  }

  /**
   * Resolves once `check()` holds, re-checked on every stored change (and every 100 ms, for what the
   * store does not show, such as a container process exiting); rejects after timeoutMs naming `what`.
   */
  until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        clearInterval(poll);
        unsubscribe();
        if (error) reject(error);
        else resolve();
      };
      const attempt = () => {
        try {
          if (check()) done();
        } catch (error) {
          done(error as Error);
        }
      };
      const unsubscribe = this.store.subscribe(() => attempt());
      const poll = setInterval(attempt, 100);
      const timer = setTimeout(
        () => done(new Error(`kube-sim: timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      attempt();
    });
  }

  /** Kill every process (SIGTERM, then SIGKILL), close the server. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      for (const c of this.controllers) c.stop();
      await this.kubelet.stop(STOP_GRACE_MS);
      await this.api.close();
      live.delete(this);
      if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }
}
