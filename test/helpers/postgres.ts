// Test helper: a private PostgreSQL server for one test file (temp data dir, random port, a
// password), started with initdb + postgres as the `postgres` user when the tests run as root
// (initdb refuses root), stopped and removed in after().
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after } from "node:test";
import { freePort } from "./ports.ts";
import { pgBinaries } from "./system.ts";

export interface TestPostgres {
  url: string;
  host: string;
  port: number;
  password: string;
}

function asUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  return { uid, gid };
}

/** Start PostgreSQL for this test file; resolves once it accepts connections. */
export async function testPostgres(): Promise<TestPostgres> {
  const bin = pgBinaries().dir;
  const dir = mkdtempSync(path.join(tmpdir(), "flotilla-pg-"));
  const user = asUser();
  let child: ChildProcess | undefined;
  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGINT"); // fast shutdown
      const timer = setTimeout(() => child!.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const data = path.join(dir, "data");
  const pwfile = path.join(dir, "pw");
  writeFileSync(pwfile, `${password}\n`);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(pwfile, user.uid, user.gid);
  }
  chmodSync(dir, 0o700);
  const wrap = (cmd: string, args: string[]): [string, string[]] =>
    user
      ? ["setpriv", [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", cmd, ...args]]
      : [cmd, args];
  const [initCmd, initArgs] = wrap(path.join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    "flotilla",
    `--pwfile=${pwfile}`,
    "--auth=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C",
  ]);
  execFileSync(initCmd, initArgs, { stdio: "pipe", timeout: 60_000 });
  const port = await freePort();
  const [cmd, args] = wrap(path.join(bin, "postgres"), [
    "-D",
    data,
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "fsync=off",
  ]);
  child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  const c = child;
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start in 60 s:\n${log}`)), 60_000);
    c.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.includes("ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    c.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`PostgreSQL exited (${code}) before it was ready:\n${log}`));
    });
  });
  c.stderr!.resume();
  return {
    url: `postgres://flotilla:${password}@127.0.0.1:${port}/postgres`,
    host: "127.0.0.1",
    port,
    password,
  };
}
