// kube-sim answering as a real kube-apiserver 1.32 answered the same requests: each expectation here
// is what scripts/kube-sim-compare.mjs recorded from a real API server (run through
// scripts/real-apiserver.mjs), for a difference it found and kube-sim now matches.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KubeSim } from "../src/testing/index.ts";

let sim: KubeSim;
const NS = "real";

before(async () => {
  sim = await KubeSim.start({ namespaces: [NS] });
});
after(() => sim.stop());

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: API JSON
  body: any;
}

/** a raw request as the admin, with a deadline */
async function call(
  method: string,
  path: string,
  body?: unknown,
  contentType = "application/json",
): Promise<Answer> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}`,
      ...(body !== undefined ? { "Content-Type": contentType } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

const secrets = `/api/v1/namespaces/${NS}/secrets`;
const pods = `/api/v1/namespaces/${NS}/pods`;
const jobs = `/apis/batch/v1/namespaces/${NS}/jobs`;

/** the 422 body's message and its causes as `reason field: message` */
function invalidOf(a: Answer): { message: string; causes: string[]; kind: string; group?: string } {
  assert.equal(a.status, 422, JSON.stringify(a.body));
  assert.equal(a.body.reason, "Invalid");
  return {
    message: a.body.message,
    causes: (a.body.details?.causes ?? []).map(
      (c: { reason: string; field: string; message: string }) => `${c.reason} ${c.field}: ${c.message}`,
    ),
    kind: a.body.details?.kind,
    ...(a.body.details?.group ? { group: a.body.details.group } : {}),
  };
}

describe("kube-sim answers as a real kube-apiserver 1.32", { timeout: 60_000 }, () => {
  test("a 422 names the group-qualified kind (Job.batch, CreateOptions.meta.k8s.io), as NewInvalid does", async () => {
    const job = (restartPolicy: string) => ({
      metadata: { name: "j3" },
      spec: { template: { spec: { restartPolicy, containers: [{ name: "c", image: "x" }] } } },
    });
    let v = invalidOf(await call("POST", jobs, job("Sometimes")));
    assert.equal(
      v.message,
      'Job.batch "j3" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never"',
    );
    assert.equal(v.kind, "Job");
    assert.equal(v.group, "batch");
    // Always (the pods' default) is "Required", as batch validation words it
    v = invalidOf(await call("POST", jobs, job("Always")));
    assert.deepEqual(v.causes, [
      'FieldValueRequired spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ]);
    // a 422 about the options has no details.name
    const opts = await call("POST", `${secrets}?dryRun=Some`, { metadata: { name: "d" } });
    assert.equal("name" in opts.body.details, false);
  });

  test("write options are validated before the body: dryRun, fieldValidation, force, fieldManager", async () => {
    let v = invalidOf(await call("POST", `${secrets}?dryRun=Some`, { metadata: { name: "d" } }));
    assert.equal(
      v.message,
      'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Some"}: supported values: "All"',
    );
    assert.deepEqual(v.causes, [
      'FieldValueNotSupported dryRun: Unsupported value: []string{"Some"}: supported values: "All"',
    ]);
    assert.equal(v.kind, "CreateOptions");
    assert.equal(v.group, "meta.k8s.io");
    // nothing was created
    assert.equal((await call("GET", `${secrets}/d`)).status, 404);

    v = invalidOf(await call("POST", `${secrets}?fieldValidation=Bogus`, { metadata: { name: "d" } }));
    assert.equal(
      v.message,
      'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"',
    );

    await call("POST", secrets, { metadata: { name: "s1" } });
    v = invalidOf(await call("PUT", `${secrets}/s1?dryRun=Some&dryRun=All`, { metadata: { name: "s1" } }));
    assert.equal(
      v.message,
      'UpdateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Some", "All"}: supported values: "All"',
    );
    v = invalidOf(
      await call(
        "PATCH",
        `${secrets}/s1?force=true`,
        { metadata: { labels: { a: "b" } } },
        "application/merge-patch+json",
      ),
    );
    assert.equal(
      v.message,
      'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
    );
    v = invalidOf(
      await call("POST", `${secrets}?fieldManager=${"m".repeat(129)}`, { metadata: { name: "fm" } }),
    );
    assert.equal(
      v.message,
      'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes',
    );
    v = invalidOf(
      await call("PATCH", `${secrets}/s1`, { metadata: { name: "s1" } }, "application/apply-patch+yaml"),
    );
    assert.equal(
      v.message,
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );

    v = invalidOf(await call("DELETE", `${secrets}/s1?dryRun=Nope`));
    assert.equal(
      v.message,
      'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Nope"}: supported values: "All"',
    );
    v = invalidOf(
      await call("DELETE", `${secrets}/s1`, { orphanDependents: true, propagationPolicy: "Background" }),
    );
    assert.equal(
      v.message,
      'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Background": orphanDependents and deletionPropagation cannot be both set',
    );
    assert.equal((await call("GET", `${secrets}/s1`)).status, 200, "still there");
  });

  test("owner references: version, kind, name and uid must not be empty; one controller at most", async () => {
    let v = invalidOf(
      await call("POST", `${secrets}?dryRun=All`, {
        metadata: {
          name: "ph",
          ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "j1", uid: "" }],
        },
      }),
    );
    assert.equal(
      v.message,
      'Secret "ph" is invalid: metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
    );
    v = invalidOf(
      await call("POST", `${secrets}?dryRun=All`, {
        metadata: { name: "ek", ownerReferences: [{ apiVersion: "a/b/c", kind: "", name: "", uid: "u" }] },
      }),
    );
    assert.deepEqual(v.causes, [
      'FieldValueInvalid metadata.ownerReferences.apiVersion: Invalid value: "a/b/c": version must not be empty',
      'FieldValueInvalid metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
      'FieldValueInvalid metadata.ownerReferences.name: Invalid value: "": name must not be empty',
    ]);
    const ref = { apiVersion: "batch/v1", kind: "Job", uid: "u1", controller: true };
    v = invalidOf(
      await call("POST", `${secrets}?dryRun=All`, {
        metadata: {
          name: "two",
          ownerReferences: [
            { ...ref, name: "a" },
            { ...ref, name: "b", uid: "u2" },
          ],
        },
      }),
    );
    assert.equal(v.causes.length, 1);
    assert.match(
      v.causes[0]!,
      /^FieldValueInvalid metadata\.ownerReferences: Invalid value: .*: Only one reference can have Controller set to true\. Found "true" in references for Job\/a and Job\/b$/,
    );
  });

  test("container resources: a request above its limit and a negative quantity are refused, in templates too", async () => {
    let v = invalidOf(
      await call("POST", `${pods}?dryRun=All`, {
        metadata: { name: "p6" },
        spec: {
          containers: [
            { name: "c", image: "a", resources: { requests: { cpu: "2" }, limits: { cpu: "1" } } },
          ],
        },
      }),
    );
    assert.equal(
      v.message,
      'Pod "p6" is invalid: spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
    );
    v = invalidOf(
      await call("POST", `${jobs}?dryRun=All`, {
        metadata: { name: "j5" },
        spec: {
          template: {
            spec: {
              restartPolicy: "Never",
              containers: [
                {
                  name: "c",
                  image: " x",
                  resources: { requests: { cpu: "-1", memory: "2Gi" }, limits: { memory: "1Gi" } },
                },
              ],
            },
          },
        },
      }),
    );
    // a template's image may have spaces (only a pod's may not)
    assert.deepEqual(v.causes.sort(), [
      'FieldValueInvalid spec.template.spec.containers[0].resources.requests: Invalid value: "2Gi": must be less than or equal to memory limit of 1Gi',
      'FieldValueInvalid spec.template.spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0',
    ]);
  });

  test("a pod's image with leading or trailing whitespace is refused", async () => {
    const v = invalidOf(
      await call("POST", `${pods}?dryRun=All`, {
        metadata: { name: "p3" },
        spec: { containers: [{ name: "c", image: " bad image" }] },
      }),
    );
    assert.equal(
      v.message,
      'Pod "p3" is invalid: spec.containers[0].image: Invalid value: " bad image": must not have leading or trailing whitespace',
    );
  });

  test("values in messages as Go prints them: maps, RoleRefs, OwnerReferences; keyed fields", async () => {
    let v = invalidOf(
      await call("POST", `/apis/apps/v1/namespaces/${NS}/deployments?dryRun=All`, {
        metadata: { name: "d2" },
        spec: {
          selector: { matchLabels: { app: "x" } },
          template: { metadata: { labels: { app: "y" } }, spec: { containers: [{ name: "c", image: "a" }] } },
        },
      }),
    );
    assert.equal(
      v.message,
      'Deployment.apps "d2" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"y"}: `selector` does not match template `labels`',
    );
    v = invalidOf(
      await call("POST", `${secrets}?dryRun=All`, {
        metadata: { name: "ev", ownerReferences: [{ apiVersion: "v1", kind: "Event", name: "e", uid: "u" }] },
      }),
    );
    assert.equal(
      v.message,
      'Secret "ev" is invalid: metadata.ownerReferences: Invalid value: v1.OwnerReference{APIVersion:"v1", Kind:"Event", Name:"e", UID:"u", Controller:(*bool)(nil), BlockOwnerDeletion:(*bool)(nil)}: /v1, Kind=Event is disallowed from being an owner',
    );
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`;
    const roleRef = { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "r" };
    assert.equal((await call("POST", rbac, { metadata: { name: "rb" }, roleRef, subjects: [] })).status, 201);
    v = invalidOf(
      await call(
        "PATCH",
        `${rbac}/rb`,
        { roleRef: { ...roleRef, name: "other" } },
        "application/merge-patch+json",
      ),
    );
    assert.equal(
      v.message,
      'RoleBinding.rbac.authorization.k8s.io "rb" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"other"}: cannot change roleRef',
    );
    v = invalidOf(
      await call("POST", `/api/v1/namespaces/${NS}/configmaps`, {
        metadata: { name: "c1" },
        data: { "bad key": "v" },
      }),
    );
    assert.deepEqual(
      v.causes.map((c) => c.split(":")[0]),
      ["FieldValueInvalid data[bad key]"],
    );
    // a Secret's type is immutable, and the new type's keys are checked too
    assert.equal((await call("POST", secrets, { metadata: { name: "t1" } })).status, 201);
    v = invalidOf(
      await call("PATCH", `${secrets}/t1`, { type: "kubernetes.io/tls" }, "application/merge-patch+json"),
    );
    assert.equal(
      v.message,
      'Secret "t1" is invalid: [type: Invalid value: "kubernetes.io/tls": field is immutable, data[tls.crt]: Required value, data[tls.key]: Required value]',
    );
  });

  test("container ports and env names are checked", async () => {
    let v = invalidOf(
      await call("POST", `${pods}?dryRun=All`, {
        metadata: { name: "p8" },
        spec: { containers: [{ name: "c", image: "a", ports: [{ containerPort: 70000 }] }] },
      }),
    );
    assert.equal(
      v.message,
      'Pod "p8" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    );
    v = invalidOf(
      await call("POST", `${pods}?dryRun=All`, {
        metadata: { name: "p9" },
        spec: { containers: [{ name: "c", image: "a", env: [{ name: "1BAD=", value: "x" }] }] },
      }),
    );
    assert.equal(
      v.message,
      `Pod "p9" is invalid: spec.containers[0].env[0].name: Invalid value: "1BAD=": a valid environment variable name must consist only of printable ASCII characters other than '='`,
    );
  });

  test("deletes: preconditions name the Kind, a delayed delete bumps the generation, a namespace has no grace", async () => {
    const cms = `/api/v1/namespaces/${NS}/configmaps`;
    const cm = await call("POST", cms, { metadata: { name: "pre" } });
    const other = "00000000-0000-0000-0000-000000000000";
    const a = await call("DELETE", `${cms}/pre`, { preconditions: { uid: other } });
    assert.equal(a.status, 409);
    assert.equal(
      a.body.message,
      `Operation cannot be fulfilled on ConfigMap "pre": the UID in the precondition (${other}) does not match the UID in record (${cm.body.metadata.uid}). The object might have been deleted and then recreated`,
    );
    assert.deepEqual(a.body.details, { name: "pre", kind: "ConfigMap" });

    const job = {
      metadata: { name: "fg" },
      spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "x" }] } } },
    };
    const created = await call("POST", jobs, job);
    assert.equal(created.body.metadata.generation, 1);
    assert.equal(
      created.body.spec.template.metadata.creationTimestamp,
      null,
      "a template's zero time is null",
    );
    const deleting = await call("DELETE", `${jobs}/fg?dryRun=All`, { propagationPolicy: "Foreground" });
    assert.equal(deleting.body.metadata.generation, 2);
    assert.deepEqual(deleting.body.metadata.finalizers, ["foregroundDeletion"]);

    assert.equal((await call("POST", "/api/v1/namespaces", { metadata: { name: "gone" } })).status, 201);
    const ns = await call("DELETE", "/api/v1/namespaces/gone");
    assert.equal(ns.body.status.phase, "Terminating");
    assert.equal("deletionGracePeriodSeconds" in ns.body.metadata, false);
  });

  test("what the router answers: unknown resources and groups, 405 and 415; a body of another kind", async () => {
    let a = await call("GET", `/api/v1/namespaces/${NS}/widgets`);
    assert.equal(a.status, 404);
    assert.equal(a.body.message, "the server could not find the requested resource");
    assert.deepEqual(a.body.details, {});
    const res = await fetch(`${sim.url}/apis/nope.example.com/v1/widgets`, {
      headers: { Authorization: `Bearer ${sim.kubeConfig().getCurrentUser()?.token}` },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 404);
    assert.equal(await res.text(), "404 page not found\n");
    a = await call("PUT", secrets, {});
    assert.equal(a.status, 405);
    assert.deepEqual(a.body.details, {});
    a = await call("PATCH", `${secrets}/s1`, {}, "text/plain");
    assert.equal(a.status, 415);
    assert.equal(a.body.message, "415: Unsupported Media Type");
    a = await call("POST", secrets, { kind: "ConfigMap", apiVersion: "v1", metadata: { name: "s8" } });
    assert.equal(a.status, 400);
    assert.equal(
      a.body.message,
      'ConfigMap in version "v1" cannot be handled as a Secret: converting (v1.ConfigMap) to (core.Secret): unknown conversion',
    );
    await call("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: "tok" } });
    a = await call("POST", `/api/v1/namespaces/${NS}/serviceaccounts/tok/token`, { spec: { audiences: [] } });
    assert.match(
      a.body.metadata.creationTimestamp,
      /^\d{4}-\d\d-\d\dT/,
      "a TokenRequest has its creation time",
    );
  });
});
