// An API server older than Flotilla's minimum (Kubernetes 1.29: the broker runs as a native sidecar):
// kube-sim reporting 1.28.9, `flotilla doctor` and `flotilla run` as a user runs them refuse before
// creating anything, naming the server's version and the minimum; kube-sim's audit trail shows no
// write of any kind. The same cluster reporting 1.29.0 passes that check.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KubeSim } from "../src/testing/index.ts";
import { cli } from "./helpers/cli.ts";

const home = mkdtempSync(join(tmpdir(), "kube-old-server-"));
let sim: KubeSim;
let kubeconfig: string;

before(async () => {
  sim = await KubeSim.start({ serverVersion: "1.28.9", namespaces: ["team"] });
  kubeconfig = join(home, "kubeconfig");
  writeFileSync(kubeconfig, sim.kubeConfig().exportConfig());
});
after(async () => {
  await sim.stop();
  rmSync(home, { recursive: true, force: true });
});

const env = () => ({ HOME: home, KUBECONFIG: kubeconfig });
const WRITES = new Set(["create", "update", "patch", "delete", "deletecollection"]);

describe("an API server older than 1.29", { timeout: 120_000 }, () => {
  test("kube-sim reports the version it was given, on /version and on its node", async () => {
    const version = (await (
      await fetch(`${sim.url}/version`, {
        headers: { Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}` },
        signal: AbortSignal.timeout(10_000),
      })
    ).json()) as Record<string, string>;
    assert.equal(version.major, "1");
    assert.equal(version.minor, "28");
    assert.equal(version.gitVersion, "v1.28.9-kube-sim");
    const node = sim.objects("nodes")[0];
    assert.equal(node.status.nodeInfo.kubeletVersion, "v1.28.9");
    await assert.rejects(KubeSim.start({ serverVersion: "1.28" }), /serverVersion must look like 1\.28\.9/);
  });

  test("flotilla doctor: exit 1, the server's version and the minimum, how to fix it", async () => {
    const recording = sim.record();
    try {
      const r = await cli(["doctor", "-n", "team"], { env: env() });
      const printed = r.stdout + r.stderr;
      console.log(`# doctor:\n${printed}`);
      assert.equal(r.code, 1, printed);
      assert.match(printed, /Kubernetes v1\.28\.9-kube-sim/);
      assert.match(printed, /1\.29 or later/);
      assert.match(printed, /upgrade the cluster to Kubernetes 1\.29\+/);
      assert.deepEqual(
        recording.requests().filter((q) => WRITES.has(q.verb)),
        [],
        "doctor writes nothing",
      );
    } finally {
      recording.stop();
    }
  });

  test("flotilla run on it: refused before anything is created, naming the minimum version", async () => {
    const recording = sim.record();
    try {
      const r = await cli(["run", "examples/hello.ts", "-n", "team", "--image", "example.com/flotilla:dev"], {
        env: env(),
      });
      const printed = r.stdout + r.stderr;
      console.log(`# run:\n${printed}`);
      assert.equal(r.code, 1, printed);
      assert.match(printed, /Kubernetes v1\.28\.9-kube-sim/);
      assert.match(printed, /native sidecar container, which needs 1\.29 or later/);
      const writes = recording.requests().filter((q) => WRITES.has(q.verb));
      assert.deepEqual(
        writes.map((q) => `${q.verb} ${q.resource}`),
        [],
        "nothing created: no Secret, Job or pod of the run",
      );
      assert.equal(sim.objects("jobs", "team").length, 0);
      assert.equal(sim.objects("secrets", "team").length, 0);
    } finally {
      recording.stop();
    }
  });

  test("the same check passes on 1.29.0", async () => {
    const newer = await KubeSim.start({ serverVersion: "1.29.0" });
    try {
      const file = join(home, "newer.kubeconfig");
      writeFileSync(file, newer.kubeConfig().exportConfig());
      const r = await cli(["doctor", "-n", "default", "-o", "json"], {
        env: { HOME: home, KUBECONFIG: file },
      });
      const report = JSON.parse(r.stdout) as {
        preflight: { check: string; status: string; reason?: string }[];
      };
      const version = report.preflight.find((c) => c.check.startsWith("the API server answers"));
      assert.equal(version?.status, "ok", r.stdout + r.stderr);
      assert.equal(version?.reason, "Kubernetes v1.29.0-kube-sim");
    } finally {
      await newer.stop();
    }
  });
});
