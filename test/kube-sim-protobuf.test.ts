// kube-sim's protobuf bodies: every object kubectl's typed clients send as
// application/vnd.kubernetes.protobuf (create secret/configmap/sa/ns/role/rolebinding/job/service, run)
// is stored exactly as the same object sent as JSON is (the differential: kubectl --dry-run=client -o json
// of the same command, created through client-node), and a protobuf field kube-sim does not know is a 400
// naming it, with nothing stored.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import protobuf from "protobufjs";
import { KubeSim } from "../src/testing/index.ts";
import { TEST_IMAGES } from "./helpers/kube-sim.ts";
import { kubectlPath } from "./helpers/system.ts";

const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), "kube-sim-protobuf-"));
let sim: KubeSim;

before(async () => {
  sim = await KubeSim.start({ images: TEST_IMAGES, namespaces: ["pb"] });
});
after(async () => {
  await sim?.stop();
  rmSync(home, { recursive: true, force: true });
});

async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(kubectlPath(), ["--cache-dir", join(home, "cache"), ...args], {
      env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: sim.kubeconfigPath },
      timeout: 30_000,
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

// biome-ignore lint/suspicious/noExplicitAny: reading arbitrary Kubernetes objects back
type Loose = Record<string, any>;

/** what two creations of one object may differ in: identity, times, generated names */
function normalise(o: Loose): Loose {
  const text = JSON.stringify(o)
    .replaceAll(`"${o.metadata.name}"`, '"<name>"')
    .replace(/kube-api-access-[a-z0-9]{5}/g, "kube-api-access-x")
    .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"/g, '"<time>"')
    .replaceAll(o.metadata.uid, "<uid>")
    .replace(/"(podIP|clusterIP)":"[^"]*"/g, '"$1":"<ip>"')
    .replace(/"(clusterIPs|podIPs)":\[[^\]]*\]/g, '"$1":["<ip>"]');
  const copy = JSON.parse(text);
  delete copy.metadata.resourceVersion;
  delete copy.metadata.managedFields;
  delete copy.status;
  return copy;
}

/** the object `kubectl create|run ...` sends (its --dry-run=client JSON), renamed */
async function clientObject(args: string[], name: string): Promise<Loose> {
  const dashes = args.includes("--") ? args.indexOf("--") : args.length;
  const out = await kubectl(
    ...args.slice(0, dashes),
    "--dry-run=client",
    "-o",
    "json",
    ...args.slice(dashes),
  );
  assert.equal(out.code, 0, out.stderr);
  const o = JSON.parse(out.stdout);
  o.metadata.name = name;
  return o;
}

const CASES: { what: string; args: (name: string) => string[]; resource: string; sends?: "json" }[] = [
  {
    what: "create secret generic",
    resource: "secrets",
    args: (n) => [
      "create",
      "secret",
      "generic",
      n,
      "--from-literal=a=b",
      '--from-literal=quote="x\\y"',
      "--type=Opaque",
    ],
  },
  {
    what: "create secret docker-registry",
    resource: "secrets",
    args: (n) => [
      "create",
      "secret",
      "docker-registry",
      n,
      "--docker-server=registry.example.com",
      "--docker-username=u",
      "--docker-password=p",
    ],
  },
  {
    what: "create configmap",
    resource: "configmaps",
    args: (n) => ["create", "configmap", n, "--from-literal=x=y", "--from-literal=empty="],
  },
  {
    what: "create serviceaccount",
    resource: "serviceaccounts",
    args: (n) => ["create", "serviceaccount", n],
  },
  {
    what: "create role",
    resource: "roles",
    args: (n) => ["create", "role", n, "--verb=get,list", "--resource=pods,pods/log", "--resource-name=a"],
  },
  {
    what: "create rolebinding",
    resource: "rolebindings",
    args: (n) => [
      "create",
      "rolebinding",
      n,
      "--role=pb-4",
      "--serviceaccount=pb:default",
      "--user=ada",
      "--group=g",
    ],
  },
  {
    what: "create job",
    resource: "jobs",
    args: (n) => ["create", "job", n, "--image=busybox:1", "--", "echo", "hi"],
  },
  {
    what: "create service clusterip",
    resource: "services",
    args: (n) => ["create", "service", "clusterip", n, "--tcp=80:8080", "--tcp=443:https"],
  },
  {
    // kubectl run goes through the dynamic client: JSON, kept here as the same-object check
    what: "run (JSON)",
    sends: "json",
    resource: "pods",
    args: (n) => [
      "run",
      n,
      "--image=busybox:1",
      "--restart=Never",
      "--env=A=B",
      "--port=80",
      "--labels=a=b,c=d",
      "--annotations=note=x",
      "--image-pull-policy=IfNotPresent",
      "--",
      "sleep 0",
    ],
  },
];

