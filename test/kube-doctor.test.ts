// `flotilla doctor` catches what makes a run fail, on kube-sim with RBAC enforced: a namespace
// without the runner's ServiceAccount and Role binding is reported (reason and fix), and reported
// clean once `flotilla rbac` is applied; a missing namespace is named; the server version is
// shown. `flotilla rbac` prints for the context's namespace. With no kubeconfig at all, the
// commands say so and suggest --sim instead of a TLS error.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { parseAllDocuments } from "yaml";
import { doctor, doctorReport } from "../src/cli/commands/doctor.ts";
import { rbac } from "../src/cli/commands/rbac.ts";
import { ErrorCode, FlotillaError } from "../src/core/errors.ts";
import { connect } from "../src/kubernetes/client.ts";
import { KubeClusterEnvironment } from "../src/kubernetes/environment.ts";
import { buildRbac } from "../src/kubernetes/rbac.ts";
import { loadFlowModule, selectFlow } from "../src/storage/module.ts";
import { flotillaBin, KubeSim } from "../src/testing/index.ts";
import { applyRbac } from "./helpers/kube-sim.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over printed API objects
type Loose = any;

const NS = "fresh";
/** A namespace nobody applied `flotilla rbac` to. */
const BARE = "bare";
let sim: KubeSim;
const home = mkdtempSync(join(tmpdir(), "flotilla-doctor-"));

before(async () => {
  sim = await KubeSim.start({ namespaces: [NS, BARE] });
});
after(async () => {
  await sim.stop();
  rmSync(home, { recursive: true, force: true });
});

describe("doctor", { timeout: 60_000 }, () => {
  test("before `flotilla rbac`: the runner's ServiceAccount and Role binding are missing, with the fix; after: clean", async () => {
    const clients = connect({ kubeConfig: sim.kubeConfig() });
    await assert.rejects(doctor({ namespace: NS, clients }), (e: unknown) => {
      assert.ok(e instanceof FlotillaError);
      assert.match(e.message, /ServiceAccount "flotilla-runner" does not exist/);
      assert.match(e.message, /no RoleBinding in namespace "fresh" binds Role "flotilla-runner"/);
      assert.match(e.message, /flotilla rbac -n fresh \| kubectl apply -f -/);
      return true;
    });
    await applyRbac(sim.kubeConfig(), NS);
    const r = await doctor({ namespace: NS, clients });
    assert.deepEqual(r.missing, []);
    assert.deepEqual(
      r.preflight.map((c) => [c.check, c.status]),
      [
        ["the API server answers and runs Kubernetes 1.29+", "ok"],
        ['namespace "fresh" exists', "ok"],
        ['the runner\'s ServiceAccount "flotilla-runner" exists in namespace "fresh"', "ok"],
        ['Role "flotilla-runner" is bound to ServiceAccount "flotilla-runner"', "ok"],
        ['the workers\' ServiceAccount "flotilla-worker" exists in namespace "fresh"', "ok"],
      ],
    );
    console.log(`# doctor: ${r.preflight[0]!.reason}`);
  });

  test("a namespace that does not exist is named, with how to create it", async () => {
    const clients = connect({ kubeConfig: sim.kubeConfig() });
    await assert.rejects(doctor({ namespace: "nope", clients }), (e: unknown) => {
      assert.ok(e instanceof FlotillaError);
      assert.match(e.message, /namespace "nope" does not exist/);
      assert.match(e.message, /kubectl create namespace nope/);
      return true;
    });
  });

  test("an identity that may not read ServiceAccounts gets 'not checked', not a false ok", async () => {
    const launcherSa = "ci-launcher";
    await sim
      .kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: launcherSa } } });
    const binding = buildRbac({ namespace: NS, launcherServiceAccount: launcherSa }).find(
      (o) => o.kind === "RoleBinding" && o.metadata?.name === "flotilla-launcher",
    );
    await sim
      .kubeConfig()
      .makeApiClient(k8s.RbacAuthorizationV1Api)
      .createNamespacedRoleBinding({ namespace: NS, body: binding as never });
    const { kubeConfig } = await sim.serviceAccountKubeconfig(NS, launcherSa);
    const r = await doctor({ namespace: NS, clients: connect({ kubeConfig }) });
    assert.deepEqual(r.missing, []);
    const account = r.preflight.find((c) => c.check.startsWith("the runner's ServiceAccount"));
    assert.equal(account?.status, "unknown");
    assert.match(account?.reason ?? "", /may not get serviceaccounts/);
  });
});

