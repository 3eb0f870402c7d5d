// The Job controller: creates pods from the template (labels, controller ownerReference), counts
// succeeded and failed pods (terminating ones as `podReplacementPolicy` says), and drives the status and conditions as Kubernetes 1.32 does —
// SuccessCriteriaMet→Complete, FailureTarget→Failed (BackoffLimitExceeded, DeadlineExceeded) — plus
// parallelism/completions, activeDeadlineSeconds and ttlSecondsAfterFinished.
import { ApiError } from "../errors.ts";
import { type KubeObject, timestamp } from "../objects.ts";
import { ADMIN_USER } from "../rbac.ts";
import { resourceById } from "../resources.ts";
import type { StoreEvent } from "../store.ts";
import { Controller, type ControllerContext } from "./controller.ts";
import { controllerUid, PodControl } from "./pod-control.ts";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string;
  lastTransitionTime?: string;
}

const JOBS = resourceById("jobs.batch");

function condition(type: string, reason: string, message: string): Condition {
  const now = timestamp();
  return { type, status: "True", lastProbeTime: now, lastTransitionTime: now, reason, message };
}

function has(job: KubeObject, type: string): boolean {
  return (job.status?.conditions ?? []).some((c: Condition) => c.type === type && c.status === "True");
}

function parallelism0(spec: Record<string, unknown>): number {
  return typeof spec.parallelism === "number" ? spec.parallelism : 1;
}

const ownerUid = (pod: KubeObject): string | undefined => controllerUid(pod, "Job");

export class JobController extends Controller {
  /** pods counted per job uid, so deleted pods still count */
  private readonly counted = new Map<string, { succeeded: Set<string>; failed: Set<string> }>();

  private readonly pods: PodControl;

  constructor(ctx: ControllerContext) {
    super(ctx);
    this.pods = new PodControl(ctx, { apiVersion: "batch/v1", kind: "Job" }, "job-controller");
  }

  protected observe(e: StoreEvent): void {
    if (e.resource === "jobs.batch") {
      if (e.type === "DELETED") this.counted.delete(e.object.metadata.uid!);
      else this.queue.add(`${e.object.metadata.namespace}/${e.object.metadata.name}`);
    } else if (e.resource === "pods") {
      const uid = ownerUid(e.object);
      // counted from the event itself, as the job-tracking finalizer lets the real controller do: a
      // pod's last status and its removal may both have happened before the next reconcile reads it
      if (uid && this.store.findByUid(uid)) {
        const phase = e.object.status?.phase;
        const counted = this.countsFor(uid);
        const podUid = e.object.metadata.uid!;
        if (!counted.succeeded.has(podUid) && !counted.failed.has(podUid)) {
          if (phase === "Succeeded") counted.succeeded.add(podUid);
          else if (phase === "Failed" || e.type === "DELETED") counted.failed.add(podUid);
        }
      }
      const job = uid ? this.store.findByUid(uid) : undefined;
      if (job) this.queue.add(`${job.namespace}/${job.name}`);
    }
  }