describe("kubectl's protobuf bodies are stored as the same object sent as JSON", { timeout: 180_000 }, () => {
  for (const [i, c] of CASES.entries()) {
    test(c.what, async () => {
      const [viaJson, viaPb] = [`json-${i}`, `pb-${i}`];
      const json = await clientObject(["-n", "pb", ...c.args(viaJson)], viaJson);
      const client = k8s.KubernetesObjectApi.makeApiClient(sim.kubeConfig());
      await client.create(json);
      const created = await kubectl("-v=8", "-n", "pb", ...c.args(viaPb));
      assert.equal(created.code, 0, created.stderr);
      // the body really went as protobuf (kubectl logs its request headers at -v=8)
      const type = c.sends === "json" ? "application\\/json" : "application\\/vnd\\.kubernetes\\.protobuf";
      assert.match(created.stderr, new RegExp(`POST .*\\n(.*\\n)*?.*Content-Type: ${type}`, "i"));
      assert.match(created.stdout, / created\n$/);
      const [a, b] = await Promise.all(
        [viaJson, viaPb].map((name) =>
          client.read({ apiVersion: json.apiVersion, kind: json.kind, metadata: { name, namespace: "pb" } }),
        ),
      );
      assert.deepEqual(normalise(b as Loose), normalise(a as Loose));
      assert.ok(sim.objects(c.resource, "pb").some((o) => o.metadata.name === viaPb));
    });
  }

  test("debug node (a Pod with host namespaces, a hostPath volume and tolerations, as protobuf)", async () => {
    const out = await kubectl(
      "-v=8",
      "-n",
      "pb",
      "debug",
      "node/kube-sim-node",
      "--image=busybox:1",
      "--",
      "true",
    );
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stderr, /Content-Type: application\/vnd\.kubernetes\.protobuf/);
    const pod = sim.objects("pods", "pb").find((p) => p.metadata.name.startsWith("node-debugger-"));
    assert.ok(pod, out.stdout);
    assert.equal(pod.spec.nodeName, "kube-sim-node");
    assert.deepEqual([pod.spec.hostIPC, pod.spec.hostNetwork, pod.spec.hostPID], [true, true, true]);
    assert.deepEqual(pod.spec.tolerations, [{ operator: "Exists" }]);
    // hostPath.type is a pointer kubectl sets to "": kept, as on a real server
    assert.deepEqual(pod.spec.volumes[0], { name: "host-root", hostPath: { path: "/", type: "" } });
    const [c] = pod.spec.containers;
    assert.deepEqual(
      [c.name, c.image, c.command, c.stdin, c.tty],
      ["debugger", "busybox:1", ["true"], undefined, undefined],
    );
    assert.deepEqual(c.volumeMounts[0], { name: "host-root", mountPath: "/host" });
    assert.equal(pod.metadata.creationTimestamp.length, 20);
  });

  test("create namespace, create token and auth can-i (TokenRequest, SelfSubjectAccessReview)", async () => {
    assert.equal((await kubectl("create", "namespace", "pb2")).stdout.trim(), "namespace/pb2 created");
    // discovery over https names the server's own address (it said undefined:undefined)
    const api = JSON.parse((await kubectl("get", "--raw", "/api")).stdout);
    assert.equal(api.serverAddressByClientCIDRs[0].serverAddress, new URL(sim.serverUrl).host);
    assert.equal(sim.objects("namespaces").find((n) => n.metadata.name === "pb2")?.status?.phase, "Active");
    const token = await kubectl("-n", "pb", "create", "token", "default", "--duration=10m", "--audience=a");
    assert.equal(token.code, 0, token.stderr);
    const can = await kubectl("--token", token.stdout.trim(), "-n", "pb", "auth", "can-i", "list", "pods");
    // the rolebinding case bound pb's default account to the role case's (pb-4) get,list of pods named "a"
    assert.equal(can.stdout.trim(), "no", can.stderr);
    const named = await kubectl("--token", token.stdout.trim(), "-n", "pb", "auth", "can-i", "get", "pods/a");
    assert.equal(named.stdout.trim(), "yes", named.stderr);
    assert.equal((await kubectl("auth", "can-i", "create", "jobs.batch", "-n", "pb")).stdout.trim(), "yes");
  });
});

