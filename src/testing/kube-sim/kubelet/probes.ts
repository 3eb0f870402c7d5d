// One probe attempt as the kubelet's prober makes it: `exec` runs the command as a host process with the
// container's environment (and image table), success on exit 0, killed at `timeoutSeconds`; `httpGet`
// is a real HTTP GET (200-399 succeeds; https without verifying the certificate, as the kubelet does);
// `tcpSocket` (and `grpc`, checked as a TCP connect) a connect. Each answer carries the text the
// kubelet puts in its Unhealthy event.
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import type { ImageSpec } from "../images.ts";
import { isObject } from "../objects.ts";
import { resolveArgv, signalGroup } from "./process.ts";
import { releaseGroup, watchGroup } from "./watchdog.ts";

export interface ProbeResult {
  ok: boolean;
  /** why it failed, worded as the kubelet's event message after "<Kind> probe failed: " */
  output: string;
}

/** what an exec probe needs of its container */
export interface ExecContext {
  image: ImageSpec;
  env: Record<string, string>;
  cwd: string;
  /** the container's path rewrites (termination message path, volume mounts) */
  rewrite: (s: string) => string;
}

const MAX_OUTPUT = 10 * 1024;

function execProbe(exec: Record<string, unknown>, ctx: ExecContext, timeoutMs: number): Promise<ProbeResult> {
  const command = (Array.isArray(exec.command) ? exec.command : []).map((a) => ctx.rewrite(String(a)));
  const shown = JSON.stringify(command.join(" "));
  const resolved = resolveArgv(ctx.image, command, [], ctx.env.PATH);
  if ("error" in resolved) return Promise.resolve({ ok: false, output: resolved.error });
  return new Promise((resolve) => {
    let out = "";
    let settled = false;
    const child = spawn(resolved.argv[0]!, resolved.argv.slice(1), {
      cwd: ctx.cwd,
      env: ctx.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pgid = child.pid;
    if (pgid !== undefined) watchGroup(pgid);
    const collect = (chunk: Buffer) => {
      if (out.length < MAX_OUTPUT) out += chunk.toString();
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const finish = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      if (pgid !== undefined) releaseGroup(pgid);
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
      finish({ ok: false, output: `command ${shown} timed out` });
    }, timeoutMs);
    child.once("error", (e) => finish({ ok: false, output: e.message }));
    child.once("close", (code) => finish({ ok: code === 0, output: out.slice(0, MAX_OUTPUT) }));
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    s.once("connect", () => {
      s.destroy();
      resolve({ ok: true, output: "" });
    });
    s.once("error", (e: NodeJS.ErrnoException) =>
      resolve({
        ok: false,
        output: `dial tcp ${host}:${port}: connect: ${e.code === "ECONNREFUSED" ? "connection refused" : e.message}`,
      }),
    );
    s.once("timeout", () => {
      s.destroy();
      resolve({ ok: false, output: `dial tcp ${host}:${port}: i/o timeout` });
    });
  });
}

function httpProbe(
  get: Record<string, unknown>,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<ProbeResult> {
  const scheme = String(get.scheme ?? "HTTP").toLowerCase();
  const path = String(get.path ?? "/");
  const url = `${scheme}://${host}:${port}${path.startsWith("/") ? path : `/${path}`}`;
  const headers: Record<string, string> = { "User-Agent": "kube-probe/1.32", Accept: "*/*" };
  for (const h of Array.isArray(get.httpHeaders) ? get.httpHeaders : [])
    if (isObject(h)) headers[String(h.name)] = String(h.value ?? "");
  return new Promise((resolve) => {
    const req = (scheme === "https" ? httpsRequest : httpRequest)(
      url,
      {
        method: "GET",
        headers,
        timeout: timeoutMs,
        ...(scheme === "https" ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(
          code >= 200 && code < 400
            ? { ok: true, output: "" }
            : { ok: false, output: `HTTP probe failed with statuscode: ${code}` },
        );
      },
    );
    req.once("timeout", () => {
      req.destroy();
      resolve({
        ok: false,
        output: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
      });
    });
    req.once("error", (e: NodeJS.ErrnoException) => {
      if (req.destroyed && e.code === "ECONNRESET") return;
      resolve({
        ok: false,
        output: `Get "${url}": dial tcp ${host}:${port}: connect: ${e.code === "ECONNREFUSED" ? "connection refused" : e.message}`,
      });
    });
    req.end();
  });
}

/** Run one attempt of `probe` against a container at `podIP`; `port` resolves named ports. */
export function runProbe(
  probe: Record<string, unknown>,
  podIP: string,
  port: (p: unknown) => number | undefined,
  exec: ExecContext,
): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, Number(probe.timeoutSeconds ?? 1)) * 1000;
  if (isObject(probe.exec)) return execProbe(probe.exec, exec, timeoutMs);
  const target = isObject(probe.httpGet)
    ? probe.httpGet
    : isObject(probe.tcpSocket)
      ? probe.tcpSocket
      : isObject(probe.grpc)
        ? probe.grpc
        : undefined;
  if (!target) return Promise.resolve({ ok: true, output: "" });
  const p = port(target.port);
  if (p === undefined) return Promise.resolve({ ok: false, output: `unknown port ${String(target.port)}` });
  const host = typeof target.host === "string" && target.host ? target.host : podIP;
  if (isObject(probe.httpGet)) return httpProbe(probe.httpGet, host, p, timeoutMs);
  return tcpProbe(host, p, timeoutMs);
}
