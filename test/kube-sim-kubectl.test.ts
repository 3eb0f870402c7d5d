// kubectl against kube-sim: discovery, server-side validation (OpenAPI v3), Table printing, apply,
// logs, auth can-i (SSAR), create token (TokenRequest over protobuf) and delete — against an embedded
// KubeSim, and against `flotilla sim` run as a user runs it (a separate process stopped by SIGTERM).
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { flotillaBin, KubeSim } from "../src/testing/index.ts";
import { groupAlive, TEST_IMAGES } from "./helpers/kube-sim.ts";

/** kubectl on PATH (`.ci/run` installs it), or undefined: the tests are then skipped with that reason */
const KUBECTL = (process.env.PATH ?? "")
  .split(delimiter)
  .map((dir) => join(dir, "kubectl"))
  .find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
// biome-ignore lint/suspicious/noExplicitAny: reading arbitrary JSON documents back
type Loose = Record<string, any>;

const NO_KUBECTL = "kubectl is not on PATH (.ci/run installs it)";
const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), "kube-sim-kubectl-"));
let sim: KubeSim;

before(async () => {
  sim = await KubeSim.start({ images: TEST_IMAGES });
});
after(async () => {
  await sim.stop();
  rmSync(home, { recursive: true, force: true });
});

/** kubectl with a fresh HOME and cache dir, so no discovery cache leaks between runs */
async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return kubectlWith(sim.kubeconfigPath, ...args);
}

async function kubectlWith(
  kubeconfig: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(KUBECTL!, ["--cache-dir", join(home, "cache"), ...args], {
      env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig },
      timeout: 20_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : 1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    };
  }
}

test("kubectl apply/get/logs/auth can-i/create token/delete", async (t) => {
  if (!KUBECTL) {
    t.skip(NO_KUBECTL);
    return;
  }
  const manifest = join(home, "pod.yaml");
  writeFileSync(
    manifest,
    [
      "apiVersion: v1",
      "kind: Pod",
      "metadata:",
      "  name: kc",
      "spec:",
      "  restartPolicy: Never",
      "  containers:",
      "  - name: main",
      "    image: busybox:1",
      '    args: ["echo hello from kubectl"]',
      "",
    ].join("\n"),
  );
  const applied = await kubectl("apply", "-f", manifest);
  assert.equal(applied.stdout.trim(), "pod/kc created", applied.stderr);
  await sim.waitFor("pods", "default", "kc", (p) => p?.status?.phase === "Succeeded");

  const get = await kubectl("get", "pods");
  assert.match(
    get.stdout,
    /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nkc\s+0\/1\s+Completed\s+0\s+\d+s\n$/,
    get.stderr,
  );
  assert.equal((await kubectl("logs", "kc")).stdout, "hello from kubectl\n");
  assert.equal((await kubectl("apply", "-f", manifest)).stdout.trim(), "pod/kc unchanged");

  const typo = join(home, "typo.yaml");
  writeFileSync(
    typo,
    ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: t", "dataa: {}", ""].join("\n"),
  );
  const rejected = await kubectl("apply", "-f", typo);
  assert.notEqual(rejected.code, 0);
  assert.match(rejected.stderr, /unknown field "dataa"/);

  assert.equal((await kubectl("auth", "can-i", "create", "pods")).stdout.trim(), "yes");
  assert.equal(
    (await kubectl("create", "serviceaccount", "bot")).stdout.trim(),
    "serviceaccount/bot created",
  );
  const token = (await kubectl("create", "token", "bot")).stdout.trim();
  assert.match(token, /^kube-sim\./);
  const denied = await kubectl("--token", token, "auth", "can-i", "create", "pods");
  assert.equal(denied.stdout.trim(), "no");
  assert.equal(denied.code, 1);
  const forbidden = await kubectl("--token", token, "get", "pods");
  assert.match(
    forbidden.stderr,
    /pods is forbidden: User "system:serviceaccount:default:bot" cannot list resource "pods" in API group "" in the namespace "default"/,
  );

  assert.equal((await kubectl("delete", "-f", manifest)).stdout.trim(), 'pod "kc" deleted');
  assert.equal(sim.objects("pods", "default").length, 0);
});

