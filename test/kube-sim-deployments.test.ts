// apps/v1 on kube-sim as kubectl drives it: Deployments and ReplicaSets served (protobuf create, schema
// and field validation, RBAC, watch through `kubectl rollout status`, server-side tables), the
// Deployment controller's RollingUpdate and Recreate rollouts and the ReplicaSet controller's pods,
// strategic merge patches of a pod template (env and containers by name, `$retainKeys` when switching
// the strategy); then Flotilla's own manifests as a user applies them to `flotilla sim`:
// `flotilla server install | kubectl apply -f -` runs the server (its SQLite home on the
// PersistentVolumeClaim) and `flotilla agent install kubernetes --rbac | kubectl apply -f -` runs the
// in-cluster agent under its ServiceAccount, registered with that server.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { flotillaBin, KubeSim } from "../src/testing/index.ts";
import { TEST_IMAGES } from "./helpers/kube-sim.ts";
import { freePort } from "./helpers/ports.ts";
import { kubectlPath } from "./helpers/system.ts";

// biome-ignore lint/suspicious/noExplicitAny: reading arbitrary Kubernetes objects back
type Loose = Record<string, any>;

const KUBECTL = kubectlPath();
const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), "kube-sim-deploy-"));

after(() => rmSync(home, { recursive: true, force: true }));

async function kubectlWith(
  kubeconfig: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      KUBECTL,
      ["--cache-dir", join(home, "cache"), ...args],
      { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig }, timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

const json = (text: string): Loose => JSON.parse(text) as Loose;

/**
 * Subscribes to the event stream of the server at `url` (subscribed when this resolves) for the
 * first agent it hears from, within `ms`.
 */
async function agentHeard(url: string, token: string, ms: number): Promise<{ agent: Promise<Loose> }> {
  const res = await fetch(`${url}/api/events`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(ms),
  });
  assert.equal(res.status, 200);
  const read = async (): Promise<Loose> => {
    const decoder = new TextDecoder();
    let text = "";
    try {
      for await (const chunk of res.body!) {
        text += decoder.decode(chunk as Uint8Array, { stream: true });
        const m = /^event: agent\ndata: (.*)$/m.exec(text);
        if (m) return json(m[1]!).agent as Loose;
      }
    } finally {
      await res.body?.cancel().catch(() => {});
    }
    throw new Error(`the event stream of ${url} ended before an agent was heard from: ${text.slice(-500)}`);
  };
  const agent = read();
  agent.catch(() => {}); // awaited by the caller; a failure before then is not unhandled
  return { agent };
}

