// `flotilla server install` as a user runs it: the printed Deployment (one replica, Recreate),
// Service and, for SQLite, PersistentVolumeClaim pass the official Kubernetes schemas; with
// --database the URL goes to a Secret by reference and its password appears nowhere in the
// output; a URL that is not PostgreSQL's is one clear error that does not echo it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Service } from "kubernetes-models/v1/Service";
import { parseAllDocuments } from "yaml";
import { cli as flotilla } from "./helpers/cli.ts";

// biome-ignore lint/suspicious/noExplicitAny: assertions over printed objects
type Loose = any;

const home = mkdtempSync(path.join(tmpdir(), "flotilla-server-install-"));

/** `flotilla ...args` with this file's FLOTILLA_HOME and no API URL. */
const cli = (args: string[], timeoutMs = 60_000) =>
  flotilla(args, { env: { FLOTILLA_HOME: home, FLOTILLA_API_URL: "" }, timeoutMs });

const docs = (yaml: string): Loose[] => parseAllDocuments(yaml).map((d) => d.toJS());

function validate(o: Loose): void {
  if (o.kind === "Deployment") new Deployment(o).validate();
  else if (o.kind === "Service") new Service(o).validate();
  else if (o.kind === "PersistentVolumeClaim") new PersistentVolumeClaim(o).validate();
  else assert.fail(`unexpected kind ${o.kind}`);
}

describe("flotilla server install", { timeout: 120_000 }, () => {
  after(() => rmSync(home, { recursive: true, force: true }));

  it("SQLite: a PVC, a one-replica Recreate Deployment mounting it, a Service; all schema-valid", async () => {
    const r = await cli(["server", "install", "-n", "ops", "--image", "example.com/flow:1"]);
    assert.equal(r.code, 0, r.stderr);
    const objects = docs(r.stdout);
    assert.deepEqual(
      objects.map((o) => o.kind),
      ["PersistentVolumeClaim", "Deployment", "Service"],
    );
    for (const o of objects) {
      validate(o);
      assert.equal(o.metadata.namespace, "ops");
    }
    const d = objects[1];
    assert.equal(d.spec.replicas, 1);
    assert.equal(d.spec.strategy.type, "Recreate");
    const pod = d.spec.template.spec;
    assert.equal(pod.volumes[0].persistentVolumeClaim.claimName, objects[0].metadata.name);
    assert.deepEqual(pod.containers[0].args.slice(0, 3), ["server", "--host", "0.0.0.0"]);
    assert.equal(pod.containers[0].readinessProbe.httpGet.path, "/api/health");
    assert.deepEqual(objects[2].spec.selector, d.spec.selector.matchLabels);
  });

  it("PostgreSQL: no PVC, the URL by secretKeyRef, its password nowhere in the output", async () => {
    const url = "postgres://flotilla:pw-93c1f7@db.example.com:5432/flotilla";
    const r = await cli([
      "server",
      "install",
      "--image",
      "example.com/flow:1",
      "--database",
      url,
      "-o",
      "json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes("pw-93c1f7"), "no password printed");
    assert.ok(!r.stdout.includes("db.example.com"), "no URL in the objects");
    const list = JSON.parse(r.stdout) as { kind: string; items: Loose[] };
    assert.equal(list.kind, "List");
    assert.deepEqual(
      list.items.map((o) => o.kind),
      ["Deployment", "Service"],
    );
    for (const o of list.items) validate(o);
    const env = list.items[0].spec.template.spec.containers[0].env;
    assert.deepEqual(env.find((e: Loose) => e.name === "FLOTILLA_DATABASE_URL").valueFrom, {
      secretKeyRef: { name: "flotilla-database", key: "url" },
    });
    assert.match(r.stderr, /kubectl -n flotilla create secret generic flotilla-database/);
  });

  it("a database URL that is not PostgreSQL's, or no image, is one clear error", async () => {
    const bad = await cli(["server", "install", "--image", "x:1", "--database", "mysql://u:pw-5512@h/db"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--database: expected a postgres:\/\//);
    assert.ok(!bad.stderr.includes("pw-5512"), "the value is not echoed");
    const noImage = await cli(["server", "install"]);
    assert.equal(noImage.code, 2);
    assert.match(noImage.stderr, /no image for the server/);
  });

  it("--port is the container's and the Service's port; the server's own flags and port 0 are refused", async () => {
    const r = await cli(["server", "install", "--image", "x:1", "--port", "5123", "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const items = JSON.parse(r.stdout).items as Loose[];
    const deployment = items.find((o) => o.kind === "Deployment");
    const container = deployment.spec.template.spec.containers[0];
    assert.deepEqual(container.ports, [{ name: "http", containerPort: 5123 }]);
    assert.deepEqual(
      container.args.slice(container.args.indexOf("--port"), container.args.indexOf("--port") + 2),
      ["--port", "5123"],
    );
    assert.equal(items.find((o) => o.kind === "Service").spec.ports[0].port, 5123);
    const zero = await cli(["server", "install", "--image", "x:1", "--port", "0"]);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--port 0: a manifest needs a fixed port/);
    const home = await cli(["server", "install", "--image", "x:1", "--home", "/somewhere"]);
    assert.equal(home.code, 2);
    assert.match(home.stderr, /--home applies to flotilla server, not to the manifest it prints/);
  });
});