  protected reconcile(key: string): void {
    const [namespace, name] = key.split("/") as [string, string];
    const job = this.store.get("jobs.batch", namespace, name);
    if (!job || job.spec?.suspend) return;
    const uid = job.metadata.uid!;
    const spec = job.spec;
    const pods = this.store.list("pods", namespace).filter((p) => ownerUid(p) === uid);
    const counted = this.countsFor(uid);
    // podReplacementPolicy (1.29+): with Failed (or a podFailurePolicy) a terminating pod is neither
    // a failure nor replaced until it has reached phase Failed; with TerminatingOrFailed it counts as
    // failed as soon as it is terminating, and is replaced at once
    const onlyReplaceFailed = spec.podReplacementPolicy === "Failed" || spec.podFailurePolicy !== undefined;
    for (const p of pods) {
      const uid = p.metadata.uid!;
      if (counted.succeeded.has(uid) || counted.failed.has(uid)) continue;
      const phase = p.status?.phase;
      if (phase === "Succeeded") counted.succeeded.add(uid);
      else if (phase === "Failed") counted.failed.add(uid);
      else if (!onlyReplaceFailed && p.metadata.deletionTimestamp) counted.failed.add(uid);
    }
    const running = pods.filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed");
    const active = running.filter((p) => !p.metadata.deletionTimestamp);
    const terminating = running.filter((p) => p.metadata.deletionTimestamp);
    const ready = active.filter((p) =>
      (p.status?.conditions ?? []).some((c: Condition) => c.type === "Ready" && c.status === "True"),
    );

    const status = { ...(job.status ?? {}) };
    const conditions: Condition[] = [...(status.conditions ?? [])];
    const now = new Date();
    status.startTime ??= timestamp(now);
    const finished = has(job, "Complete") || has(job, "Failed");

    if (finished) {
      this.scheduleTtl(job, key);
      return;
    }

    // a Job without completions (a work queue) is complete once one pod has succeeded
    const completions: number = spec.completions ?? (counted.succeeded.size > 0 ? 1 : parallelism0(spec));
    const parallelism: number = spec.parallelism ?? 1;
    const backoffLimit: number = spec.backoffLimit ?? 6;
    let target = conditions.find((c) => c.type === "FailureTarget" || c.type === "SuccessCriteriaMet");

    if (!target) {
      const deadline = spec.activeDeadlineSeconds;
      const elapsedMs = now.getTime() - Date.parse(status.startTime);
      if (counted.succeeded.size >= completions) {
        target = condition(
          "SuccessCriteriaMet",
          "CompletionsReached",
          "Reached expected number of succeeded pods",
        );
      } else if (counted.failed.size > backoffLimit) {
        target = condition(
          "FailureTarget",
          "BackoffLimitExceeded",
          "Job has reached the specified backoff limit",
        );
      } else if (typeof deadline === "number" && elapsedMs >= deadline * 1000) {
        target = condition(
          "FailureTarget",
          "DeadlineExceeded",
          "Job was active longer than specified deadline",
        );
      } else if (typeof deadline === "number") {
        this.queue.addAfter(key, deadline * 1000 - elapsedMs + 5);
      }
      if (target) conditions.push(target);
    }

    if (target) {
      for (const p of active) this.pods.delete(job, p);
      if (running.length === 0) {
        if (target.type === "SuccessCriteriaMet") {
          conditions.push(condition("Complete", target.reason!, target.message!));
          status.completionTime = timestamp();
          this.events.record(job, "Normal", "Completed", "Job completed", "job-controller");
        } else {
          conditions.push(condition("Failed", target.reason!, target.message!));
          this.events.record(job, "Warning", target.reason!, target.message!, "job-controller");
        }
      }
    }
    let created = 0;
    if (!target) {
      const want =
        Math.min(parallelism, completions - counted.succeeded.size) -
        active.length -
        (onlyReplaceFailed ? terminating.length : 0);
      for (let i = 0; i < want; i++)
        if (this.pods.create(job, (ms) => this.queue.addAfter(key, ms))) created++;
    }

    const activeCount = target ? 0 : active.length + created;
    const next = {
      ...status,
      conditions: conditions.length ? conditions : undefined,
      active: activeCount || undefined,
      ready: target ? 0 : ready.length,
      terminating: terminating.length + (target ? active.length : 0),
      succeeded: counted.succeeded.size || undefined,
      failed: counted.failed.size || undefined,
      uncountedTerminatedPods: {},
    };
    for (const k of Object.keys(next) as (keyof typeof next)[]) if (next[k] === undefined) delete next[k];
    this.registry.mutate(JOBS, namespace, name, (j) => {
      j.status = next;
    });
    const updated = this.store.get("jobs.batch", namespace, name);
    if (updated && (has(updated, "Complete") || has(updated, "Failed"))) this.scheduleTtl(updated, key);
  }

  private countsFor(uid: string): { succeeded: Set<string>; failed: Set<string> } {
    let counted = this.counted.get(uid);
    if (!counted) {
      counted = { succeeded: new Set<string>(), failed: new Set<string>() };
      this.counted.set(uid, counted);
    }
    return counted;
  }

  private scheduleTtl(job: KubeObject, key: string): void {
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (typeof ttl !== "number" || job.metadata.deletionTimestamp) return;
    const finishedAt = (job.status?.conditions ?? []).find(
      (c: Condition) => c.type === "Complete" || c.type === "Failed",
    )?.lastTransitionTime;
    if (!finishedAt) return;
    const due = Date.parse(finishedAt) + ttl * 1000 - Date.now();
    if (due > 0) {
      this.queue.addAfter(key, due + 5);
      return;
    }
    try {
      this.registry.delete(
        JOBS,
        job.metadata.namespace,
        job.metadata.name!,
        { propagationPolicy: "Background", preconditions: { uid: job.metadata.uid! } },
        { user: ADMIN_USER },
      );
    } catch (e) {
      if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
    }
  }
}