describe("apps/v1 on kube-sim", { timeout: 240_000 }, () => {
  let sim: KubeSim;
  const kubectl = (...args: string[]) => kubectlWith(sim.kubeconfigPath, args);
  const ok = async (...args: string[]) => {
    const res = await kubectl(...args);
    assert.equal(res.code, 0, `kubectl ${args.join(" ")}: ${res.stderr}`);
    return res.stdout;
  };
  let manifests = 0;
  const applyJson = async (obj: Loose) => {
    const file = join(home, `m${manifests++}.json`);
    writeFileSync(file, JSON.stringify(obj));
    return kubectl("apply", "-f", file);
  };
  const deployment = (name: string, extra: Loose = {}): Loose => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: "main", image: "busybox:1", args: ["sleep 600"], env: [{ name: "A", value: "1" }] },
          ],
        },
      },
      ...extra,
    },
  });

  before(async () => {
    sim = await KubeSim.start({ images: TEST_IMAGES });
  });
  after(() => sim.stop());

  test("kubectl create deployment (protobuf) rolls out its pods; a template change rolls out a second ReplicaSet (RollingUpdate)", async () => {
    assert.equal(
      (
        await ok("create", "deployment", "web", "--image=busybox:1", "--replicas=2", "--", "sleep", "600")
      ).trim(),
      "deployment.apps/web created",
    );
    assert.match(
      await ok("rollout", "status", "deployment/web", "--timeout=60s"),
      /deployment "web" successfully rolled out/,
    );
    const d = json(await ok("get", "deployment", "web", "-o", "json"));
    assert.equal(d.spec.strategy.type, "RollingUpdate");
    assert.deepEqual(d.spec.strategy.rollingUpdate, { maxUnavailable: "25%", maxSurge: "25%" });
    assert.equal(d.spec.revisionHistoryLimit, 10);
    assert.equal(d.spec.progressDeadlineSeconds, 600);
    assert.equal(d.metadata.generation, 1);
    assert.equal(d.metadata.annotations["deployment.kubernetes.io/revision"], "1");
    assert.equal(d.status.readyReplicas, 2);
    assert.deepEqual(
      d.status.conditions.map((c: Loose) => `${c.type}=${c.status}:${c.reason}`),
      ["Available=True:MinimumReplicasAvailable", "Progressing=True:NewReplicaSetAvailable"],
    );
    const rsList = json(await ok("get", "replicasets", "-l", "app=web", "-o", "json")).items as Loose[];
    assert.equal(rsList.length, 1);
    const rs = rsList[0]!;
    const hash = rs.metadata.labels["pod-template-hash"];
    assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    assert.equal(rs.metadata.name, `web-${hash}`);
    assert.deepEqual(rs.spec.selector.matchLabels, { app: "web", "pod-template-hash": hash });
    assert.equal(rs.metadata.ownerReferences[0].kind, "Deployment");
    assert.equal(rs.metadata.ownerReferences[0].uid, d.metadata.uid);
    const pods = json(await ok("get", "pods", "-l", "app=web", "-o", "json")).items as Loose[];
    assert.equal(pods.length, 2);
    for (const p of pods) {
      assert.equal(p.metadata.ownerReferences[0].name, rs.metadata.name);
      assert.equal(p.status.phase, "Running");
    }
    const table = await ok("get", "deployment", "web");
    assert.match(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+2\/2\s+2\s+2\s+\d+s\n$/);

    assert.equal((await ok("set", "env", "deployment/web", "B=2")).trim(), "deployment.apps/web env updated");
    assert.match(await ok("rollout", "status", "deployment/web", "--timeout=60s"), /successfully rolled out/);
    const after = json(await ok("get", "replicasets", "-l", "app=web", "-o", "json")).items as Loose[];
    const byRevision = Object.fromEntries(
      after.map((r) => [r.metadata.annotations["deployment.kubernetes.io/revision"], r]),
    );
    assert.equal(byRevision["1"].spec.replicas, 0);
    assert.equal(byRevision["2"].spec.replicas, 2);
    const events = json(
      await ok("get", "events", "--field-selector", "involvedObject.name=web", "-o", "json"),
    ).items as Loose[];
    const scaling = events.filter((e) => e.reason === "ScalingReplicaSet").map((e) => e.message as string);
    assert.ok(scaling.includes(`Scaled up replica set ${rs.metadata.name} from 0 to 2`), scaling.join("\n"));
    assert.ok(scaling.some((m) => m.startsWith(`Scaled down replica set ${rs.metadata.name} from `)));
    const left = json(await ok("get", "pods", "-l", "app=web", "-o", "json")).items as Loose[];
    assert.ok(
      left.every((p) => p.metadata.labels["pod-template-hash"] !== hash || p.metadata.deletionTimestamp),
    );
  });

  test("Recreate: every pod of the old ReplicaSet has ended before the new one's first pod is created", async () => {
    const recording = sim.record();
    try {
      assert.equal((await applyJson(deployment("rec", { strategy: { type: "Recreate" } }))).code, 0);
      await ok("rollout", "status", "deployment/rec", "--timeout=60s");
      await ok("set", "env", "deployment/rec", "B=2");
      await ok("rollout", "status", "deployment/rec", "--timeout=60s");
      const versions = recording
        .objects()
        .map((s) => json(s))
        .filter((o) => o.kind === "Pod" && o.metadata.labels?.app === "rec");
      const revisionOf = new Map<string, string>();
      for (const rs of json(await ok("get", "rs", "-l", "app=rec", "-o", "json")).items as Loose[])
        revisionOf.set(
          rs.metadata.labels["pod-template-hash"],
          rs.metadata.annotations["deployment.kubernetes.io/revision"],
        );
      const isOld = (p: Loose) => revisionOf.get(p.metadata.labels["pod-template-hash"]) === "1";
      const firstNew = versions.findIndex((p) => !isOld(p));
      assert.ok(firstNew > 0, "a pod of the new ReplicaSet was created");
      const oldNames = new Set(versions.filter(isOld).map((p) => p.metadata.name));
      assert.equal(oldNames.size, 2);
      // the last version of each old pod (its removal) comes before the first new pod
      for (const name of oldNames) {
        const last = versions.findLastIndex((p) => p.metadata.name === name);
        assert.ok(last < firstNew, `old pod ${name} still existed when the new ReplicaSet created its pod`);
      }
    } finally {
      recording.stop();
    }
  });

  test("validation as the API server's: selector and labels, restartPolicy, strategy, immutable selector", async () => {
    const mismatch = deployment("bad");
    mismatch.spec.template.metadata.labels = { app: "other" };
    let res = await applyJson(mismatch);
    assert.notEqual(res.code, 0);
    assert.match(
      res.stderr,
      /The Deployment "bad" is invalid: spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/,
    );
    const never = deployment("bad");
    never.spec.template.spec.restartPolicy = "Never";
    res = await applyJson(never);
    assert.match(
      res.stderr,
      /spec\.template\.spec\.restartPolicy: Unsupported value: "Never": supported values: "Always"/,
    );
    res = await applyJson(
      deployment("bad", { strategy: { type: "Recreate", rollingUpdate: { maxSurge: 1 } } }),
    );
    assert.match(
      res.stderr,
      /spec\.strategy\.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'/,
    );
    res = await applyJson(
      deployment("bad", {
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } },
      }),
    );
    assert.match(
      res.stderr,
      /spec\.strategy\.rollingUpdate\.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0/,
    );
    res = await applyJson(deployment("bad", { selector: undefined }));
    assert.match(res.stderr, /spec\.selector: Required value/);
    assert.equal((await kubectl("get", "deployment", "bad")).code, 1, "nothing half-created");
    res = await kubectl(
      "patch",
      "deployment",
      "web",
      "--type",
      "merge",
      "-p",
      '{"spec":{"selector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"app","operator":"Exists"}]}}}',
    );
    assert.match(res.stderr, /spec\.selector: Invalid value: .*field is immutable/);
  });

  test("strategic merge patch of a pod template: env and containers merge by name; $retainKeys drops rollingUpdate when switching to Recreate", async () => {
    assert.equal((await applyJson(deployment("smp"))).code, 0);
    const patch = async (body: unknown) =>
      json(
        await ok(
          "patch",
          "deployment",
          "smp",
          "--type",
          "strategic",
          "-p",
          JSON.stringify(body),
          "-o",
          "json",
        ),
      );
    let d = await patch({
      spec: { template: { spec: { containers: [{ name: "main", env: [{ name: "B", value: "2" }] }] } } },
    });
    // merged by name; the new variable goes first, as apimachinery orders a merged list
    assert.deepEqual(d.spec.template.spec.containers[0].env, [
      { name: "B", value: "2" },
      { name: "A", value: "1" },
    ]);
    d = await patch({
      spec: {
        template: { spec: { containers: [{ name: "side", image: "busybox:1", args: ["sleep 600"] }] } },
      },
    });
    assert.deepEqual(
      d.spec.template.spec.containers.map((c: Loose) => c.name),
      ["side", "main"],
    );
    assert.equal(d.spec.template.spec.containers[1].image, "busybox:1", "the other container untouched");
    // what `kubectl apply` sends when the strategy changes: without $retainKeys the defaulted
    // rollingUpdate would stay and make the Deployment invalid
    const refused = await kubectl(
      "patch",
      "deployment",
      "smp",
      "--type",
      "strategic",
      "-p",
      '{"spec":{"strategy":{"type":"Recreate"}}}',
    );
    assert.match(
      refused.stderr,
      /spec\.strategy\.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'/,
    );
    d = await patch({ spec: { strategy: { $retainKeys: ["type"], type: "Recreate" } } });
    assert.deepEqual(d.spec.strategy, { type: "Recreate" });
    assert.match(await ok("rollout", "status", "deployment/smp", "--timeout=60s"), /successfully rolled out/);
  });

  test("the scale subresource: kubectl scale (PATCH, and GET + PUT with --current-replicas), get --subresource=scale, RBAC on deployments/scale, a stale or negative Scale refused", async () => {
    await ok("create", "deployment", "scaled", "--image=busybox:1", "--replicas=1", "--", "sleep", "600");
    assert.equal(
      (await ok("scale", "deployment/scaled", "--replicas=3")).trim(),
      "deployment.apps/scaled scaled",
    );
    assert.match(
      await ok("rollout", "status", "deployment/scaled", "--timeout=60s"),
      /successfully rolled out/,
    );
    const d = json(await ok("get", "deployment", "scaled", "-o", "json"));
    assert.equal(d.spec.replicas, 3);
    assert.equal(d.metadata.generation, 2);
    const scale = json(await ok("get", "deployment", "scaled", "--subresource=scale", "-o", "json"));
    assert.deepEqual(scale, {
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: {
        name: "scaled",
        namespace: "default",
        uid: d.metadata.uid,
        resourceVersion: d.metadata.resourceVersion,
        creationTimestamp: d.metadata.creationTimestamp,
      },
      spec: { replicas: 3 },
      status: { replicas: 3, selector: "app=scaled" },
    });
    assert.match(
      await ok("get", "deployment", "scaled", "--subresource=scale"),
      /^NAME\s+DESIRED\s+AVAILABLE\nscaled\s+3\s+3\n$/,
    );
    // with a precondition kubectl reads the Scale and PUTs it back
    assert.equal(
      (await ok("scale", "deployment/scaled", "--current-replicas=3", "--replicas=2")).trim(),
      "deployment.apps/scaled scaled",
    );
    let res = await kubectl("scale", "deployment/scaled", "--current-replicas=5", "--replicas=1");
    assert.match(res.stderr, /Expected replicas to be 5, was 2/);
    // a ReplicaSet's Scale too
    const rs = json(await ok("get", "replicasets", "-l", "app=scaled", "-o", "json")).items[0] as Loose;
    const rsScale = json(
      await ok("get", "replicaset", rs.metadata.name, "--subresource=scale", "-o", "json"),
    );
    assert.equal(
      rsScale.status.selector,
      `app=scaled,pod-template-hash=${rs.metadata.labels["pod-template-hash"]}`,
    );
    // the API server's own checks (kubectl refuses a negative count before sending it)
    const path = "/apis/apps/v1/namespaces/default/deployments/scaled/scale";
    const stale = { ...scale, metadata: { ...scale.metadata, resourceVersion: "1" } };
    const staleFile = join(home, "stale-scale.json");
    writeFileSync(staleFile, JSON.stringify(stale));
    res = await kubectl("replace", "--raw", path, "-f", staleFile);
    assert.match(
      res.stderr,
      /Conflict.*Operation cannot be fulfilled on deployments\.apps "scaled": the object has been modified/,
    );
    res = await kubectl(
      "patch",
      "deployment",
      "scaled",
      "--subresource=scale",
      "--type=merge",
      "-p",
      '{"spec":{"replicas":-1}}',
    );
    assert.match(
      res.stderr,
      /Scale "scaled" is invalid: spec\.replicas: Invalid value: -1: must be greater than or equal to 0/,
    );
    // RBAC sees the subresource: patch on deployments does not allow patch on deployments/scale
    await ok("create", "serviceaccount", "scaler");
    await ok("create", "role", "scaler", "--verb=get,list,patch,update", "--resource=deployments.apps");
    await ok("create", "rolebinding", "scaler", "--role=scaler", "--serviceaccount=default:scaler");
    const as = ["--token", (await ok("create", "token", "scaler")).trim()];
    res = await kubectl(...as, "scale", "deployment/scaled", "--replicas=1");
    assert.match(
      res.stderr,
      /deployments\.apps "scaled" is forbidden: User "system:serviceaccount:default:scaler" cannot patch resource "deployments\/scale" in API group "apps" in the namespace "default"/,
    );
    await ok(
      "create",
      "role",
      "scaler-scale",
      "--verb=get,patch,update",
      "--resource=deployments.apps/scale",
    );
    await ok(
      "create",
      "rolebinding",
      "scaler-scale",
      "--role=scaler-scale",
      "--serviceaccount=default:scaler",
    );
    res = await kubectl(...as, "scale", "deployment/scaled", "--replicas=1");
    assert.equal(res.code, 0, res.stderr);
    assert.equal(json(await ok("get", "deployment", "scaled", "-o", "json")).spec.replicas, 1);
  });

  test("RBAC: a service account needs apps permissions to create a Deployment, as on a real cluster", async () => {
    await ok("create", "serviceaccount", "deployer");
    const token = (await ok("create", "token", "deployer")).trim();
    const as = ["--token", token];
    let res = await kubectl(...as, "create", "deployment", "nope", "--image=busybox:1");
    assert.match(
      res.stderr,
      /deployments\.apps is forbidden: User "system:serviceaccount:default:deployer" cannot create resource "deployments" in API group "apps" in the namespace "default"/,
    );
    await ok("create", "role", "deployer", "--verb=create,get,list,watch", "--resource=deployments.apps");
    await ok("create", "rolebinding", "deployer", "--role=deployer", "--serviceaccount=default:deployer");
    res = await kubectl(...as, "create", "deployment", "yes", "--image=busybox:1", "--", "sleep", "600");
    assert.equal(res.code, 0, res.stderr);
    res = await kubectl(...as, "get", "replicasets");
    assert.match(res.stderr, /replicasets\.apps is forbidden/);
  });
});

