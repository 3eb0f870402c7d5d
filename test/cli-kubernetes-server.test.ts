// `flotilla run FLOW --server URL` of a flow that runs on Kubernetes (issue 10), on kube-sim with
// RBAC enforced, as the launcher account `flotilla rbac` prints: the CLI records the run on the
// server and has it mint the run's own token, which travels only in the per-run Secret; the
// runner pod reports its task runs, task log lines and final state with it, at the URL
// --report-url gives (the server as the pod reaches it; here another name of the same server).
// The token is in no other object, pod log, CLI output, reported log line or plain env value,
// and is refused once the run ended. --dry-run shows where the pod would report and the Secret's
// place for the token, without asking the server for anything; a server that is down is one
// warning and the run goes on; bad --report-url input is one clear error. Ctrl-C (SIGINT) of the
// CLI while its tasks run: the run ends Cancelled on the server and nothing of it stays in the
// cluster (its Job, pods and Secret are collected, as a real cluster's garbage collector does).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Label, labelValue } from "../src/kubernetes/names.ts";
import { type RunningServer, startServer } from "../src/server/server.ts";
import type { FlowRunRecord } from "../src/store/store.ts";
import type { KubeSim } from "../src/testing/index.ts";
import { assertUserError, cli, root } from "./helpers/cli.ts";
import { cleanupClis, startCli } from "./helpers/fault-cli.ts";
import { applyRbac, startFlotillaSim } from "./helpers/kube-sim.ts";
import { noLeakAssertion } from "./helpers/leak-scan.ts";
import { freePort } from "./helpers/ports.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over arbitrary API objects
type Loose = any;

const NS = "cli-server";
const IMAGE = "example.com/flotilla-cli-server:dev";
const FLOW = path.join(root, "test/fixtures/kube-flows/reporting.ts");
const LOCAL_FLOW = path.join(root, "examples/hello.ts");
const home = mkdtempSync(path.join(tmpdir(), "flotilla-cli-server-"));

let sim: KubeSim | undefined;
let server: RunningServer | undefined;
let launcherKubeconfig = "";
/** The server under another name, as a runner pod would reach it. */
let reportUrl = "";

async function admin<T = Loose>(
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  return call<T>(method, p, server!.adminToken, body);
}

async function call<T = Loose>(
  method: string,
  p: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server!.url}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

const env = () => ({ FLOTILLA_HOME: home, FLOTILLA_API_URL: "", FLOTILLA_REPORT_URL: "" });
const onSim = (...extra: string[]) => [
  "run",
  FLOW,
  "--kubeconfig",
  launcherKubeconfig,
  "-n",
  NS,
  "--image",
  IMAGE,
  ...extra,
];

before(async () => {
  sim = await startFlotillaSim(IMAGE, { namespaces: [NS] });
  await applyRbac(sim.kubeConfig(), NS, { launcher: "launcher" });
  launcherKubeconfig = (await sim.serviceAccountKubeconfig(NS, "launcher")).path;
  server = await startServer({ port: 0, home, database: path.join(home, "flotilla.db") });
  reportUrl = server.url.replace("127.0.0.1", "localhost");
});

