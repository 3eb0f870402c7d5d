// The thin layer between Flotilla and @kubernetes/client-node: loading a kubeconfig the way
// kubectl does (--kubeconfig, --context, namespace from the context), the typed API clients, and
// `rawBody`, which sends an object exactly as built. client-node re-serialises bodies through its
// models and silently drops fields it does not know; with the raw body and
// `fieldValidation=Strict` the API server sees everything and rejects what it does not know.

import { statSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { ErrorCode, FlotillaError } from "../core/errors.ts";

/** How to reach the cluster, as kubectl's flags say it. */
export interface ConnectOptions {
  /** A kubeconfig file. @default $KUBECONFIG, else ~/.kube/config, else in-cluster */
  kubeconfig?: string | undefined;
  /** A kubeconfig context. @default the current context */
  context?: string | undefined;
  /** A ready KubeConfig (tests, embedded kube-sim); wins over `kubeconfig`. */
  kubeConfig?: k8s.KubeConfig | undefined;
}

/** The API clients Flotilla uses, made once per connection. */
export interface KubeClients {
  readonly kubeConfig: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly batch: k8s.BatchV1Api;
  readonly authorization: k8s.AuthorizationV1Api;
  /** The context's namespace, else "default". */
  readonly defaultNamespace: string;
}

/** Load a kubeconfig like kubectl and make the clients. */
export function connect(options: ConnectOptions = {}): KubeClients {
  let kc = options.kubeConfig;
  if (kc === undefined) {
    if (!options.kubeconfig && !hasDefaultKubeconfig()) {
      throw new FlotillaError(
        ErrorCode.Kubernetes,
        "no kubeconfig: $KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod in a cluster",
        {
          hint: "pass --kubeconfig <file> (and --context <name>) as with kubectl; or try it on this machine without a cluster: `flotilla run <flow-file> --sim`, or `flotilla sim` for a simulated cluster",
          usage: true,
        },
      );
    }
    kc = new k8s.KubeConfig();
    try {
      if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
      else kc.loadFromDefault();
    } catch (error) {
      throw new FlotillaError(
        ErrorCode.Kubernetes,
        `cannot load the kubeconfig ${options.kubeconfig ? `"${options.kubeconfig}"` : "($KUBECONFIG or ~/.kube/config)"}: ${(error as Error).message}`,
        { hint: "pass --kubeconfig <file> (and --context <name>), as with kubectl", cause: error },
      );
    }
  }
  if (options.context) {
    if (!kc.getContextObject(options.context)) {
      throw new FlotillaError(ErrorCode.Kubernetes, `the kubeconfig has no context "${options.context}"`, {
        hint: `choose one of: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(", ") || "(none)"
        }`,
        usage: true,
      });
    }
    kc.setCurrentContext(options.context);
  }
  const ns = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return {
    kubeConfig: kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    authorization: kc.makeApiClient(k8s.AuthorizationV1Api),
    defaultNamespace: ns && ns !== "" ? ns : "default",
  };
}

/**
 * Whether client-node's `loadFromDefault` would find a real configuration: a file named by
 * $KUBECONFIG, ~/.kube/config, or a pod's service-account token (in-cluster). Without any, it
 * falls back to http://localhost:8080 and fails later with a message about TLS settings.
 */
function hasDefaultKubeconfig(env: NodeJS.ProcessEnv = process.env): boolean {
  const exists = (file: string) => {
    try {
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).some((f) => f !== "" && exists(f));
  if (exists(join(env.HOME || homedir(), ".kube", "config"))) return true;
  return (
    env.KUBERNETES_SERVICE_HOST !== undefined && exists("/var/run/secrets/kubernetes.io/serviceaccount/token")
  );
}

/**
 * Request options that replace the serialised body with `JSON.stringify(obj)`, so no field is
 * dropped on the client side. Pair with `fieldValidation: "Strict"`.
 */
export function rawBody(obj: object, contentType?: string): k8s.ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx: k8s.RequestContext) => {
          ctx.setBody(JSON.stringify(obj));
          if (contentType) ctx.setHeaderParam("Content-Type", contentType);
          return new k8s.Observable(Promise.resolve(ctx));
        },
        post: (res: k8s.ResponseContext) => new k8s.Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: "append",
  } as unknown as k8s.ConfigurationOptions;
}