/** the exit of a child, SIGKILL after `ms` */
function exited(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** `flotilla <args>`, its stdout (stderr kept for failures) */
async function flotilla(kubeconfig: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await run(process.execPath, [flotillaBin(), ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig, HOME: home },
    timeout: 60_000,
  });
  return { stdout, stderr };
}

describe("Flotilla's install manifests applied whole to `flotilla sim`", { timeout: 240_000 }, () => {
  const kubeconfig = join(home, "flotilla-sim", "kubeconfig");
  let child: ChildProcess;
  const kubectl = (args: string[], stdin?: string) => kubectlWith(kubeconfig, args, stdin);

  before(async () => {
    child = spawn(process.execPath, [flotillaBin(), "sim", "--kubeconfig", kubeconfig], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => {
      stderr += c;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`flotilla sim did not start in 30 s: ${stderr}`)),
        30_000,
      );
      child.stdout!.on("data", (c: Buffer) => {
        stdout += c;
        if (stdout.includes(`kubeconfig: ${kubeconfig}\n`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`flotilla sim exited with ${code}: ${stderr}`)));
    });
  });
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited(child, 15_000);
  });

  test("flotilla server install | kubectl apply -f -: the server's pod runs, its home on the claim; then agent install --rbac: the agent runs as its account and registers", async () => {
    const ns = "flotilla";
    assert.equal((await kubectl(["create", "namespace", ns])).code, 0);
    // kube-sim's pods share this machine's network: a free port instead of the default 4200
    const server = await flotilla(
      kubeconfig,
      "server",
      "install",
      "-n",
      ns,
      "--image",
      "ghcr.io/example/flotilla:1",
      "--port",
      String(await freePort()),
    );
    let res = await kubectl(["apply", "-f", "-"], server.stdout);
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(res.stdout.trim().split("\n"), [
      "persistentvolumeclaim/flotilla created",
      "deployment.apps/flotilla created",
      "service/flotilla created",
    ]);
    res = await kubectl(["-n", ns, "rollout", "status", "deployment/flotilla", "--timeout=90s"]);
    assert.equal(res.code, 0, res.stderr);
    const pvc = json((await kubectl(["-n", ns, "get", "pvc", "flotilla", "-o", "json"])).stdout);
    assert.equal(pvc.status.phase, "Bound");
    assert.equal(pvc.status.capacity.storage, "1Gi");
    // the server listens on every interface (--host 0.0.0.0) at the port the manifest names
    const port = json((await kubectl(["-n", ns, "get", "deployment", "flotilla", "-o", "json"])).stdout).spec
      .template.spec.containers[0].ports[0].containerPort as number;
    const url = `http://127.0.0.1:${port}`;
    const health = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(health.status, 200);
    // the admin token is in the home on the claim (where `kubectl exec … cat` would read it)
    const logs = (await kubectl(["-n", ns, "logs", "deployment/flotilla"])).stdout;
    const tokenFile = /admin token written to (\S+) /.exec(logs)?.[1];
    assert.ok(tokenFile, logs);
    assert.doesNotMatch(
      tokenFile,
      /^\/var\/lib\/flotilla/,
      "the mount path is the claim's folder, not the host's",
    );
    const admin = readFileSync(tokenFile, "utf8").trim();

    const agentToken = (
      await flotilla(
        kubeconfig,
        "tokens",
        "create",
        "--server",
        url,
        "--token",
        admin,
        "--scope",
        "agent",
        "--name",
        "in-cluster",
      )
    ).stdout.trim();
    assert.ok(agentToken.length > 10);
    res = await kubectl([
      "-n",
      ns,
      "create",
      "secret",
      "generic",
      "flotilla-agent-token",
      `--from-literal=token=${agentToken}`,
    ]);
    assert.equal(res.code, 0, res.stderr);
    // the server says when an agent is first heard from: listen before the agent exists
    const registered = await agentHeard(url, admin, 120_000);
    const agent = await flotilla(
      kubeconfig,
      "agent",
      "install",
      "kubernetes",
      "--rbac",
      "-n",
      ns,
      "--server",
      url,
      "--image",
      "ghcr.io/example/flotilla:1",
    );
    res = await kubectl(["apply", "-f", "-"], agent.stdout);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^deployment\.apps\/flotilla-agent created$/m);
    res = await kubectl(["-n", ns, "rollout", "status", "deployment/flotilla-agent", "--timeout=90s"]);
    assert.equal(res.code, 0, res.stderr);
    const pods = json(
      (await kubectl(["-n", ns, "get", "pods", "-l", "app.kubernetes.io/name=flotilla-agent", "-o", "json"]))
        .stdout,
    ).items as Loose[];
    assert.equal(pods.length, 1);
    assert.equal(pods[0]!.spec.serviceAccountName, "flotilla-agent");
    assert.equal(pods[0]!.status.phase, "Running");
    // the agent dialled out to the server and registered
    const heard = await registered.agent;
    assert.equal(heard.pool, "kubernetes");
    const agents = (
      await flotilla(kubeconfig, "agents", "list", "--server", url, "--token", admin, "-o", "json")
    ).stdout;
    assert.match(agents, /kubernetes/, agents);
  });
});