after(async () => {
  await cleanupClis();
  await server?.close();
  await sim?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe("flotilla run --server on Kubernetes (kube-sim, RBAC enforced)", { timeout: 400_000 }, () => {
  it("the runner pod reports the run with its own token at --report-url; the token leaks nowhere", async () => {
    const recording = sim!.record();
    const r = await cli(
      onSim("--server", server!.url, "--report-url", reportUrl, "--param", "n=3", "--param", "sleepMs=20"),
      { env: env(), timeoutMs: 300_000 },
    );
    recording.stop();
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const runId = /flow run ([0-9a-f-]{36}) finished: Success/.exec(r.stderr)?.[1];
    assert.ok(runId, r.stderr);

    // the server's record, as a user reads it: the run, its task runs (each on its worker), its logs
    const run = await admin<FlowRunRecord>("GET", `/api/runs/${runId}`);
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.state, "Success", run.body.reason);
    assert.equal(run.body.flowName, "kube-reporting");
    const events = await admin<{ items: { to: string }[] }>("GET", `/api/runs/${runId}/events`);
    assert.deepEqual(
      events.body.items.map((e) => e.to),
      ["Scheduled", "Starting", "Running", "Success"],
    );
    const got = await cli(["runs", "get", runId, "--server", server!.url, "-o", "json"], { env: env() });
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
      "each task run names its worker pod",
    );
    const logs = await cli(["runs", "logs", runId, "--server", server!.url], { env: env() });
    assert.equal(logs.code, 0, logs.stderr);
    for (const i of [0, 1, 2])
      assert.match(logs.stdout, new RegExp(`\\[work\\[${i}\\][^\\]]*\\] work item ${i} done`));

    // the run's token: minted for this run, in its Secret only, reached through a secretKeyRef
    const versions = recording.objects().map((o) => JSON.parse(o) as Loose);
    const secret = versions.find(
      (o) => o.kind === "Secret" && o.metadata?.labels?.[Label.runId] && o.data?.["api-token"],
    );
    assert.ok(secret, "the per-run Secret holds the run's token");
    const token = Buffer.from(secret.data["api-token"], "base64").toString("utf8");
    assert.match(token, /^flt_/);
    const job = versions.find((o) => o.kind === "Job");
    const jobEnv: Loose[] = job.spec.template.spec.containers.find((c: Loose) => c.name === "flotilla").env;
    assert.deepEqual(jobEnv.find((e) => e.name === "FLOTILLA_API_TOKEN").valueFrom.secretKeyRef, {
      name: secret.metadata.name,
      key: "api-token",
    });
    assert.equal(jobEnv.find((e) => e.name === "FLOTILLA_API_TOKEN").value, undefined, "no plain env value");
    assert.equal(jobEnv.find((e) => e.name === "FLOTILLA_API_URL").value, reportUrl, "the --report-url");

    const noLeak = noLeakAssertion({ token }, { noun: "the run's " });
    for (const o of versions) {
      if (o.kind === "Secret" && o.metadata?.name === secret.metadata.name) continue;
      noLeak(`${o.kind} ${o.metadata?.name}`, JSON.stringify(o));
    }
    for (const o of recording.output()) noLeak(`the output of ${o.pod}/${o.container}`, o.text);
    noLeak("the CLI's output", `${r.stdout}\n${r.stderr}`);
    noLeak("runs get / runs logs", `${got.stdout}${got.stderr}${logs.stdout}${logs.stderr}`);
    const reported = await admin("GET", `/api/runs/${runId}/logs?limit=100000`);
    noLeak("the run's reported logs", JSON.stringify(reported.body));

    // it reported its run only while it lived: now it is refused, and the server keeps no token of it
    assert.equal((await call("GET", `/api/runs/${runId}`, token)).status, 401);
    const tokens = await admin<{ items: { runId?: string }[] }>("GET", "/api/tokens");
    assert.ok(!tokens.body.items.some((t) => t.runId === runId), "no token of the finished run is kept");
  });

  it("Ctrl-C while its tasks run: the run ends Cancelled on the server and nothing of it is left in the cluster", async () => {
    const run = await startCli(
      onSim(
        "--server",
        server!.url,
        "--report-url",
        reportUrl,
        "--param",
        "n=2",
        "--param",
        "sleepMs=600000",
      ),
      env(),
    );
    // a task run is under way on a worker pod (its log line relayed to the CLI)
    await run.waitFor(/work item \d done/, 240_000);
    const runId = /run ([0-9a-f-]{36}) launched as Job/.exec(run.stderr())?.[1];
    assert.ok(runId, run.stderr());
    assert.equal((await admin<FlowRunRecord>("GET", `/api/runs/${runId}`)).body.state, "Running");
    run.child.kill("SIGINT");
    const code = await run.exit(180_000);
    assert.match(run.stderr(), /SIGINT: cancelling the run/);
    assert.equal(code, 1, `${run.stdout()}\n${run.stderr()}`);

    // the server says what the user did: Cancelled, through Cancelling
    const record = await admin<FlowRunRecord>("GET", `/api/runs/${runId}`);
    assert.equal(record.body.state, "Cancelled", JSON.stringify(record.body));
    const events = await admin<{ items: { to: string }[] }>("GET", `/api/runs/${runId}/events`);
    const states = events.body.items.map((e) => e.to);
    assert.deepEqual(states.slice(0, 3), ["Scheduled", "Starting", "Running"]);
    assert.deepEqual(states.slice(-2), ["Cancelling", "Cancelled"]);
    // the Job, the runner and worker pods and the per-run Secret go (owner references, Background)
    const ofRun = () =>
      ["jobs", "pods", "secrets"].flatMap((r) =>
        sim!
          .objects(r, NS)
          .filter((o: Loose) => o.metadata.labels?.[Label.runId] === labelValue(runId))
          .map((o: Loose) => `${o.kind} ${o.metadata.name}`),
      );
    await sim!
      .until(`nothing of run ${runId} left`, () => ofRun().length === 0, 60_000)
      .catch((e) => {
        throw new Error(`${(e as Error).message}: ${ofRun().join(", ")}`);
      });
    assert.deepEqual(
      sim!.processes().filter((p) => p.namespace === NS),
      [],
      "no pod process left",
    );
  });

  it("a server that is down is one warning: the run goes on and succeeds, its pods report nowhere", async () => {
    const down = await freePort();
    const r = await cli(onSim("--server", `http://127.0.0.1:${down}`, "--param", "n=1"), {
      env: env(),
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const warnings = r.stderr.split("\n").filter((l) => /not reporting to http:\/\/127\.0\.0\.1:\d+/.test(l));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(warnings[0]!, /cannot reach the Flotilla server .*the run goes on without it/);
    const runId = /flow run ([0-9a-f-]{36}) finished: Success/.exec(r.stderr)?.[1];
    assert.ok(runId, r.stderr);
    const job = sim!
      .objects("jobs", NS)
      .find((j: Loose) => j.metadata.labels?.[Label.runId] === labelValue(runId));
    const jobEnv: Loose[] = job.spec.template.spec.containers.find((c: Loose) => c.name === "flotilla").env;
    assert.ok(!jobEnv.some((e) => e.name === "FLOTILLA_API_URL" || e.name === "FLOTILLA_API_TOKEN"));
  });

  it("--dry-run shows the URL the pod reports to and the token's place, and asks the server nothing", async () => {
    const before = await admin<{ items: unknown[] }>("GET", "/api/runs?limit=500");
    const r = await cli(
      onSim("--server", server!.url, "--report-url", reportUrl, "--dry-run", "-o", "json"),
      {
        env: env(),
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const items = (JSON.parse(r.stdout) as { items: Loose[] }).items;
    const job = items.find((o) => o.kind === "Job");
    const containerEnv: Loose[] = job.spec.template.spec.containers.find(
      (c: Loose) => c.name === "flotilla",
    ).env;
    assert.equal(containerEnv.find((e) => e.name === "FLOTILLA_API_URL").value, reportUrl);
    assert.ok(containerEnv.find((e) => e.name === "FLOTILLA_API_TOKEN").valueFrom.secretKeyRef);
    const secret = items.find((o) => o.kind === "Secret");
    assert.match(JSON.stringify(secret), /never printed/);
    const after = await admin<{ items: unknown[] }>("GET", "/api/runs?limit=500");
    assert.equal(after.body.items.length, before.body.items.length, "no run recorded by a dry run");
  });

  it("bad --report-url input is one clear error, before anything is created", async () => {
    const jobs = () => sim!.objects("jobs", NS).length;
    const n = jobs();
    assertUserError(
      await cli(onSim("--server", server!.url, "--report-url", "pod-reaches-it-here"), { env: env() }),
      2,
      /--report-url pod-reaches-it-here: not an http\(s\) URL/,
    );
    assertUserError(
      await cli(onSim("--server", server!.url), { env: { ...env(), FLOTILLA_REPORT_URL: "ftp://x" } }),
      2,
      /FLOTILLA_REPORT_URL ftp:\/\/x: not an http\(s\) URL/,
    );
    assertUserError(
      await cli(onSim("--report-url", reportUrl), { env: env() }),
      2,
      /--report-url needs --server/,
    );
    assertUserError(
      await cli(["run", LOCAL_FLOW, "--server", server!.url, "--report-url", reportUrl], { env: env() }),
      2,
      /--report-url does nothing here/,
    );
    assertUserError(
      await cli(["agent", "--pool", "local", "--server", server!.url, "--report-url", reportUrl], {
        env: env(),
      }),
      2,
      /--report-url is for --launcher kubernetes/,
    );
    assert.equal(jobs(), n, "nothing created");
  });
});
