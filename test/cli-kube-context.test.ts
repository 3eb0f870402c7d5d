// `-n` and `--context` as kubectl users type them (issue 15.8), through the real bin: one
// kubeconfig ($KUBECONFIG) with two contexts on two kube-sims whose namespaces share names
// (context "one": the first sim, namespace team-a, the current context; "two": the second sim,
// namespace team-a). `flotilla run … --context two -n team-b` runs there and nowhere else;
// `runs list/get/logs` find the run only with that context and namespace; a context the
// kubeconfig lacks, or a namespace the cluster lacks, is one clear error naming it, and nothing is
// created anywhere.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { Label } from "../src/kubernetes/names.ts";
import { defaultImages, KubeSim } from "../src/testing/index.ts";
import { assertUserError, cli, root } from "./helpers/cli.ts";
import { applyRbac } from "./helpers/kube-sim.ts";

const IMAGE = "example.com/flotilla-context:dev";
const FLOW = "examples/seed-min-max/flow.ts";
const dir = mkdtempSync(path.join(tmpdir(), "flotilla-kube-context-"));
const kubeconfig = path.join(dir, "config");

// biome-ignore lint/suspicious/noExplicitAny: a kubeconfig document as YAML gives it
type Loose = any;

describe("-n and --context: a run is where they say, and only there", { timeout: 600_000 }, () => {
  let one: KubeSim;
  let two: KubeSim;
  before(async () => {
    const images = defaultImages(root);
    [one, two] = await Promise.all([
      KubeSim.start({ namespaces: ["team-a"] }),
      KubeSim.start({
        namespaces: ["team-a", "team-b"],
        images: { ...images, [IMAGE]: images["*flotilla*"]! },
      }),
    ]);
    // the runner's ServiceAccount and Role where the run goes, as `flotilla rbac -n team-b` prints them
    await applyRbac(two.kubeConfig(), "team-b");
    // one kubeconfig, two contexts: each sim's own cluster entry and admin user, renamed
    const entry = (sim: KubeSim, name: string) => {
      const doc = parse(readFileSync(sim.kubeconfigPath, "utf8")) as Loose;
      return {
        cluster: { name, cluster: doc.clusters[0].cluster },
        user: { name: `${name}-admin`, user: doc.users[0].user },
        context: { name, context: { cluster: name, user: `${name}-admin`, namespace: "team-a" } },
      };
    };
    const entries = [entry(one, "one"), entry(two, "two")];
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: entries.map((e) => e.cluster),
        users: entries.map((e) => e.user),
        contexts: entries.map((e) => e.context),
        "current-context": "one",
      }),
      { mode: 0o600 },
    );
  });
  after(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  // a deadline, not a speed: four CLI processes from source side by side on a loaded 2-core machine
  // took over a minute each
  const flotilla = (args: string[], timeoutMs = 240_000) =>
    cli(args, { env: { KUBECONFIG: kubeconfig }, timeoutMs });
  /** Every runner Job of either sim, as "sim/namespace/run id". */
  const jobs = () =>
    [
      ...one.objects("jobs").map((j) => `one/${j.metadata.namespace}/${j.metadata.labels?.[Label.runId]}`),
      ...two.objects("jobs").map((j) => `two/${j.metadata.namespace}/${j.metadata.labels?.[Label.runId]}`),
    ].sort();
  let runId = "";

  it("flotilla run --context two -n team-b runs there, and nowhere else", async () => {
    const r = await flotilla(["run", FLOW, "--context", "two", "-n", "team-b", "--image", IMAGE], 360_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /Job flotilla-\S+ created in namespace team-b/);
    assert.match(r.stdout, /Success/);
    const all = jobs();
    assert.equal(all.length, 1, all.join(", "));
    assert.match(all[0]!, /^two\/team-b\/[0-9a-f-]{36}$/);
    runId = all[0]!.split("/")[2]!;
  });

  it("runs list finds it only with that context and namespace", async () => {
    const list = async (...where: string[]) => {
      const r = await flotilla(["runs", "list", "-o", "name", ...where]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split("\n").filter(Boolean);
    };
    const [there, current, twoDefault, oneTeamB] = await Promise.all([
      list("--context", "two", "-n", "team-b"),
      list(), // context one, its namespace team-a
      list("--context", "two"), // the second sim, the context's namespace team-a
      list("--context", "one", "-n", "team-b"), // a namespace the first sim does not have: no runs
    ]);
    assert.deepEqual(there, [runId]);
    assert.deepEqual(current, []);
    assert.deepEqual(twoDefault, []);
    assert.deepEqual(oneTeamB, []);
  });

  it("runs get and runs logs find it there; elsewhere one error naming the namespace and context", async () => {
    const id8 = runId.slice(0, 8);
    const [got, logs] = await Promise.all([
      flotilla(["runs", "get", id8, "--context", "two", "-n", "team-b", "-o", "json"]),
      flotilla(["runs", "logs", id8, "--context", "two", "-n", "team-b"]),
    ]);
    assert.equal(got.code, 0, got.stderr);
    const doc = JSON.parse(got.stdout) as { runId: string; namespace: string; status: string };
    assert.deepEqual([doc.runId, doc.namespace, doc.status], [runId, "team-b", "Success"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`flow run ${runId} finished: Success`));

    const elsewhere = await Promise.all([
      flotilla(["runs", "get", id8, "--context", "two"]),
      flotilla(["runs", "get", id8, "-n", "team-b"]),
      flotilla(["runs", "logs", id8, "--context", "two", "-n", "team-a"]),
      flotilla(["runs", "logs", id8]),
    ]);
    const where = [
      'namespace "team-a" \\(context two\\)',
      'namespace "team-b" \\(context one\\)',
      'namespace "team-a" \\(context two\\)',
      'namespace "team-a" \\(context one\\)',
    ];
    for (const [i, r] of elsewhere.entries())
      assertUserError(r, 2, new RegExp(`no run ${id8} in ${where[i]}: no run id starts with it`));
  });

  it("a context the kubeconfig lacks, or a namespace the cluster lacks: one error naming it, nothing created", async () => {
    const before = jobs();
    const [listThree, runThree, getThree, runNope] = await Promise.all([
      flotilla(["runs", "list", "--context", "three"]),
      flotilla(["run", FLOW, "--context", "three", "--image", IMAGE]),
      flotilla(["runs", "get", runId.slice(0, 8), "--context", "three"]),
      flotilla(["run", FLOW, "--context", "two", "-n", "nope", "--image", IMAGE]),
    ]);
    for (const r of [listThree, runThree, getThree]) {
      assertUserError(r, 2, /the kubeconfig has no context "three"/);
      assert.match(r.stderr, /choose one of: one, two/);
    }
    assert.equal(runNope.code, 1, runNope.stderr);
    assert.match(runNope.stderr, /namespace "nope" does not exist/);
    assert.match(runNope.stderr, /kubectl create namespace nope/);
    assert.doesNotMatch(runNope.stderr, /^\s+at /m, "no stack trace");
    assert.deepEqual(jobs(), before, "no Job in either cluster");
  });
});