test("kubectl get nodes / get node <name> / get pods --watch=True", async (t) => {
  if (!KUBECTL) {
    t.skip(NO_KUBECTL);
    return;
  }
  const nodes = await kubectl("get", "nodes");
  assert.match(
    nodes.stdout,
    /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nkube-sim-node\s+Ready\s+<none>\s+\d+[smh]\S*\s+v1\.32\.4\n$/,
    nodes.stderr,
  );
  const one = await kubectl("get", "node", "kube-sim-node", "-o", "jsonpath={.status.addresses[0].address}");
  assert.equal(one.stdout, "127.0.0.1", one.stderr);
  const missing = await kubectl("get", "node", "nope");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nodes "nope" not found/);
  // kubectl sends `watch=true`; a real server also takes True/1 (only "0"/"false" are false)
  const watched = await kubectl("get", "nodes", "--watch=True", "--request-timeout=2s");
  assert.match(watched.stdout, /^NAME\s+STATUS.*\nkube-sim-node\s+Ready/, watched.stderr);
});

test("OpenAPI from Kubernetes' own schemas: kubectl explain (v3 and v2), /openapi/v2 (JSON and protobuf) and v3 documents of the served paths, a List validated by kubectl, apply --validate=strict", async (t) => {
  if (!KUBECTL) {
    t.skip(NO_KUBECTL);
    return;
  }
  const containers = await kubectl("explain", "pod.spec.containers");
  assert.equal(containers.code, 0, containers.stderr);
  assert.match(containers.stdout, /^KIND:\s+Pod\nVERSION:\s+v1\n\nFIELD: containers <\[\]Container>/);
  assert.match(
    containers.stdout,
    /List of containers belonging to the pod\. Containers cannot currently be\s+added or removed/,
  );
  assert.match(containers.stdout, /\n {2}image\t<string>\n {4}Container image name\./);
  const replicas = await kubectl("explain", "deployment.spec.replicas");
  assert.match(
    replicas.stdout,
    /GROUP:\s+apps\nKIND:\s+Deployment\nVERSION:\s+v1\n\nFIELD: replicas <integer>/,
  );
  assert.match(replicas.stdout, /Number of desired pods\./);
  const typo = await kubectl("explain", "pod.spec.containerz");
  assert.equal(typo.code, 1);
  assert.match(typo.stderr, /field "containerz" does not exist/);

  const root = JSON.parse((await kubectl("get", "--raw", "/openapi/v3")).stdout) as Loose;
  assert.deepEqual(Object.keys(root.paths).sort(), [
    "api/v1",
    "apis/admissionregistration.k8s.io/v1",
    "apis/apps/v1",
    "apis/authorization.k8s.io/v1",
    "apis/batch/v1",
    "apis/rbac.authorization.k8s.io/v1",
  ]);
  const apps = JSON.parse((await kubectl("get", "--raw", "/openapi/v3/apis/apps/v1")).stdout) as Loose;
  assert.equal(apps.openapi, "3.0.0");
  assert.ok(apps.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]);
  assert.equal(apps.paths["/apis/apps/v1/namespaces/{namespace}/statefulsets"], undefined, "not served");
  const patch = apps.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].patch;
  assert.ok(patch.parameters.some((p: Loose) => p.name === "fieldValidation" && p.in === "query"));
  assert.deepEqual(patch["x-kubernetes-group-version-kind"], {
    group: "apps",
    version: "v1",
    kind: "Deployment",
  });
  assert.equal(
    apps.components.schemas["io.k8s.api.core.v1.Container"].properties.env["x-kubernetes-patch-merge-key"],
    "name",
  );
  const v2 = JSON.parse((await kubectl("get", "--raw", "/openapi/v2")).stdout) as Loose;
  assert.equal(v2.swagger, "2.0");
  assert.equal(v2.info.version, "v1.32.4");
  assert.deepEqual(v2.definitions["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"], [
    { group: "", kind: "Pod", version: "v1" },
  ]);
  const paths = Object.keys(v2.paths);
  assert.ok(paths.includes("/api/v1/namespaces/{namespace}/pods/{name}/log"));
  assert.ok(
    !paths.some((p) => p.includes("/watch/") || p.endsWith("/exec") || p.includes("cronjobs")),
    "only what is served",
  );

  // kubectl reads /openapi/v2 in protobuf: explain's v2 output, and its own validation of a List
  const v2explain = await kubectl("explain", "pods.spec.containers.image", "--output", "plaintext-openapiv2");
  assert.equal(v2explain.code, 0, v2explain.stderr);
  assert.match(
    v2explain.stdout,
    /^KIND:\s+Pod\nVERSION:\s+v1\n\nFIELD:\s+image <string>\n\nDESCRIPTION:\n\s+Container image name\./,
  );
  const list = (bogus: boolean) =>
    JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "listed-cm", ...(bogus ? { bogus: 1 } : {}) },
          data: { a: "1" },
        },
      ],
    });
  const listFile = join(home, "list.json");
  writeFileSync(listFile, list(true));
  const refused = await kubectl("apply", "-f", listFile);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /error validating data: ValidationError\(ConfigMap\.metadata\): unknown field "bogus" in io\.k8s\.apimachinery\.pkg\.apis\.meta\.v1\.ObjectMeta/,
  );
  writeFileSync(listFile, list(false));
  const listed = await kubectl("apply", "--dry-run=server", "-f", listFile);
  assert.equal(listed.stdout, "configmap/listed-cm created (server dry run)\n", listed.stderr);

  const bad = join(home, "unknown-field.yaml");
  writeFileSync(bad, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict-cm\n  bogus: 1\n");
  const strict = await kubectl("apply", "--validate=strict", "-f", bad);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /strict decoding error: unknown field "metadata\.bogus"/);
  assert.match((await kubectl("get", "configmap", "strict-cm")).stderr, /configmaps "strict-cm" not found/);
});

