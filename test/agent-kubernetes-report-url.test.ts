// `flotilla agent --launcher kubernetes --report-url URL` end to end (issue 10), as a user runs it:
// a real `flotilla server` process, kube-sim with RBAC enforced, the agent a CLI process under
// exactly the identity `flotilla agent install kubernetes --rbac` prints (applied with kubectl; the
// agent's ServiceAccount kubeconfig), a deployment made with `flotilla deploy` of a flow in the
// image kube-sim maps to this checkout. The agent launches the run as a runner Job whose pod is
// told to report at --report-url (the same server under another name, as a pod would reach it),
// and the runner pod reports the run's task runs (each with its worker pod) and task log lines
// there itself; the run ends Success. Everything is stopped and removed after.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Label, labelValue } from "../src/kubernetes/names.ts";
import type { FlowRunRecord } from "../src/store/store.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";
import { execWithHome, installAgentRbac } from "./helpers/agent-install.ts";
import { root } from "./helpers/cli.ts";
import { type Cli, cleanupClis, startCli } from "./helpers/fault-cli.ts";
import { type ServerProcess, startServerProcess, stopChild, until } from "./helpers/flotilla-server.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over arbitrary API objects
type Loose = any;

const NS = "report-url";
const IMAGE = "example.com/flotilla-report-url:dev";
const FLOW = path.join(root, "test/fixtures/kube-flows/reporting.ts");
const home = mkdtempSync(path.join(tmpdir(), "flotilla-agent-report-url-"));

let sim: KubeSim | undefined;
let server: ServerProcess | undefined;
let agent: Cli | undefined;
/** The server under another name, as a runner pod would reach it. */
let reportUrl = "";

const flotilla = (args: string[], timeoutMs = 120_000) =>
  execWithHome(home, process.execPath, [path.join(root, "bin/flotilla.js"), ...args], undefined, timeoutMs);

before(async () => {
  server = await startServerProcess(home);
  reportUrl = server.url.replace("127.0.0.1", "localhost");
  const images = defaultImages(root);
  sim = await KubeSim.start({ namespaces: [NS], images: { ...images, [IMAGE]: images["*flotilla*"]! } });
  await installAgentRbac({ sim, home, namespace: NS, serverUrl: server.url, image: IMAGE });
  const agentKubeconfig = (await sim.serviceAccountKubeconfig(NS, "flotilla-agent")).path;
  const { token } = await server.api<{ token: string }>("POST", "/api/tokens", {
    name: "k8s-agent",
    scope: "agent",
  });
  const deployed = await flotilla([
    ...["deploy", FLOW, "--name", "reporting", "--pool", "kubernetes", "--image", IMAGE],
    ...["--server", server.url],
  ]);
  assert.equal(deployed.code, 0, deployed.stderr);
  agent = await startCli(
    [
      ...["agent", "--pool", "kubernetes", "--launcher", "kubernetes", "--id", "k8s-report-url"],
      ...["--server", server.url, "--token", token, "-n", NS, "--kubeconfig", agentKubeconfig],
      ...["--report-url", reportUrl],
    ],
    { FLOTILLA_HOME: home, FLOTILLA_API_URL: "", FLOTILLA_API_TOKEN: "", FLOTILLA_REPORT_URL: "" },
  );
  await agent.waitFor(
    /claiming runs of pool kubernetes .*runner pods reporting to http:\/\/localhost:\d+/,
    120_000,
  );
});

after(async () => {
  try {
    if (agent) await stopChild(agent.child);
    await cleanupClis();
  } finally {
    await server?.stop();
    await sim?.stop();
    rmSync(home, { recursive: true, force: true });
  }
});

describe("flotilla agent --launcher kubernetes --report-url (kube-sim, RBAC enforced)", {
  timeout: 600_000,
}, () => {
  it("the runner pod reports its run at --report-url: task runs with their workers, log lines, Success", async () => {
    const run = await server!.api<FlowRunRecord>("POST", "/api/deployments/reporting/runs", {
      parameters: { n: 3, sleepMs: 20 },
    });
    const done = await until(
      `run ${run.id} ended`,
      async () => {
        const r = await server!.api<FlowRunRecord>("GET", `/api/runs/${run.id}`);
        return ["Success", "Failed", "Crashed", "Cancelled"].includes(r.state) ? r : undefined;
      },
      300_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\nagent:\n${agent!.stderr()}`);
    });
    assert.equal(done.state, "Success", `${done.reason}\nagent:\n${agent!.stderr()}`);

    // the runner pod was told the --report-url, with the run's token only through its Secret
    const job = sim!
      .objects("jobs", NS)
      .find((j: Loose) => j.metadata.labels?.[Label.runId] === labelValue(run.id));
    assert.ok(job, "the run's Job");
    const env: Loose[] = job.spec.template.spec.containers.find((c: Loose) => c.name === "flotilla").env;
    assert.equal(env.find((e) => e.name === "FLOTILLA_API_URL")?.value, reportUrl);
    assert.ok(
      env.find((e) => e.name === "FLOTILLA_API_TOKEN")?.valueFrom?.secretKeyRef,
      "the token from the Secret",
    );

    // what only the runner pod reports (the agent knows the final state, not task runs or lines)
    const got = await flotilla(["runs", "get", run.id, "--server", server!.url, "-o", "json"]);
    assert.equal(got.code, 0, got.stderr);
    const detail = JSON.parse(got.stdout) as {
      taskRuns: { slug: string; mapIndex: number; state: string; worker?: string }[];
    };
    const work = detail.taskRuns.filter((t) => t.slug === "work" && t.mapIndex >= 0);
    assert.deepEqual(work.map((t) => [t.mapIndex, t.state]).sort(), [
      [0, "Success"],
      [1, "Success"],
      [2, "Success"],
    ]);
    assert.ok(
      work.every((t) => t.worker),
      "each task run names its worker",
    );
    const logs = await flotilla(["runs", "logs", run.id, "--server", server!.url]);
    assert.equal(logs.code, 0, logs.stderr);
    for (const i of [0, 1, 2])
      assert.match(logs.stdout, new RegExp(`\\[work\\[${i}\\][^\\]]*\\] work item ${i} done`));
    const events = await server!.api<{ items: { to: string }[] }>("GET", `/api/runs/${run.id}/events`);
    assert.deepEqual(
      events.items.map((e) => e.to),
      ["Scheduled", "Pending", "Starting", "Running", "Success"],
    );
  });
});