/** a `k8s\0` runtime.Unknown envelope around `raw`, written with protobufjs' Writer */
function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  const typeMeta = protobuf.Writer.create().uint32(10).string(apiVersion).uint32(18).string(kind).finish();
  const unknown = protobuf.Writer.create().uint32(10).bytes(typeMeta).uint32(18).bytes(raw).finish();
  return Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), unknown]);
}

async function postProtobuf(path: string, body: Buffer): Promise<{ status: number; body: Loose }> {
  const token = sim.kubeConfig().getCurrentUser()?.token;
  const res = await fetch(`${sim.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/vnd.kubernetes.protobuf" },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as Loose };
}

test("a protobuf field kube-sim does not know is a 400 naming it and where, nothing stored", {
  timeout: 60_000,
}, async () => {
  // ConfigMap{metadata: ObjectMeta{name: "odd", <field 99>: 1}, data: {k: v}}
  const meta = protobuf.Writer.create()
    .uint32(10)
    .string("odd")
    .uint32((99 << 3) | 0)
    .int32(1)
    .finish();
  const entry = protobuf.Writer.create().uint32(10).string("k").uint32(18).string("v").finish();
  const cm = protobuf.Writer.create().uint32(10).bytes(meta).uint32(18).bytes(entry).finish();
  const res = await postProtobuf("/api/v1/namespaces/pb/configmaps", envelope("v1", "ConfigMap", cm));
  assert.equal(res.status, 400);
  assert.equal(res.body.reason, "BadRequest");
  assert.match(res.body.message, /unknown field number 99 in ConfigMap\.metadata \(meta\.v1\.ObjectMeta\)/);
  assert.equal(
    sim.objects("configmaps", "pb").find((o) => o.metadata.name === "odd"),
    undefined,
  );

  // a known body decodes (the same writer, without the stray field)
  const good = protobuf.Writer.create().uint32(10).string("even").finish();
  const ok = await postProtobuf(
    "/api/v1/namespaces/pb/configmaps",
    envelope(
      "v1",
      "ConfigMap",
      protobuf.Writer.create().uint32(10).bytes(good).uint32(18).bytes(entry).finish(),
    ),
  );
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.deepEqual(ok.body.data, { k: "v" });

  // deeper: Pod.spec.containers[0] with field 999
  const container = protobuf.Writer.create()
    .uint32(10)
    .string("c")
    .uint32((999 << 3) | 2)
    .string("?")
    .finish();
  const spec = protobuf.Writer.create().uint32(18).bytes(container).finish();
  const podMeta = protobuf.Writer.create().uint32(10).string("p").finish();
  const pod = protobuf.Writer.create().uint32(10).bytes(podMeta).uint32(18).bytes(spec).finish();
  const bad = await postProtobuf("/api/v1/namespaces/pb/pods", envelope("v1", "Pod", pod));
  assert.equal(bad.status, 400);
  assert.match(
    bad.body.message,
    /unknown field number 999 in Pod\.spec\.containers\[0\] \(core\.v1\.Container\)/,
  );

  // a kind kube-sim does not serve
  const other = await postProtobuf("/api/v1/namespaces/pb/configmaps", envelope("v1", "Frobnicator", good));
  assert.equal(other.status, 415);
});
