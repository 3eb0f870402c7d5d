// Probes on kube-sim's kubelet as a real node runs them: an exec probe runs its command (exit 0 is
// success) and is killed at timeoutSeconds; readiness follows the probe both ways (unready after
// failureThreshold failures, ready again on success) with the kubelet's Unhealthy events; an httpGet
// probe is a real GET (a 500 is a failure); a failing liveness probe restarts the container; a startup
// probe that never passes within failureThreshold × periodSeconds kills it, and `started` stays false.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { KubeSim } from "../src/testing/index.ts";
import { TEST_IMAGES } from "./helpers/kube-sim.ts";

// biome-ignore lint/suspicious/noExplicitAny: reading arbitrary Kubernetes objects back
type Loose = any;

let sim: KubeSim;
let core: k8s.CoreV1Api;
const dir = mkdtempSync(join(tmpdir(), "kube-sim-probes-"));

before(async () => {
  sim = await KubeSim.start({ images: TEST_IMAGES });
  core = sim.kubeConfig().makeApiClient(k8s.CoreV1Api);
});
after(async () => {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

const condition = (p: Loose, type: string) =>
  (p?.status?.conditions ?? []).find((c: Loose) => c.type === type)?.status;
const ready = (p: Loose) => condition(p, "Ready") === "True";
const container = (p: Loose) => p?.status?.containerStatuses?.[0];
const events = (pod: string) =>
  sim.objects("events", "default").filter((e: Loose) => e.involvedObject?.name === pod) as Loose[];
const messages = (pod: string, reason: string) =>
  events(pod)
    .filter((e) => e.reason === reason)
    .map((e) => e.message as string);

async function pod(name: string, main: Loose): Promise<void> {
  await core.createNamespacedPod({
    namespace: "default",
    body: {
      metadata: { name },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{ name: "main", image: "busybox:1", args: ["sleep 600"], ...main }],
      },
    },
  });
}

describe("probes", { timeout: 120_000 }, () => {
  test("an exec readiness probe runs its command: ready while it exits 0, unready after failureThreshold failures, ready again", async () => {
    const flag = join(dir, "ready");
    await pod("exec-ready", {
      readinessProbe: { exec: { command: ["test", "-f", flag] }, periodSeconds: 1, failureThreshold: 2 },
    });
    const running = await sim.waitFor(
      "pods",
      "default",
      "exec-ready",
      (p) => container(p)?.state?.running !== undefined,
    );
    assert.equal(ready(running), false, "not ready before the command succeeds");
    await sim.until("a failed readiness probe", () =>
      messages("exec-ready", "Unhealthy").some((m) => m.startsWith("Readiness probe failed")),
    );
    writeFileSync(flag, "");
    await sim.waitFor("pods", "default", "exec-ready", ready, 20_000);
    rmSync(flag);
    const unready = await sim.waitFor("pods", "default", "exec-ready", (p) => !ready(p), 20_000);
    assert.equal(condition(unready, "ContainersReady"), "False");
    assert.equal(container(unready).restartCount, 0, "readiness never restarts a container");
    writeFileSync(flag, "");
    await sim.waitFor("pods", "default", "exec-ready", ready, 20_000);
  });

  test("an exec probe is killed at timeoutSeconds and counts as a failure", async () => {
    await pod("exec-timeout", {
      readinessProbe: { exec: { command: ["sleep", "30"] }, timeoutSeconds: 1, periodSeconds: 1 },
    });
    await sim.until(
      "a timed-out exec probe",
      () =>
        messages("exec-timeout", "Unhealthy").includes(
          'Readiness probe failed: command "sleep 30" timed out',
        ),
      20_000,
    );
    assert.equal(
      ready(sim.objects("pods", "default").find((p: Loose) => p.metadata.name === "exec-timeout")),
      false,
    );
  });

  test("an httpGet probe makes a real GET: a 500 is a failure, a 200 makes the pod ready", async () => {
    let status = 500;
    const server: Server = createServer((_req, res) => {
      res.writeHead(status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      await pod("http-ready", {
        readinessProbe: { httpGet: { host: "127.0.0.1", port, path: "/healthz" }, periodSeconds: 1 },
      });
      await sim.until(
        "an HTTP 500 probe failure",
        () =>
          messages("http-ready", "Unhealthy").includes(
            "Readiness probe failed: HTTP probe failed with statuscode: 500",
          ),
        20_000,
      );
      status = 200;
      await sim.waitFor("pods", "default", "http-ready", ready, 20_000);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    }
  });

  test("a failing liveness probe kills the container and it is restarted", async () => {
    await pod("live", {
      livenessProbe: { exec: { command: ["false"] }, periodSeconds: 1, failureThreshold: 2 },
    });
    const restarted = await sim.waitFor(
      "pods",
      "default",
      "live",
      (p) => (container(p)?.restartCount ?? 0) >= 1,
      30_000,
    );
    assert.ok(restarted);
    assert.ok(
      messages("live", "Killing").includes("Container main failed liveness probe, will be restarted"),
    );
    assert.ok(messages("live", "Unhealthy").some((m) => m.startsWith("Liveness probe failed")));
  });

  test("a startup probe that never passes: not started, killed after failureThreshold × periodSeconds, restarted", async () => {
    await pod("startup", {
      startupProbe: { exec: { command: ["false"] }, periodSeconds: 1, failureThreshold: 2 },
    });
    const running = await sim.waitFor(
      "pods",
      "default",
      "startup",
      (p) => container(p)?.state?.running !== undefined,
    );
    assert.equal(container(running).started, false);
    assert.equal(ready(running), false);
    await sim.waitFor("pods", "default", "startup", (p) => (container(p)?.restartCount ?? 0) >= 1, 30_000);
    assert.ok(
      messages("startup", "Killing").includes("Container main failed startup probe, will be restarted"),
    );
  });
});
