// One pod's life on the node: image pulls, init containers in order (native sidecars started and left
// running), main containers with restart policy and CrashLoopBackOff, the phase and conditions Kubernetes
// computes, graceful termination (SIGTERM, SIGKILL at the deadline), and the final delete.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SERVICE_ACCOUNT_MOUNT_PATH } from "../admission.ts";
import type { EventRecorder } from "../events.ts";
import { canonicalImage, type ImageSpec, pullImage } from "../images.ts";
import { type ClusterEndpoint, writeKubeconfig } from "../kubeconfig.ts";
import { isObject, type KubeObject, timestamp } from "../objects.ts";
import type { TokenAuthenticator } from "../rbac.ts";
import type { Registry } from "../registry.ts";
import { resourceById } from "../resources.ts";
import type { Store } from "../store.ts";
import { containerEnv, EnvError, expandArgs } from "./env.ts";
import { ContainerLog } from "./logs.ts";
import { type ExecContext, runProbe } from "./probes.ts";
import { type Exit, launch, resolveArgv, signalGroup } from "./process.ts";
import { mountRewriter, prepareVolumes } from "./volumes.ts";

export interface KubeletContext {
  store: Store;
  registry: Registry;
  events: EventRecorder;
  authenticator: TokenAuthenticator;
  images: Record<string, ImageSpec>;
  privateRegistries: string[];
  /** the API server's https URL and certificate, for the pod's kubeconfig */
  api: ClusterEndpoint;
  /** per-pod host directories live under here */
  baseDir: string;
  /** scale for back-off delays (1 = kube-sim defaults) */
  backoffMs: number;
  onError: (e: unknown) => void;
  /** every chunk any container writes (stdout and stderr), for KubeSim.record() */
  onOutput?: (where: { namespace: string; pod: string; container: string }, chunk: Buffer | string) => void;
}

type ContainerKind = "init" | "sidecar" | "main";

type State =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
        containerID?: string;
      };
    };

const PODS = resourceById("pods");
const MAX_MESSAGE = 4096;

class Container {
  state: State;
  lastState: State | undefined;
  restartCount = 0;
  ready = false;
  /** startupProbe passed (or none): what `containerStatuses[].started` says */
  started = false;
  /** an instance was started and has not exited (the phase's "running or restarting") */
  launched = false;
  /** counts started instances, so a probe loop knows its instance has gone */
  instance = 0;
  /** what exec probes of the current instance run with */
  exec: ExecContext | undefined;
  imageID = "";
  containerID = "";
  pid: number | undefined;
  exited: Promise<Exit> | undefined;
  log = new ContainerLog();
  previousLog: ContainerLog | undefined;
  image: ImageSpec | undefined;

  constructor(
    readonly spec: Record<string, unknown>,
    readonly kind: ContainerKind,
    initialReason: string,
  ) {
    this.state = { waiting: { reason: initialReason } };
  }

  get name(): string {
    return String(this.spec.name);
  }

  get running(): boolean {
    return "running" in this.state;
  }

  get terminated(): boolean {
    return "terminated" in this.state;
  }

  status(): Record<string, unknown> {
    return {
      name: this.name,
      state: this.state,
      lastState: this.lastState ?? {},
      ready: this.ready,
      restartCount: this.restartCount,
      image: String(this.spec.image),
      imageID: this.imageID,
      ...(this.containerID ? { containerID: this.containerID } : {}),
      started: this.started,
    };
  }
}

export class PodWorker {
  private readonly containers: Container[];
  private readonly dir: string;
  /** host folders of the pod's volumes, made at its first container start */
  private volumeDirs: Map<string, string> | undefined;
  private podIP: string;
  private initialized = false;
  private terminalPhase: "Succeeded" | "Failed" | undefined;
  private deleting = false;
  private removed = false;
  private readonly stopWaiters = new Set<() => void>();
  private pod: KubeObject;

