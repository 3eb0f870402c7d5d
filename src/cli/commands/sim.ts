// `flotilla sim [--kubeconfig PATH]`: run kube-sim in the foreground — a simulated Kubernetes cluster
// whose pods run as local processes — until SIGINT/SIGTERM, then stop every process it started.
import { closeSync, mkdirSync, openSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import { defaultImages, type ImageSpec, KubeSim } from "../../testing/index.ts";
import { stopSignals } from "../signals.ts";

/**
 * `busybox` runs a container's args as a host command line, as the real image (no ENTRYPOINT) does:
 * `kubectl run t --image=busybox --restart=Never -- echo hi` works out of the box.
 */
const BUSYBOX: ImageSpec = { entrypoint: [] };

export interface SimOptions {
  /** where to write the admin kubeconfig @default a file in a temp dir */
  kubeconfig?: string;
  /** image table entries, merged over `defaultImages(process.cwd())` and `busybox`/`busybox:*` */
  images?: Record<string, ImageSpec>;
  /** @default console.log */
  print?: (line: string) => void;
  /** stop when aborted (tests); SIGINT and SIGTERM always stop */
  signal?: AbortSignal;
}

/** Start kube-sim, print how to reach it, and resolve once it has stopped after a signal. */
export async function sim(options: SimOptions = {}): Promise<void> {
  const print = options.print ?? ((line: string) => console.log(line));
  if (options.kubeconfig !== undefined) assertWritableFile(options.kubeconfig);
  const cluster = await KubeSim.start({
    images: {
      ...defaultImages(process.cwd()),
      busybox: BUSYBOX,
      "busybox:*": BUSYBOX,
      ...(options.images ?? {}),
    },
    ...(options.kubeconfig ? { kubeconfigPath: options.kubeconfig } : {}),
    logLevel: "info",
  });
  print(`kube-sim is running at ${cluster.serverUrl}`);
  print(`kubeconfig: ${cluster.kubeconfigPath}`);
  print(`try: KUBECONFIG=${cluster.kubeconfigPath} kubectl get pods -A`);
  const signals = stopSignals();
  try {
    if (!options.signal?.aborted) {
      await Promise.race([
        signals.stopped,
        new Promise((resolve) => options.signal?.addEventListener("abort", resolve, { once: true })),
      ]);
    }
  } finally {
    signals.off();
  }
  await cluster.stop();
  print("kube-sim stopped");
}

export const simCommand = (program: import("commander").Command): void => {
  program
    .command("sim")
    .description("run kube-sim, a simulated Kubernetes cluster whose pods are local processes, until Ctrl-C")
    .option("--kubeconfig <path>", "where to write the kubeconfig (default: a temporary file)")
    .action(async (opts: { kubeconfig?: string }) => {
      await sim(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {});
    });
};

/** A usage error (exit 2) before anything starts when `file` cannot be written as a kubeconfig. */
function assertWritableFile(file: string): void {
  const fail = (why: string) => {
    throw new FlotillaError(ErrorCode.Usage, `--kubeconfig ${file}: ${why}`, {
      hint: "give the path of a file to write, e.g. --kubeconfig ./sim.kubeconfig",
      usage: true,
    });
  };
  let existed = true;
  try {
    if (statSync(file).isDirectory()) fail("is a folder, not a file");
  } catch (error) {
    if (error instanceof FlotillaError) throw error;
    existed = false;
  }
  try {
    // kube-sim creates the missing folders of the path, as kubectl's own --kubeconfig writers do
    mkdirSync(dirname(file), { recursive: true });
    closeSync(openSync(file, "a"));
    if (!existed) rmSync(file, { force: true });
  } catch (error) {
    fail(`cannot be written (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}
