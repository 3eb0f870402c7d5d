// The local broker (src/cluster/broker.ts): no redis-server outlives its owner, even one killed
// with SIGKILL; a missing redis-server is a clear error that says how to install it.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startLocalBroker } from "../src/cluster/local-broker.ts";
import { ErrorCode, FlotillaError } from "../src/core/errors.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/** A PATH holding `node` and nothing else (node's own directory may hold redis-server too). */
function nodeOnlyPath(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "flotilla-path-"));
  symlinkSync(process.execPath, path.join(dir, "node"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls (there is no exit event for a process that is not our child), bounded by `ms`. */
async function gone(pid: number, ms: number): Promise<number> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > ms) throw new Error(`process ${pid} still alive after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - t0;
}

function firstLine(child: ChildProcess, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`no output within ${ms} ms: ${err}`)), ms);
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buf.slice(0, nl));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before printing: ${err}`));
    });
  });
}

describe("local broker", { timeout: 30_000 }, () => {
  it("dies with its owner when the owner is SIGKILLed", async () => {
    const brokerTs = path.join(root, "src/cluster/broker.ts");
    const localBrokerTs = path.join(root, "src/cluster/local-broker.ts");
    const owner = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `import { connectBroker } from ${JSON.stringify(brokerTs)};
         import { startLocalBroker } from ${JSON.stringify(localBrokerTs)};
         const b = await startLocalBroker();
         const r = await connectBroker(b.endpoint);
         const info = await r.info("server");
         r.disconnect();
         console.log(JSON.stringify({ redisPid: Number(/process_id:(\\d+)/.exec(info)[1]) }));
         setInterval(() => {}, 60000);`,
      ],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(owner);
    const { redisPid } = JSON.parse(await firstLine(owner, 15_000)) as { redisPid: number };
    assert.ok(alive(redisPid), "redis-server runs while its owner lives");
    const exited = new Promise((r) => owner.once("exit", r));
    owner.kill("SIGKILL");
    await exited;
    const ms = await gone(redisPid, 5000);
    assert.ok(ms < 5000);
  });

  it("stops redis-server on stop(), and stop() is idempotent", async () => {
    const broker = await startLocalBroker();
    const why = broker.exited;
    await Promise.all([broker.stop(), broker.stop()]);
    assert.match(await why, /redis-server (exited with code 0|was stopped by SIGTERM)/);
  });

  it("says how to install redis-server when it is missing", async () => {
    await assert.rejects(
      startLocalBroker({ redisServer: "redis-server-not-installed-here" }),
      (e: unknown) => {
        assert.ok(e instanceof FlotillaError);
        assert.equal(e.code, ErrorCode.Broker);
        assert.match(
          e.message,
          /cannot start a local broker: redis-server-not-installed-here is not installed/,
        );
        assert.match(e.hint ?? "", /apt-get install redis-server/);
        assert.match(e.hint ?? "", /--broker redis:\/\/host:port/);
        return true;
      },
    );
  });

  it("`flotilla run --workers` with no redis-server in PATH prints the install hint and exits non-zero", async () => {
    const cli = spawn(
      process.execPath,
      [
        path.join(root, "bin/flotilla.js"),
        "run",
        "test/fixtures/cluster-basic.ts",
        "--flow",
        "cluster-basic",
        "--workers",
        "1:1",
      ],
      {
        cwd: root,
        env: { ...process.env, PATH: nodeOnlyPath() },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(cli);
    let stderr = "";
    cli.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => cli.once("exit", resolve));
    assert.notEqual(code, 0);
    assert.match(stderr, /redis-server is not installed/);
    assert.match(stderr, /apt-get install redis-server/);
    assert.equal(stderr.match(/is not installed/g)?.length, 1, "said once");
  });
});
