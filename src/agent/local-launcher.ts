// The local pool's launcher: each run is a `flotilla run` process on this machine, with the
// flow's own environment and executor (LocalExecutor, or the LocalCluster it names), reporting
// to the server as any `flotilla run --server` does. The process's exit code or signal is the
// OS reason of a crash; cancel stops it with SIGTERM, then SIGKILL after a grace period.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AgentLauncher, Launched, LaunchOutcome, LaunchRequest } from "./agent.ts";

export interface LocalLauncherOptions {
  /** The `flotilla` entry point to run. @default this package's bin/flotilla.js */
  bin?: string;
  /** Grace period between SIGTERM and SIGKILL on cancel. @default 5000 */
  killAfterMs?: number;
  /** Extra environment of every runner. */
  env?: NodeJS.ProcessEnv;
}

const BIN = fileURLToPath(new URL("../../bin/flotilla.js", import.meta.url));

export class LocalLauncher implements AgentLauncher {
  readonly kind = "local";
  readonly #o: LocalLauncherOptions;
  readonly #children = new Set<ChildProcess>();

  constructor(options: LocalLauncherOptions = {}) {
    this.#o = options;
  }

  async launch(r: LaunchRequest): Promise<Launched> {
    const module = r.deployment.module ?? r.flow?.module;
    if (!module) throw new Error(`deployment ${r.deployment.name} has no module path`);
    const dir = mkdtempSync(path.join(tmpdir(), "flotilla-agent-"));
    const params = path.join(dir, "parameters.json");
    writeFileSync(params, JSON.stringify(r.run.parameters));
    const child = spawn(
      process.execPath,
      [
        this.#o.bin ?? BIN,
        "run",
        module,
        "--flow",
        r.run.flowName,
        "--params-file",
        params,
        "--server",
        r.serverUrl,
        "--run-id",
        r.run.id,
        "--output",
        "json",
      ],
      {
        cwd: path.dirname(module),
        env: {
          ...process.env,
          ...this.#o.env,
          FLOTILLA_API_TOKEN: r.token,
          FLOTILLA_API_URL: "",
          NO_COLOR: "1",
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    this.#children.add(child);
    let tail = "";
    child.stderr!.on("data", (d: Buffer) => {
      tail = (tail + d.toString()).slice(-2000);
    });
    const ended = new Promise<LaunchOutcome>((resolve) => {
      child.once("error", (e) =>
        resolve({ ok: false, reason: `the runner process could not start: ${e.message}` }),
      );
      child.once("exit", (code, signal) => {
        this.#children.delete(child);
        rmSync(dir, { recursive: true, force: true });
        const last = tail.trim().split("\n").slice(-3).join(" | ");
        resolve(
          code === 0 || code === 1
            ? {
                ok: true,
                reason: `the runner process (pid ${child.pid}) exited with code ${code} without reporting a final state${last ? `: ${last}` : ""}`,
              }
            : {
                ok: false,
                reason: `the runner process (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${last ? `: ${last}` : ""}`,
              },
        );
      });
    });
    const killAfter = this.#o.killAfterMs ?? 5000;
    return {
      infraRef: `pid:${child.pid}`,
      ended,
      cancel: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), killAfter);
        await ended;
        clearTimeout(timer);
      },
    };
  }

  /** Kill every runner still running (the agent's process is going away). */
  killAll(): void {
    for (const c of this.#children) c.kill("SIGKILL");
  }
}