  constructor(
    private readonly ctx: KubeletContext,
    pod: KubeObject,
    ip: string,
  ) {
    this.pod = pod;
    this.podIP = ip;
    this.dir = join(ctx.baseDir, "pods", pod.metadata.uid!);
    const spec = pod.spec ?? {};
    const inits: Record<string, unknown>[] = spec.initContainers ?? [];
    const mains: Record<string, unknown>[] = spec.containers ?? [];
    const hasInits = inits.length > 0;
    this.containers = [
      ...inits.map(
        (c) =>
          new Container(
            c,
            c.restartPolicy === "Always" ? "sidecar" : "init",
            hasInits ? "PodInitializing" : "ContainerCreating",
          ),
      ),
      ...mains.map((c) => new Container(c, "main", hasInits ? "PodInitializing" : "ContainerCreating")),
    ];
    for (const c of this.containers)
      if (c.kind !== "main") c.state = { waiting: { reason: "PodInitializing" } };
    if (this.containers[0] && this.containers[0].kind !== "main")
      this.containers[0].state = { waiting: { reason: "ContainerCreating" } };
  }

  get ip(): string {
    return this.podIP;
  }

  get uid(): string {
    return this.pod.metadata.uid!;
  }

  /** live host processes of this pod */
  processes(): { pod: string; namespace: string; container: string; pid: number }[] {
    return this.containers
      .filter((c) => c.pid !== undefined)
      .map((c) => ({
        pod: this.pod.metadata.name!,
        namespace: this.pod.metadata.namespace!,
        container: c.name,
        pid: c.pid!,
      }));
  }

  containerLog(
    name: string,
    previous: boolean,
  ): { log: ContainerLog | undefined; state: State; kind: ContainerKind } | undefined {
    const c = this.containers.find((x) => x.name === name);
    if (!c) return undefined;
    return { log: previous ? c.previousLog : c.log, state: c.state, kind: c.kind };
  }

  start(): void {
    this.run().catch((e) => this.ctx.onError(e));
  }

  /** the pod object changed in the store */
  update(pod: KubeObject): void {
    this.pod = pod;
    if (pod.metadata.deletionTimestamp && !this.deleting) {
      this.deleting = true;
      for (const w of this.stopWaiters) w();
      this.terminateAll(pod.metadata.deletionGracePeriodSeconds ?? 30)
        .then(() => {
          if (!this.removed)
            this.ctx.registry.finalizePodDeletion(pod.metadata.namespace!, pod.metadata.name!);
        })
        .catch((e) => this.ctx.onError(e));
    }
  }

  /** the pod is gone from the store: kill at once */
  remove(): void {
    this.removed = true;
    this.deleting = true;
    for (const w of this.stopWaiters) w();
    for (const c of this.containers) if (c.pid !== undefined) signalGroup(c.pid, "SIGKILL");
  }

  /** kill everything now (sim stop) and wait for exits */
  async kill(graceMs: number): Promise<void> {
    this.removed = true;
    this.deleting = true;
    for (const w of this.stopWaiters) w();
    await this.stopContainers(this.containers, graceMs, false);
    rmSync(this.dir, { recursive: true, force: true });
  }

  // --- lifecycle ------------------------------------------------------------------------------------

  private get stopped(): boolean {
    return this.deleting || this.removed;
  }

