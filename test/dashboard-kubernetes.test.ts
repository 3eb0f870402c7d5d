// The dashboard for a run whose runner pod never started, end to end: kube-sim (RBAC enforced), a
// real Flotilla server with the dashboard, the Kubernetes agent under its own service account, and
// a deployment whose image cannot be pulled. In Debian's Chromium, the run page says why: the run
// is Crashed, and its events show the Kubernetes reason and the pod's last events. Screenshots go
// to test-artifacts/.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Agent } from "../src/agent/agent.ts";
import { KubernetesLauncher } from "../src/agent/kubernetes-launcher.ts";
import { deploymentBody } from "../src/cli/commands/deploy.ts";
import { connect } from "../src/kubernetes/client.ts";
import { ApiClient } from "../src/server/client.ts";
import { dashboard, newLoginCode } from "../src/server/dashboard.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import type { FlowRunRecord } from "../src/store/store.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";
import { type Browser, launchBrowser } from "./helpers/browser.ts";
import { ensureDashboardBuilt } from "./helpers/dashboard-build.ts";
import { until } from "./helpers/flotilla-server.ts";
import { applyRbac } from "./helpers/kube-sim.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const NS = "dash";
const MODULE = path.join(root, "test/fixtures/kube-flows/slow.ts");
const UNPULLABLE = "example.com/no-such-image:1";

describe("dashboard: a runner pod that never started", { timeout: 300_000 }, () => {
  const home = mkdtempSync(path.join(tmpdir(), "flotilla-dashboard-k8s-"));
  let sim: KubeSim | undefined;
  let server: RunningServer | undefined;
  let agent: Agent | undefined;
  let launcher: KubernetesLauncher | undefined;
  let browser: Browser | undefined;
  const loginCode = newLoginCode();

  const api = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server!.url}${p}`, {
      method,
      headers: {
        authorization: `Bearer ${server!.adminToken}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${p}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  before(async () => {
    await ensureDashboardBuilt();
    sim = await KubeSim.start({ namespaces: [NS], images: defaultImages(root) });
    await applyRbac(sim.kubeConfig(), NS, { launcher: "flotilla-agent" });
    let adminToken: string | undefined;
    server = await startServer({
      port: 0,
      home,
      database: path.join(home, "flotilla.db"),
      schedulerPeriodMs: 200,
      dashboard: (app, context) => dashboard(app, { ...context, loginCode, sessionToken: () => adminToken }),
    });
    adminToken = server.adminToken;
    const token = await api<{ token: string }>("POST", "/api/tokens", { name: "k8s-agent", scope: "agent" });
    launcher = new KubernetesLauncher({
      clients: connect({ kubeConfig: (await sim.serviceAccountKubeconfig(NS, "flotilla-agent")).kubeConfig }),
      namespace: NS,
      environment: { serviceAccountName: "flotilla-runner" },
      resyncMs: 500,
    });
    agent = new Agent({
      client: new ApiClient({ url: server.url, token: token.token }),
      runnerToken: token.token,
      pool: "kubernetes",
      launcher,
      id: "k8s-dashboard",
      capacity: 2,
      pollMs: 200,
      leaseMs: 30_000,
      onError: (e) => process.stdout.write(`# agent: ${(e as Error).message}\n`),
    });
    agent.start();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await agent?.stop().catch(() => {});
    launcher?.close();
    await server?.close();
    await sim?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it("shows why: Crashed, the image pull failure and the pod's last events", async () => {
    const flow = selectFlow(await loadFlowModule(MODULE));
    await api("POST", "/api/deployments", {
      ...deploymentBody(flow, MODULE, { name: "unpullable", pool: "kubernetes", image: UNPULLABLE }),
    });
    const run = await api<FlowRunRecord>("POST", "/api/deployments/unpullable/runs", {
      parameters: { n: 1, sleepMs: 10 },
    });
    const crashed = await until(
      "the run Crashed",
      async () => {
        const r = await api<FlowRunRecord>("GET", `/api/runs/${run.id}`);
        return ["Success", "Failed", "Crashed", "Cancelled"].includes(r.state) ? r : undefined;
      },
      180_000,
    );
    assert.equal(crashed.state, "Crashed", crashed.reason);

    const page = browser!.page;
    await page.goto(`${server!.url}/?token=${loginCode}`);
    await page.getByRole("heading", { name: "Runs" }).waitFor();
    const row = page.locator(`tr[data-run="${run.id}"]`);
    await row.getByText("Crashed").waitFor();
    await row.getByRole("link").click();
    await page
      .getByTestId("reason")
      .getByText(/ErrImagePull|ImagePullBackOff/)
      .first()
      .waitFor();
    await page.getByRole("tab", { name: "Logs" }).click();
    const events = page.locator(".run-events");
    await events.getByRole("heading", { name: "Run events" }).waitFor();
    assert.deepEqual(
      await events.locator("li").evaluateAll((lis) => lis.map((li) => li.getAttribute("data-to"))),
      ["Scheduled", "Pending", "Starting", "Crashed"],
      "every state the run went through",
    );
    const why = (await events.locator('li[data-to="Crashed"] .event-message').textContent()) ?? "";
    assert.match(why, /cannot start: (ErrImagePull|ImagePullBackOff)/);
    assert.match(why, new RegExp(UNPULLABLE.replaceAll(".", "\\.")));
    assert.match(why, /check the image name/, "and what to do about it");
    await browser!.screenshot(page, "run-pod-never-started");
  });
});