describe("a run that hits what doctor checks fails with doctor's reason", { timeout: 90_000 }, () => {
  const flowOf = async () => selectFlow(await loadFlowModule("test/fixtures/kube-flows/slow.ts"));

  test("privateRegistry without a pull Secret nor credentials: doctor and the run's setup say the same", async () => {
    const clients = connect({ kubeConfig: sim.kubeConfig() });
    const dockerSecret = "MISSING_REGISTRY_CREDS";
    const readSecret = async () => {
      throw new FlotillaError(ErrorCode.SecretMissing, `secret "${dockerSecret}" is not set`, {
        hint: `set FLOTILLA_SECRET_${dockerSecret}`,
      });
    };
    let doctorSaid = "";
    await assert.rejects(doctor({ namespace: NS, clients, dockerSecret, readSecret }), (e: unknown) => {
      assert.ok(e instanceof FlotillaError);
      doctorSaid = e.message;
      return true;
    });
    const env = new KubeClusterEnvironment({ privateRegistry: true, dockerSecret });
    await assert.rejects(
      env.setup((await flowOf()) as never, { clients, namespace: NS, readSecret }),
      (e: unknown) => {
        assert.ok(e instanceof FlotillaError);
        assert.match(e.message, /the image pull Secret "missing-registry-creds" is not in namespace "fresh"/);
        assert.ok(doctorSaid.includes(e.message), `doctor said the same:\n${doctorSaid}\nrun:\n${e.message}`);
        return true;
      },
    );
    // `doctor -o json` lists it as missing too
    const report = await doctorReport({ namespace: NS, clients, dockerSecret, readSecret });
    assert.equal(report.preflight.at(-1)?.status, "missing");
  });

  test("a namespace that does not exist: the run fails before anything is created, with doctor's reason and fix", async () => {
    const clients = connect({ kubeConfig: sim.kubeConfig() });
    const flow = await flowOf();
    const env = flow.environment as KubeClusterEnvironment;
    await assert.rejects(
      env.execute(flow, { clients, namespace: "nowhere", image: "example.com/x:1" }),
      (e: unknown) => {
        assert.ok(e instanceof FlotillaError);
        assert.match(e.message, /namespace "nowhere" does not exist/);
        assert.match(e.hint ?? "", /kubectl create namespace nowhere/);
        assert.doesNotMatch(`${e.message} ${e.hint}`, /401|kubeconfig/);
        return true;
      },
    );
  });

  test("no runner ServiceAccount: the run fails with doctor's reason (not a 401), and its Job is removed", async () => {
    const clients = connect({ kubeConfig: sim.kubeConfig() });
    const flow = await flowOf();
    const env = flow.environment as KubeClusterEnvironment;
    const handle = await env.execute(flow, { clients, namespace: BARE, image: "example.com/x:1" });
    const state = await handle.wait();
    assert.equal(state.type, "Failed");
    assert.match(
      state.message,
      /ServiceAccount "flotilla-runner" does not exist: Kubernetes refuses to create the runner pod/,
    );
    assert.match(state.message, /flotilla rbac -n bare \| kubectl apply -f -/);
    assert.doesNotMatch(state.message, /401|not authenticated/);
    const jobs = await clients.batch.listNamespacedJob({ namespace: BARE });
    assert.deepEqual(
      jobs.items.filter((j) => !j.metadata?.deletionTimestamp).map((j) => j.metadata?.name),
      [],
      "nothing of the run is left",
    );
  });
});

describe("rbac and a missing kubeconfig", { timeout: 60_000 }, () => {
  test("`flotilla rbac` prints for the kubeconfig context's namespace", async () => {
    const file = join(home, "team.kubeconfig");
    const kc = sim.kubeConfig();
    const ctx = kc.getContextObject(kc.getCurrentContext())!;
    kc.loadFromOptions({
      clusters: kc.clusters,
      users: kc.users,
      contexts: [{ ...ctx, namespace: "team-a" }],
      currentContext: ctx.name,
    });
    writeFileSync(file, kc.exportConfig());
    const docs = parseAllDocuments(await rbac({ kubeconfig: file })).map(
      (d) => d.toJS() as { metadata: { namespace: string } },
    );
    assert.ok(docs.length >= 4);
    for (const o of docs) assert.equal(o.metadata.namespace, "team-a");
  });

  test("`flotilla rbac --admission-policy` prints a ValidatingAdmissionPolicy and its binding that confine the runner's pods", async () => {
    const docs = parseAllDocuments(await rbac({ namespace: "team-b", admissionPolicy: true })).map(
      (d) => d.toJS() as Record<string, never>,
    );
    assert.deepEqual(
      docs.map((d) => `${d.apiVersion}/${d.kind}`),
      [
        "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
        "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding",
      ],
    );
    // valid against the official schemas (kubernetes-models validates with them)
    new ValidatingAdmissionPolicy(docs[0] as never).validate();
    new ValidatingAdmissionPolicyBinding(docs[1] as never).validate();
    const policy = docs[0] as unknown as {
      metadata: { name: string };
      spec: { matchConditions: { expression: string }[]; validations: { expression: string }[] };
    };
    const binding = docs[1] as unknown as { spec: { policyName: string; validationActions: string[] } };
    assert.equal(binding.spec.policyName, policy.metadata.name);
    assert.deepEqual(binding.spec.validationActions, ["Deny"]);
    assert.match(policy.spec.matchConditions[0]!.expression, /system:serviceaccount:team-b:flotilla-runner/);
    const rules = policy.spec.validations.map((v) => v.expression).join("\n");
    assert.match(rules, /serviceAccountName == 'flotilla-worker'/);
    assert.match(rules, /automountServiceAccountToken == false/);
    assert.match(rules, /flotilla\.io\/flow-run-id/);
    // the RBAC printed beside it: a worker account without a token, a launcher Role without Secret reads
    const objects = parseAllDocuments(await rbac({ namespace: "team-b" })).map((d) => d.toJS() as Loose);
    const worker = objects.find((o) => o.kind === "ServiceAccount" && o.metadata.name === "flotilla-worker");
    assert.equal(worker?.automountServiceAccountToken, false);
    const launcherRole = objects.find((o) => o.kind === "Role" && o.metadata.name === "flotilla-launcher");
    const secretRules = launcherRole.rules.filter((r: Loose) => r.resources.includes("secrets"));
    assert.deepEqual(secretRules, [
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: ["docker-registry-credentials"],
        verbs: ["get"],
      },
    ]);
  });

  test("no kubeconfig at all: doctor says so and suggests --sim (exit 2)", async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [flotillaBin(), "doctor"], {
        env: { PATH: process.env.PATH ?? "", HOME: home },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => {
        stderr += c;
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /no kubeconfig: \$KUBECONFIG is not set, ~\/\.kube\/config does not exist/);
    assert.match(result.stderr, /--sim/);
    assert.doesNotMatch(result.stderr, /HTTP protocol is not allowed/);
  });
});
