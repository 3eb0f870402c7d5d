// A kube-sim whose host process is SIGKILLed (no exit handler runs) takes its pods' processes with
// it, as a node takes its containers: a pod with a redis-server broker and a node container runs on
// `flotilla sim`, the sim is SIGKILLed, and neither process is left.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { flotillaBin } from "../src/testing/index.ts";
import { within } from "./helpers/deadline.ts";
import { descendantsOf, stillRunning } from "./helpers/fault-cli.ts";
import { freePort } from "./helpers/ports.ts";
import { kubectlPath } from "./helpers/system.ts";

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
};

describe("kube-sim's host process SIGKILLed", { timeout: 240_000 }, () => {
  test("the pods' processes (a redis-server broker, a node container) die with it", async () => {
    const home = mkdtempSync(join(tmpdir(), "kube-sim-host-killed-"));
    const kubeconfig = join(home, "kubeconfig");
    const kubectl = (...args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) => {
        execFile(
          kubectlPath(),
          ["--cache-dir", join(home, "cache"), ...args],
          { env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kubeconfig }, timeout: 150_000 },
          (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
        );
      });
    const sim = spawn(process.execPath, [flotillaBin(), "sim", "--kubeconfig", kubeconfig], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const simGone = new Promise((resolve) => sim.once("exit", resolve));
    let pods: number[] = [];
    try {
      let stdout = "";
      sim.stdout!.on("data", (c: Buffer) => {
        stdout += c;
      });
      sim.stderr!.resume();
      await within(
        new Promise<void>((resolve, reject) => {
          sim.stdout!.on("data", () => stdout.includes(`kubeconfig: ${kubeconfig}\n`) && resolve());
          sim.once("exit", (code) => reject(new Error(`flotilla sim exited with ${code}`)));
        }),
        60_000,
        "flotilla sim's kubeconfig line",
      );
      const manifest = join(home, "pod.json");
      writeFileSync(
        manifest,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "host-killed" },
          spec: {
            restartPolicy: "Never",
            containers: [
              {
                name: "broker",
                image: "redis:7",
                args: ["--port", String(await freePort()), "--save", "", "--appendonly", "no"],
              },
              {
                name: "main",
                image: "ghcr.io/example/flotilla:1",
                command: ["node", "-e", "setInterval(() => {}, 1 << 30) // host-killed"],
              },
            ],
          },
        }),
      );
      let r = await kubectl("apply", "-f", manifest);
      assert.equal(r.code, 0, r.out);
      r = await kubectl("wait", "--for=condition=Ready", "pod/host-killed", "--timeout=120s");
      assert.equal(r.code, 0, r.out);
      pods = descendantsOf(sim.pid!).filter((p) => /redis-server|host-killed/.test(cmdline(p)));
      assert.equal(pods.length, 2, pods.map(cmdline).join("\n"));

      sim.kill("SIGKILL");
      await within(simGone, 30_000, "the SIGKILLed sim's exit");
      // no event tells of a stranger's death: look, with a deadline
      const deadline = Date.now() + 30_000;
      while (stillRunning(pods).length > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(stillRunning(pods).map(cmdline), [], "no process of the sim's pod is left");
    } finally {
      if (sim.exitCode === null && sim.signalCode === null) sim.kill("SIGKILL");
      for (const p of stillRunning(pods)) process.kill(p, "SIGKILL");
      rmSync(home, { recursive: true, force: true });
    }
  });
});