test("kubectl create role / rolebinding / namespace / configmap (protobuf bodies) take effect", async (t) => {
  if (!KUBECTL) {
    t.skip(NO_KUBECTL);
    return;
  }
  assert.equal((await kubectl("create", "namespace", "pb")).stdout.trim(), "namespace/pb created");
  assert.equal(
    (await kubectl("-n", "pb", "create", "serviceaccount", "reader")).stdout.trim(),
    "serviceaccount/reader created",
  );
  const role = await kubectl(
    "-n",
    "pb",
    "create",
    "role",
    "read-cm",
    "--verb=get,list",
    "--resource=configmaps",
  );
  assert.equal(role.stdout.trim(), "role.rbac.authorization.k8s.io/read-cm created", role.stderr);
  const binding = await kubectl(
    "-n",
    "pb",
    "create",
    "rolebinding",
    "read-cm",
    "--role=read-cm",
    "--serviceaccount=pb:reader",
  );
  assert.equal(
    binding.stdout.trim(),
    "rolebinding.rbac.authorization.k8s.io/read-cm created",
    binding.stderr,
  );
  const stored = sim.objects("rolebindings", "pb")[0];
  assert.deepEqual(stored.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-cm" });
  assert.deepEqual(stored.subjects, [{ kind: "ServiceAccount", name: "reader", namespace: "pb" }]);
  assert.deepEqual(sim.objects("roles", "pb")[0].rules, [
    { verbs: ["get", "list"], apiGroups: [""], resources: ["configmaps"] },
  ]);
  const cm = await kubectl("-n", "pb", "create", "configmap", "c", "--from-literal=a=1");
  assert.equal(cm.stdout.trim(), "configmap/c created", cm.stderr);
  const token = (await kubectl("-n", "pb", "create", "token", "reader")).stdout.trim();
  const can = await kubectl("--token", token, "-n", "pb", "auth", "can-i", "list", "configmaps");
  assert.equal(can.stdout.trim(), "yes", can.stderr);
  const cannot = await kubectl("--token", token, "-n", "pb", "auth", "can-i", "delete", "configmaps");
  assert.equal(cannot.stdout.trim(), "no");
});

/** Resolves once `child` has exited; SIGKILLs it if it has not within timeoutMs. */
function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Resolves with the content of `path` once it exists (written by rename, so complete); rejects after timeoutMs. */
function fileContent(path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dirname(path), (_event, name) => {
      if (name === basename(path)) check();
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${path} did not appear within ${timeoutMs} ms`));
    }, timeoutMs);
    const check = () => {
      if (!existsSync(path)) return;
      watcher.close();
      clearTimeout(timer);
      resolve(readFileSync(path, "utf8"));
    };
    check();
  });
}

test("`flotilla sim`: kubectl get/apply -f/logs/auth can-i/delete; SIGTERM stops it and its pods' processes", async (t) => {
  if (!KUBECTL) {
    t.skip(NO_KUBECTL);
    return;
  }
  const kubeconfig = join(home, "flotilla-sim", "kubeconfig");
  const child = spawn(process.execPath, [flotillaBin(), "sim", "--kubeconfig", kubeconfig], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(async () => {
    // on failure: SIGTERM so the sim still stops its pods' processes (SIGKILL only if that hangs)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited(child, 10_000);
  });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`flotilla sim did not start in 20 s: ${stderr}`)),
      20_000,
    );
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
      if (stdout.includes(`kubeconfig: ${kubeconfig}\n`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`flotilla sim exited with ${code}: ${stderr}`)));
  });
  assert.match(stdout, /^kube-sim is running at https:\/\/127\.0\.0\.1:\d+$/m);
  const kc = (...args: string[]) => kubectlWith(kubeconfig, ...args);

  const manifest = join(home, "hello.yaml");
  writeFileSync(
    manifest,
    [
      "apiVersion: v1",
      "kind: Pod",
      "metadata:",
      "  name: hello",
      "spec:",
      "  restartPolicy: Never",
      "  containers:",
      "  - name: main",
      "    image: busybox:1.36",
      '    args: ["echo", "hello from flotilla sim"]',
      "",
    ].join("\n"),
  );
  assert.equal((await kc("apply", "-f", manifest)).stdout.trim(), "pod/hello created");
  const waited = await kc("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/hello", "--timeout=20s");
  assert.equal(waited.stdout.trim(), "pod/hello condition met", waited.stderr);
  const get = await kc("get", "pods");
  assert.match(get.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\nhello\s+0\/1\s+Completed\s+0\s+\d+s\n$/);
  assert.equal((await kc("logs", "hello")).stdout, "hello from flotilla sim\n");
  assert.equal((await kc("auth", "can-i", "delete", "pods")).stdout.trim(), "yes");
  assert.equal((await kc("delete", "-f", manifest)).stdout.trim(), 'pod "hello" deleted');
  assert.equal((await kc("get", "pods", "-o", "name")).stdout, "");

  // a long-running pod (that ignores SIGTERM) is killed, with its whole process group, when the sim stops;
  // `$$$$` is the shell's `$$` after Kubernetes reduces `$$` to `$` in args
  const pidFile = join(home, "sleeper.pid");
  const sleeper = await kc(
    "run",
    "sleeper",
    "--image=busybox",
    "--restart=Never",
    "--",
    "sh",
    "-c",
    `trap '' TERM; echo $$$$ > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; sleep 600 & wait`,
  );
  assert.equal(sleeper.stdout.trim(), "pod/sleeper created", sleeper.stderr);
  const pid = Number(await fileContent(pidFile, 20_000));
  assert.equal(groupAlive(pid), true, "the sleeper's process group runs");

  child.kill("SIGTERM");
  assert.equal(await exited(child, 15_000), 0, stderr);
  assert.match(stdout, /kube-sim stopped\n$/);
  assert.equal(groupAlive(pid), false, "no process of the pod is left");
});