  /** resolves after `ms` or as soon as the pod is being deleted */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const done = () => {
        clearTimeout(t);
        this.stopWaiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.stopWaiters.add(done);
    });
  }

  private async run(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const ns = this.pod.metadata.namespace!;
    const saName = String(this.pod.spec?.serviceAccountName ?? "default");
    const sa = this.ctx.store.get("serviceaccounts", ns, saName);
    const token = this.ctx.authenticator.mintForServiceAccount(ns, saName, sa?.metadata.uid);
    writeKubeconfig(
      join(this.dir, "kubeconfig"),
      this.ctx.api,
      token,
      `system:serviceaccount:${ns}:${saName}`,
      ns,
    );
    this.sync();
    const inits = this.containers.filter((c) => c.kind !== "main");
    const mains = this.containers.filter((c) => c.kind === "main");
    const sidecarLoops: Promise<void>[] = [];
    for (const c of inits) {
      if (this.stopped) return;
      if (!(await this.pull(c))) return;
      if (c.kind === "sidecar") {
        sidecarLoops.push(this.superviseSidecar(c));
        await this.waitReady(c);
        continue;
      }
      const ok = await this.runToCompletion(c);
      if (!ok) return;
    }
    if (this.stopped) return;
    this.initialized = true;
    for (const c of mains) if ("waiting" in c.state) c.state = { waiting: { reason: "ContainerCreating" } };
    this.sync();
    for (const c of mains) {
      if (!(await this.pull(c))) return;
    }
    await Promise.all(mains.map((c) => this.superviseMain(c)));
    if (this.stopped) return;
    const failed = mains.some((c) => "terminated" in c.state && c.state.terminated.exitCode !== 0);
    this.terminalPhase = failed ? "Failed" : "Succeeded";
    await this.stopContainers(
      inits.filter((c) => c.kind === "sidecar").reverse(),
      this.graceSeconds() * 1000,
      true,
    );
    await Promise.all(sidecarLoops);
    this.sync();
  }

  private graceSeconds(): number {
    return this.pod.spec?.terminationGracePeriodSeconds ?? 30;
  }

  /** Pull with ErrImagePull → ImagePullBackOff retries; false if the pod stopped first. */
  private async pull(c: Container): Promise<boolean> {
    const image = String(c.spec.image);
    const fieldPath = this.fieldPath(c);
    let delay = 1000 * this.ctx.backoffMs;
    for (;;) {
      if (this.stopped) return false;
      this.event("Normal", "Pulling", `Pulling image "${image}"`, fieldPath);
      const secrets = (this.pod.spec?.imagePullSecrets ?? [])
        .map((s: { name?: string }) =>
          this.ctx.store.get("secrets", this.pod.metadata.namespace, String(s.name ?? "")),
        )
        .filter((s: KubeObject | undefined): s is KubeObject => s !== undefined);
      const result = pullImage(this.ctx.images, this.ctx.privateRegistries, image, secrets);
      if (result.ok) {
        c.image = result.spec;
        c.imageID = `${canonicalImage(image).replace(/:[^:/]+$/, "")}@sha256:${digest(image)}`;
        this.event(
          "Normal",
          "Pulled",
          `Successfully pulled image "${image}" in 0s (0s including waiting). Image size: 0 bytes.`,
          fieldPath,
        );
        return true;
      }
      c.state = { waiting: { reason: "ErrImagePull", message: result.message } };
      this.sync();
      this.event("Warning", "Failed", `Failed to pull image "${image}": ${result.message}`, fieldPath);
      this.event("Warning", "Failed", "Error: ErrImagePull", fieldPath);
      await this.wait(Math.min(delay, 500 * this.ctx.backoffMs));
      if (this.stopped) return false;
      c.state = { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${image}"` } };
      this.sync();
      this.event("Normal", "BackOff", `Back-off pulling image "${image}"`, fieldPath);
      this.event("Warning", "Failed", "Error: ImagePullBackOff", fieldPath);
      await this.wait(delay);
      delay = Math.min(delay * 2, 5000 * this.ctx.backoffMs);
    }
  }

  private fieldPath(c: Container): string {
    const list = c.kind === "main" ? "containers" : "initContainers";
    return `spec.${list}{${c.name}}`;
  }

  private terminationLogPath(c: Container): string {
    return join(this.dir, c.name, "termination-log");
  }

  /** Start one instance of a container; false if it could not start (state set accordingly). */
  private startInstance(c: Container): boolean {
    const spec = c.spec;
    const image = c.image!;
    const fieldPath = this.fieldPath(c);
    const cdir = join(this.dir, c.name);
    mkdirSync(cdir, { recursive: true });
    rmSync(this.terminationLogPath(c), { force: true });
    let env: Map<string, string>;
    try {
      env = containerEnv(this.ctx.store, this.pod, spec);
    } catch (e) {
      if (!(e instanceof EnvError)) throw e;
      c.state = { waiting: { reason: e.reason, message: e.message } };
      this.event("Warning", "Failed", `Error: ${e.message}`, fieldPath);
      this.sync();
      return false;
    }
    const msgPath = String(spec.terminationMessagePath ?? "/dev/termination-log");
    const hostMsgPath = this.terminationLogPath(c);
    this.volumeDirs ??= prepareVolumes(this.ctx.store, this.pod, this.dir, this.ctx.baseDir);
    const remount = mountRewriter(spec, this.volumeDirs);
    const swap = (s: string) => remount(s.split(msgPath).join(hostMsgPath));
    const command = expandArgs(spec.command, env).map(swap);
    const args = expandArgs(spec.args, env).map(swap);
    const processEnv: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: cdir,
      HOSTNAME: this.pod.metadata.name!,
      ...(image.env ?? {}),
    };
    for (const [k, v] of env) processEnv[k] = swap(v);
    // the API token a real kubelet mounts is, here, a kubeconfig: only where the ServiceAccount
    // admission mounted the token volume (automountServiceAccountToken not false)
    const mounts = Array.isArray(spec.volumeMounts) ? spec.volumeMounts : [];
    if (mounts.some((m) => isObject(m) && m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH))
      processEnv.KUBECONFIG = join(this.dir, "kubeconfig");
    const resolved = resolveArgv(image, command, args, processEnv.PATH);
    const now = timestamp();
    c.log = new ContainerLog();
    if ("error" in resolved) {
      this.failStart(c, resolved.error, now);
      return false;
    }
    const where = {
      namespace: this.pod.metadata.namespace!,
      pod: this.pod.metadata.name!,
      container: c.name,
    };
    const launched = launch(resolved.argv, image.cwd ?? cdir, processEnv, (chunk) => {
      c.log.append(chunk);
      this.ctx.onOutput?.(where, chunk);
    });
    if ("startError" in launched) {
      this.failStart(c, launched.startError, now);
      return false;
    }
    c.pid = launched.pid;
    c.containerID = `containerd://${randomBytes(32).toString("hex")}`;
    c.exited = launched.exited.then((exit) => {
      c.pid = undefined;
      c.log.end();
      return exit;
    });
    c.state = { running: { startedAt: now } };
    c.launched = true;
    c.instance++;
    c.exec = { image, env: processEnv, cwd: image.cwd ?? cdir, rewrite: swap };
    c.started = !isObject(spec.startupProbe);
    c.ready = c.started && !isObject(spec.readinessProbe);
    this.event("Normal", "Created", `Created container: ${c.name}`, fieldPath);
    this.event("Normal", "Started", `Started container ${c.name}`, fieldPath);
    this.sync();
    const instance = c.instance;
    this.prober(c, instance).catch((e) => this.ctx.onError(e));
    return true;
  }

  private failStart(c: Container, message: string, startedAt: string): void {
    c.log.end();
    c.state = {
      terminated: {
        exitCode: 128,
        reason: "StartError",
        message,
        startedAt: "1970-01-01T00:00:00Z",
        finishedAt: startedAt,
      },
    };
    c.containerID = `containerd://${randomBytes(32).toString("hex")}`;
    c.exited = Promise.resolve({ exitCode: 128, startError: message });
    this.event("Warning", "Failed", `Error: ${message}`, this.fieldPath(c));
    this.sync();
  }

  /** poll a tcpSocket readiness/startup probe until it connects */
  /**
   * The container's probes, as the kubelet's prober runs them for one instance: the startup probe
   * (main containers wait for a sidecar's), then readiness and liveness side by side. Until a probe
   * first succeeds it is tried every 100 ms (exec: 200 ms) rather than every periodSeconds, so pods
   * get ready sooner than on a real node; failures are counted in periods: a startup probe fails
   * (the container is killed and restarted as its restart policy says) once failureThreshold ×
   * periodSeconds have passed without a success; a ready container becomes unready after
   * failureThreshold consecutive failures one period apart, and ready again after successThreshold
   * successes; a liveness probe that fails failureThreshold times in a row kills the container.
   * Unhealthy events at most once a period, worded as the kubelet's.
   */
  private async prober(c: Container, instance: number): Promise<void> {
    const alive = () => c.instance === instance && c.running && !this.stopped;
    const spec = c.spec;
    const get = (k: string) => (isObject(spec[k]) ? (spec[k] as Record<string, unknown>) : undefined);
    const startup = get("startupProbe");
    const readiness = get("readinessProbe");
    const liveness = get("livenessProbe");
    const period = (p: Record<string, unknown>) => Math.max(1, Number(p.periodSeconds ?? 10)) * 1000;
    const delay = (p: Record<string, unknown>) => Math.max(0, Number(p.initialDelaySeconds ?? 0)) * 1000;
    const fast = (p: Record<string, unknown>) => Math.min(period(p), isObject(p.exec) ? 200 : 100);
    const attempt = (p: Record<string, unknown>) =>
      runProbe(p, this.podIP, (port) => this.resolvePort(c, port), c.exec!);
    const fieldPath = this.fieldPath(c);
    if (startup) {
      await this.wait(delay(startup));
      const deadline = Date.now() + Math.max(1, Number(startup.failureThreshold ?? 3)) * period(startup);
      let reported = 0;
      for (;;) {
        if (!alive()) return;
        const r = await attempt(startup);
        if (!alive()) return;
        if (r.ok) break;
        if (Date.now() - reported >= period(startup)) {
          reported = Date.now();
          this.event("Warning", "Unhealthy", `Startup probe failed: ${r.output}`, fieldPath);
        }
        if (Date.now() >= deadline) {
          this.event(
            "Normal",
            "Killing",
            `Container ${c.name} failed startup probe, will be restarted`,
            fieldPath,
          );
          await this.killForProbe(c, startup);
          return;
        }
        await this.wait(fast(startup));
      }
      c.started = true;
      if (!readiness) c.ready = true;
      this.sync();
    }
    await Promise.all([
      readiness ? this.readinessLoop(c, readiness, alive, attempt, { period, delay, fast }) : undefined,
      liveness ? this.livenessLoop(c, liveness, alive, attempt, { period, delay }) : undefined,
    ]);
  }

  private async readinessLoop(
    c: Container,
    probe: Record<string, unknown>,
    alive: () => boolean,
    attempt: (p: Record<string, unknown>) => Promise<{ ok: boolean; output: string }>,
    t: {
      period: (p: Record<string, unknown>) => number;
      delay: (p: Record<string, unknown>) => number;
      fast: (p: Record<string, unknown>) => number;
    },
  ): Promise<void> {
    await this.wait(t.delay(probe));
    const successThreshold = Math.max(1, Number(probe.successThreshold ?? 1));
    const failureThreshold = Math.max(1, Number(probe.failureThreshold ?? 3));
    let successes = 0;
    let failures = 0;
    let everReady = false;
    let reported = 0;
    while (alive()) {
      const r = await attempt(probe);
      if (!alive()) return;
      if (r.ok) {
        successes++;
        failures = 0;
        if (!c.ready && successes >= successThreshold) {
          c.ready = true;
          everReady = true;
          this.sync();
        }
      } else {
        failures++;
        successes = 0;
        if (Date.now() - reported >= t.period(probe)) {
          reported = Date.now();
          this.event("Warning", "Unhealthy", `Readiness probe failed: ${r.output}`, this.fieldPath(c));
        }
        if (c.ready && failures >= failureThreshold) {
          c.ready = false;
          this.sync();
        }
      }
      await this.wait(everReady ? t.period(probe) : t.fast(probe));
    }
  }

  private async livenessLoop(
    c: Container,
    probe: Record<string, unknown>,
    alive: () => boolean,
    attempt: (p: Record<string, unknown>) => Promise<{ ok: boolean; output: string }>,
    t: { period: (p: Record<string, unknown>) => number; delay: (p: Record<string, unknown>) => number },
  ): Promise<void> {
    await this.wait(t.delay(probe));
    const failureThreshold = Math.max(1, Number(probe.failureThreshold ?? 3));
    let failures = 0;
    while (alive()) {
      const r = await attempt(probe);
      if (!alive()) return;
      if (r.ok) failures = 0;
      else {
        failures++;
        this.event("Warning", "Unhealthy", `Liveness probe failed: ${r.output}`, this.fieldPath(c));
        if (failures >= failureThreshold) {
          this.event(
            "Normal",
            "Killing",
            `Container ${c.name} failed liveness probe, will be restarted`,
            this.fieldPath(c),
          );
          await this.killForProbe(c, probe);
          return;
        }
      }
      await this.wait(t.period(probe));
    }
  }

  /** SIGTERM the container's group, SIGKILL at the probe's (or the pod's) grace period */
  private async killForProbe(c: Container, probe: Record<string, unknown>): Promise<void> {
    const grace = Number(
      probe.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30,
    );
    await this.stopContainers([c], Math.max(0, grace) * 1000, false);
  }

  private resolvePort(c: Container, port: unknown): number | undefined {
    if (typeof port === "number") return port;
    if (typeof port === "string") {
      if (/^\d+$/.test(port)) return Number(port);
      const named = (Array.isArray(c.spec.ports) ? c.spec.ports : []).find(
        (p) => isObject(p) && p.name === port,
      );
      return isObject(named) ? Number(named.containerPort) : undefined;
    }
    return undefined;
  }

  /** the kubelet starts what follows a native sidecar once its startup probe has passed */
  private async waitReady(c: Container): Promise<void> {
    while (!this.stopped && !c.started) {
      if (c.terminated && c.restartCount > 50) return;
      await this.wait(50);
    }
  }

  /** record an exit into the container's state; returns the exit code */
  private recordExit(c: Container, exit: Exit): number {
    if (exit.startError) return exit.exitCode;
    const startedAt = "running" in c.state ? c.state.running.startedAt : undefined;
    const policy = String(c.spec.terminationMessagePolicy ?? "File");
    let message = "";
    try {
      message = readFileSync(this.terminationLogPath(c), "utf8").slice(0, MAX_MESSAGE);
    } catch {
      // no termination message written
    }
    if (!message && policy === "FallbackToLogsOnError" && exit.exitCode !== 0) {
      message = c.log.tail(80).join("").slice(-2048);
    }
    c.state = {
      terminated: {
        exitCode: exit.exitCode,
        ...(exit.signal ? { signal: exit.exitCode - 128 } : {}),
        reason: exit.exitCode === 0 ? "Completed" : "Error",
        ...(message ? { message } : {}),
        ...(startedAt ? { startedAt } : {}),
        finishedAt: timestamp(),
        containerID: c.containerID,
      },
    };
    c.ready = false;
    c.started = false;
    c.launched = false;
    return exit.exitCode;
  }

  private restartDelay(c: Container): number {
    return Math.min(100 * 2 ** Math.min(c.restartCount, 6), 2000) * this.ctx.backoffMs;
  }

  private async crashLoop(c: Container): Promise<boolean> {
    const delay = this.restartDelay(c);
    c.lastState = c.state;
    c.previousLog = c.log;
    c.state = {
      waiting: {
        reason: "CrashLoopBackOff",
        message: `back-off ${Math.round(delay / 100) / 10}s restarting failed container=${c.name} pod=${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.uid})`,
      },
    };
    this.event(
      "Warning",
      "BackOff",
      "Back-off restarting failed container " +
        c.name +
        " in pod " +
        `${this.pod.metadata.name}_${this.pod.metadata.namespace}(${this.uid})`,
      this.fieldPath(c),
    );
    this.sync();
    await this.wait(delay);
    if (this.stopped) {
      c.state = c.lastState;
      return false;
    }
    c.restartCount++;
    return true;
  }

  private async runToCompletion(c: Container): Promise<boolean> {
    for (;;) {
      if (this.stopped) return false;
      this.startInstance(c);
      const code = this.recordExit(c, await c.exited!);
      this.sync();
      if (code === 0) return true;
      if (this.stopped) return false;
      if (this.pod.spec?.restartPolicy === "Never") {
        this.terminalPhase = "Failed";
        this.sync();
        return false;
      }
      if (!(await this.crashLoop(c))) return false;
    }
  }

  private async superviseSidecar(c: Container): Promise<void> {
    for (;;) {
      if (this.stopped || this.terminalPhase) return;
      this.startInstance(c);
      const exit = await c.exited!;
      this.recordExit(c, exit);
      this.sync();
      if (this.stopped || this.terminalPhase) return;
      if (!(await this.crashLoop(c))) return;
    }
  }

  private async superviseMain(c: Container): Promise<void> {
    const policy = String(this.pod.spec?.restartPolicy ?? "Always");
    for (;;) {
      if (this.stopped) return;
      this.startInstance(c);
      const code = this.recordExit(c, await c.exited!);
      this.sync();
      if (this.stopped) return;
      const restart = policy === "Always" || (policy === "OnFailure" && code !== 0);
      if (!restart) return;
      if (!(await this.crashLoop(c))) return;
    }
  }

  /** SIGTERM the given containers, SIGKILL those still running after graceMs */
  private async stopContainers(list: Container[], graceMs: number, events: boolean): Promise<void> {
    const running = list.filter((c) => c.pid !== undefined);
    for (const c of running) {
      if (events) this.event("Normal", "Killing", `Stopping container ${c.name}`, this.fieldPath(c));
      signalGroup(c.pid!, "SIGTERM");
    }
    const all = Promise.all(running.map((c) => c.exited));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([all, deadline]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      for (const c of running) if (c.pid !== undefined) signalGroup(c.pid, "SIGKILL");
      await all;
    }
  }

  private async terminateAll(graceSeconds: number): Promise<void> {
    const deadline = Date.now() + graceSeconds * 1000;
    const mains = this.containers.filter((c) => c.kind === "main");
    const sidecars = this.containers.filter((c) => c.kind !== "main").reverse();
    await this.stopContainers(mains, Math.max(0, deadline - Date.now()), true);
    await this.stopContainers(sidecars, Math.max(0, deadline - Date.now()), true);
    if (!this.removed) {
      const all = this.containers.filter((c) => c.kind === "main");
      const failed = all.some((c) => !("terminated" in c.state) || c.state.terminated.exitCode !== 0);
      this.terminalPhase ??= failed ? "Failed" : "Succeeded";
      this.sync();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  // --- status ---------------------------------------------------------------------------------------

  private phase(): string {
    if (this.terminalPhase) return this.terminalPhase;
    if (!this.initialized) return "Pending";
    const mains = this.containers.filter((c) => c.kind === "main");
    return mains.some((c) => c.launched) ? "Running" : "Pending";
  }

  private sync(): void {
    if (this.removed) return;
    const now = timestamp();
    const mains = this.containers.filter((c) => c.kind === "main");
    const sidecars = this.containers.filter((c) => c.kind === "sidecar");
    const phase = this.phase();
    const terminal = phase === "Succeeded" || phase === "Failed";
    const containersReady = !terminal && mains.every((c) => c.ready) && sidecars.every((c) => c.ready);
    const initialized = this.initialized || terminal;
    const updated = this.ctx.registry.mutate(
      PODS,
      this.pod.metadata.namespace,
      this.pod.metadata.name!,
      (pod) => {
        const prev: Record<string, unknown> = pod.status ?? {};
        const prevConds: { type: string; status: string; lastTransitionTime?: string }[] = Array.isArray(
          prev.conditions,
        )
          ? prev.conditions
          : [];
        const cond = (type: string, ok: boolean, reason?: string) => {
          const old = prevConds.find((c) => c.type === type);
          const status = ok ? "True" : "False";
          return {
            type,
            status,
            lastProbeTime: null,
            lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
            ...(reason && !ok ? { reason } : {}),
          };
        };
        const notReady = mains.filter((c) => !c.ready).map((c) => c.name);
        const reason = terminal ? "PodCompleted" : "ContainersNotReady";
        const scheduled = prevConds.find((c) => c.type === "PodScheduled");
        pod.status = {
          ...prev,
          phase,
          conditions: [
            cond("PodReadyToStartContainers", !terminal || !this.stopped),
            cond("Initialized", initialized, "ContainersNotInitialized"),
            {
              ...cond("Ready", containersReady, reason),
              ...(containersReady
                ? {}
                : {
                    message: terminal ? undefined : `containers with unready status: [${notReady.join(" ")}]`,
                  }),
            },
            {
              ...cond("ContainersReady", containersReady, reason),
              ...(containersReady
                ? {}
                : {
                    message: terminal ? undefined : `containers with unready status: [${notReady.join(" ")}]`,
                  }),
            },
            ...(scheduled ? [scheduled] : []),
          ].map((c) => JSON.parse(JSON.stringify(c))),
          hostIP: "127.0.0.1",
          hostIPs: [{ ip: "127.0.0.1" }],
          podIP: this.podIP,
          podIPs: [{ ip: this.podIP }],
          startTime: (prev.startTime as string | undefined) ?? now,
          ...(this.containers.some((c) => c.kind !== "main")
            ? {
                initContainerStatuses: this.containers
                  .filter((c) => c.kind !== "main")
                  .map((c) => c.status()),
              }
            : {}),
          containerStatuses: mains.map((c) => c.status()),
        };
      },
    );
    if (updated) this.pod = updated;
  }

  private event(type: "Normal" | "Warning", reason: string, message: string, fieldPath?: string): void {
    if (this.removed) return;
    this.ctx.events.record(this.pod, type, reason, message, "kubelet", fieldPath);
  }
}

function digest(image: string): string {
  let h = 0n;
  for (const ch of image) h = (h * 131n + BigInt(ch.charCodeAt(0))) % (1n << 256n);
  return h.toString(16).padStart(64, "0");
}
