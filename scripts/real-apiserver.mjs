// A real Kubernetes API server on this machine, to check kube-sim against (issue 12: "when kube-sim
// and a real API server would differ, fix kube-sim"). Starts etcd, kube-apiserver and, when given,
// kube-controller-manager (garbage collector, namespace, service-account, Job, Deployment and
// ReplicaSet controllers) on random loopback ports in a temp dir, with a generated service-account
// key pair, the API server's own self-signed serving certificate and a static admin token
// (system:masters), and writes an admin kubeconfig. No scheduler and no kubelet: pods stay Pending,
// so this is for API behaviour (validation, RBAC, Status bodies, conflicts, dry-run, apply, watch,
// owner references and garbage collection, subresources, OpenAPI), not for running flows.
// Not part of `npm test`: it needs the binaries, which a fresh machine does not have.
//
//   KUBE_APISERVER=/path/kube-apiserver [KUBE_CONTROLLER_MANAGER=/path/kube-controller-manager] \
//     [ETCD=etcd] node scripts/real-apiserver.mjs                  # until Ctrl-C; prints the kubeconfig
//   KUBE_APISERVER=… node scripts/real-apiserver.mjs -- CMD ARGS…  # runs CMD with KUBECONFIG and
//                                                                 # FLOTILLA_REAL_KUBECONFIG set, then stops
//
// Everything it started is stopped (SIGTERM, then SIGKILL after 10 s) and its temp dir removed on
// exit, Ctrl-C or SIGTERM. Also importable: `startRealApiServer()` returns `{ kubeconfigPath, url,
// token, stop }`.
import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** a free loopback port (closed again; the process that binds it next is started at once) */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** GET `url` (https, trusting `ca`), resolving with the status code, or 0 when nothing answers */
function probe(url, { ca, token }) {
  return new Promise((resolve) => {
    const req = request(url, {
      ca,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      timeout: 5000,
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

/** Start `cmd` with its output in `log`; a process that exits early rejects `exited`. */
function startProcess(name, cmd, args, log) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  const keep = (chunk) => {
    log.push(chunk);
    lines.push(...chunk.toString().split("\n"));
    lines.splice(0, Math.max(0, lines.length - 30));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((_, reject) => {
    child.once("error", (e) => reject(new Error(`${name}: cannot start ${cmd}: ${e.message}`)));
    child.once("exit", (code, signal) =>
      reject(new Error(`${name} exited (${signal ?? code}); its last lines:\n${lines.join("\n")}`)),
    );
  });
  exited.catch(() => {});
  return { name, child, exited };
}

async function stopProcess({ child }) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await gone;
  clearTimeout(timer);
}

async function waitUntil(what, deadlineMs, check, processes) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (await Promise.race([check(), ...processes.map((p) => p.exited)])) return;
    if (Date.now() > until) throw new Error(`real-apiserver: ${what} not ready after ${deadlineMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function kubeconfigText({ url, caPath, token }) {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: real",
    "  cluster:",
    `    server: ${url}`,
    `    certificate-authority: ${caPath}`,
    "users:",
    "- name: admin",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: real",
    "  context: {cluster: real, user: admin, namespace: default}",
    "current-context: real",
    "",
  ].join("\n");
}

/**
 * Start etcd + kube-apiserver (+ kube-controller-manager when `controllerManager` is given).
 * @param {{ apiserver?: string, controllerManager?: string, etcd?: string, readyTimeoutMs?: number }} [options]
 */
export async function startRealApiServer(options = {}) {
  const apiserver = options.apiserver ?? process.env.KUBE_APISERVER;
  const controllerManager = options.controllerManager ?? process.env.KUBE_CONTROLLER_MANAGER;
  const etcd = options.etcd ?? process.env.ETCD ?? "etcd";
  const readyTimeoutMs = options.readyTimeoutMs ?? 180_000;
  if (!apiserver) {
    throw new Error(
      "real-apiserver: set KUBE_APISERVER to a kube-apiserver binary (1.32 to compare with kube-sim), " +
        "and KUBE_CONTROLLER_MANAGER for garbage collection and the namespace controllers",
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), "flotilla-real-apiserver-"));
  const processes = [];
  const log = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await stopProcess(p);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await mkdir(path.join(dir, "certs"));
    const token = randomBytes(24).toString("hex");
    await writeFile(path.join(dir, "tokens.csv"), `${token},admin,admin-uid,"system:masters"\n`, {
      mode: 0o600,
    });
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await writeFile(path.join(dir, "sa.key"), privateKey.export({ type: "pkcs1", format: "pem" }), {
      mode: 0o600,
    });
    await writeFile(path.join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));

    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    processes.push(
      startProcess(
        "etcd",
        etcd,
        [
          `--data-dir=${path.join(dir, "etcd")}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
          "--log-level=warn",
        ],
        log,
      ),
    );
    await waitUntil(
      "etcd",
      readyTimeoutMs,
      () =>
        fetch(`${etcdUrl}/health`)
          .then((r) => r.ok)
          .catch(() => false),
      processes,
    );

    const certDir = path.join(dir, "certs");
    processes.push(
      startProcess(
        "kube-apiserver",
        apiserver,
        [
          `--etcd-servers=${etcdUrl}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          `--secure-port=${apiPort}`,
          `--cert-dir=${certDir}`,
          `--token-auth-file=${path.join(dir, "tokens.csv")}`,
          "--authorization-mode=RBAC",
          "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
          `--service-account-key-file=${path.join(dir, "sa.pub")}`,
          `--service-account-signing-key-file=${path.join(dir, "sa.key")}`,
          "--service-cluster-ip-range=10.96.0.0/12",
          "--allow-privileged=true",
          "--profiling=false",
          "--v=0",
        ],
        log,
      ),
    );
    const url = `https://127.0.0.1:${apiPort}`;
    const caPath = path.join(certDir, "apiserver.crt");
    await waitUntil(
      "kube-apiserver",
      readyTimeoutMs,
      async () => {
        let ca;
        try {
          ca = await readFile(caPath);
        } catch {
          return false;
        }
        return (await probe(`${url}/readyz`, { ca, token })) === 200;
      },
      processes,
    );
    const kubeconfigPath = path.join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfigText({ url, caPath, token }), { mode: 0o600 });

    if (controllerManager) {
      processes.push(
        startProcess(
          "kube-controller-manager",
          controllerManager,
          [
            `--kubeconfig=${kubeconfigPath}`,
            "--leader-elect=false",
            "--secure-port=0",
            `--service-account-private-key-file=${path.join(dir, "sa.key")}`,
            `--root-ca-file=${caPath}`,
            "--use-service-account-credentials=false",
            "--controllers=*,-csrsigning,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-route",
            "--v=0",
          ],
          log,
        ),
      );
      // the service-account controller has run once the default namespace has its account
      const ca = readFileSync(caPath);
      await waitUntil(
        "kube-controller-manager",
        readyTimeoutMs,
        async () =>
          (await probe(`${url}/api/v1/namespaces/default/serviceaccounts/default`, { ca, token })) === 200,
        processes,
      );
    }
    return { dir, url, token, kubeconfigPath, caPath, processes, log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function main() {
  const sep = process.argv.indexOf("--");
  const command = sep >= 0 ? process.argv.slice(sep + 1) : [];
  const started = Date.now();
  const server = await startRealApiServer();
  let stopping;
  const stopOnce = () => {
    stopping ??= server.stop();
    return stopping;
  };
  process.stderr.write(
    `real-apiserver: ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${server.url}; ` +
      `KUBECONFIG=${server.kubeconfigPath}\n`,
  );
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => stopOnce().then(() => process.exit(130)));
  }
  for (const p of server.processes) {
    p.exited.catch(async (e) => {
      if (stopping) return;
      process.stderr.write(`real-apiserver: ${e.message}\n`);
      await stopOnce();
      process.exit(1);
    });
  }
  if (command.length === 0) {
    process.stdout.write(`${server.kubeconfigPath}\n`);
    return; // runs until a signal
  }
  const child = spawn(command[0], command.slice(1), {
    stdio: "inherit",
    env: {
      ...process.env,
      KUBECONFIG: server.kubeconfigPath,
      FLOTILLA_REAL_KUBECONFIG: server.kubeconfigPath,
    },
  });
  const code = await new Promise((resolve) => child.once("exit", (c, s) => resolve(s ? 1 : (c ?? 1))));
  await stopOnce();
  process.exit(code);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
