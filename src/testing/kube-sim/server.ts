// The HTTP front of kube-sim's API server: URL → request info (verb, resource, subresource, namespace,
// name), authentication, RBAC, then dispatch to the registry, watch, logs, TokenRequest and
// SelfSubjectAccessReview handlers. Every failure is answered with a Kubernetes Status body.
import type { IncomingMessage, ServerResponse } from "node:http";
import { parse as parseYaml } from "yaml";
import { apiGroupList, apiResourceList, apiVersions, versionInfo } from "./discovery.ts";
import {
  ApiError,
  badRequest,
  type FieldError,
  internalError,
  invalid,
  methodNotAllowed,
  notFound,
  pageNotFound,
  resourceNotFound,
} from "./errors.ts";
import { DualProtocolListener } from "./listener.ts";
import { isObject, type KubeObject, timestamp } from "./objects.ts";
import { openApiV2, openApiV3Document, openApiV3Root } from "./openapi.ts";
import { patchTypeOf } from "./patch.ts";
import { queryBool, queryInt } from "./query.ts";
import type { Attributes, RbacAuthorizer, TokenAuthenticator, UserInfo } from "./rbac.ts";
import type { DeleteOptions, PropagationPolicy, Registry, WriteContext } from "./registry.ts";
import { dryRunErrors, validateWriteOptions } from "./request-options.ts";
import { findResource, type ResourceType } from "./resources.ts";
import { getScale, patchScale, updateScale } from "./scale.ts";
import { parseFieldSelector, parseLabelSelector, type Selector } from "./selectors.ts";
import type { Store } from "./store.ts";
import { scaleTable, toTable, wantsTable } from "./table.ts";
import type { FieldValidation } from "./validation.ts";
import { serveWatch } from "./watch.ts";

export interface LogOptions {
  container?: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  limitBytes?: number;
  sinceSeconds?: number;
}

/** What the kubelet offers the `pods/log` endpoint. */
export interface PodLogSource {
  /** Writes the log (and, with follow, streams it) to `out`; resolves when done. Throws ApiError for bad requests. */
  stream(pod: KubeObject, options: LogOptions, out: ServerResponse): Promise<void>;
}

export interface ApiServerDeps {
  store: Store;
  registry: Registry;
  authenticator: TokenAuthenticator;
  authorizer: RbacAuthorizer;
  logs: PodLogSource;
  /** the version GET /version reports @default KUBERNETES_VERSION */
  version?: string;
  /** every resource request, as it is authorised (KubeSim.record()'s audit trail) */
  onRequest?: (request: AuditedRequest) => void;
}

/** One API request as an audit log keeps it: who, which verb on what, with which query. */
export interface AuditedRequest {
  user: string;
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  query: Record<string, string>;
  allowed: boolean;
}

interface RequestInfo {
  rt: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  verb: string;
  /** the name RBAC sees: the URL's, or `metadata.name` from a list/watch field selector */
  authName?: string;
}

function send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | string[]> = { "Content-Type": "application/json" };
  if (warnings.length > 0) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(`${JSON.stringify(body)}\n`);
}

function sendError(res: ServerResponse, e: unknown): void {
  const err = e instanceof ApiError ? e : internalError((e as Error)?.message ?? String(e));
  if (err.plainText) {
    res.writeHead(err.code, { "Content-Type": "text/plain; charset=utf-8" });
    res.end(`${err.message}\n`);
    return;
  }
  send(res, err.code, err.status);
}

async function readRawBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function readBody(req: IncomingMessage): Promise<string> {
  return (await readRawBody(req)).toString("utf8");
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text.trim() === "") return undefined;
  try {
    if ((contentType ?? "").includes("yaml")) return parseYaml(text);
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`the object provided is unrecognized: ${(e as Error).message}`);
  }
}

/** Parse `/api/v1/...` and `/apis/<g>/<v>/...` into request info, or undefined for non-resource paths. */
function requestInfo(method: string, path: string, q: URLSearchParams): RequestInfo | undefined {
  const parts = path
    .split("/")
    .filter((p) => p !== "")
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 3) {
    group = "";
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else return undefined;

  let namespace: string | undefined;
  let resource: string;
  let name: string | undefined;
  let subresource: string | undefined;
  const isNamespaceSub =
    rest[0] === "namespaces" && rest.length === 3 && ["status", "finalize"].includes(rest[2]!);
  if (rest[0] === "namespaces" && rest.length >= 3 && !isNamespaceSub) {
    namespace = rest[1];
    resource = rest[2]!;
    name = rest[3];
    subresource = rest[4];
  } else {
    resource = rest[0]!;
    name = rest[1];
    subresource = rest[2];
    if (resource === "namespaces") namespace = name;
  }
  const rt = findResource(group, version, resource);
  if (!rt) throw apiResourceList(group, version) ? resourceNotFound() : pageNotFound();
  if (subresource && !rt.subresources.includes(subresource)) throw notFound(rt, name ?? "");
  if (!rt.namespaced && resource !== "namespaces") namespace = undefined;

  const watch = queryBool(q, "watch");
  let verb: string;
  switch (method) {
    case "GET":
      verb = name ? (watch ? "watch" : "get") : watch ? "watch" : "list";
      break;
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = name ? "delete" : "deletecollection";
      break;
    default:
      throw methodNotAllowed();
  }
  let authName = name;
  if (!name && (verb === "list" || verb === "watch")) {
    authName = /(?:^|,)metadata\.name==?([^,]+)/.exec(q.get("fieldSelector") ?? "")?.[1];
  }
  return {
    rt,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name ? { name } : {}),
    ...(subresource ? { subresource } : {}),
    verb,
    ...(authName ? { authName } : {}),
  };
}

export class ApiServer {
  private readonly listener: DualProtocolListener;
  private readonly openStreams = new Set<() => void>();

  constructor(private readonly deps: ApiServerDeps) {
    this.listener = new DualProtocolListener((req, res) => {
      this.handle(req, res).catch((e) => sendError(res, e));
    });
  }

  /** listen on 127.0.0.1 (http and https on one port); resolves with the port */
  async listen(): Promise<number> {
    const port = await this.listener.listen("127.0.0.1");
    this.address = `127.0.0.1:${port}`;
    return port;
  }

  /** host:port the API server answers on (GET /api's serverAddressByClientCIDRs) */
  private address = "";

  /** the PEM certificate of the https side (after listen) */
  get certificate(): string {
    return this.listener.certificate;
  }

  /** end streams, stop listening, drop connections */
  async close(): Promise<void> {
    this.closeStreams();
    await this.listener.close();
  }

  /** end every open watch and log stream */
  closeStreams(): void {
    for (const close of [...this.openStreams]) close();
  }

  private trackStream(close: () => void): () => void {
    this.openStreams.add(close);
    return () => this.openStreams.delete(close);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://kube-sim");
    const method = req.method ?? "GET";
    const user = this.deps.authenticator.authenticate(req.headers.authorization);
    if (!user) {
      await readBody(req);
      return send(res, 401, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      });
    }
    const path = url.pathname.replace(/\/+$/, "") || "/";
    // the https side's sockets are wrapped streams with no address of their own: the listener's is the one
    const nonResource = this.nonResource(path, url.searchParams, this.address);
    if (nonResource !== undefined) {
      await readBody(req);
      if (method !== "GET") throw methodNotAllowed();
      // protobufjs and the schemas load on the first protobuf request (kubectl's), not at each start
      const protobuf = path === "/openapi/v2" ? await import("./openapi-protobuf.ts") : undefined;
      if (protobuf && (req.headers.accept ?? "").includes(protobuf.OPENAPI_V2_PROTOBUF)) {
        res.writeHead(200, { "Content-Type": protobuf.OPENAPI_V2_PROTOBUF_CONTENT_TYPE });
        res.end(protobuf.openApiV2Protobuf(nonResource));
        return;
      }
      return send(res, 200, nonResource);
    }
    const info = requestInfo(method, path, url.searchParams);
    if (!info) throw pageNotFound();
    const attrs: Attributes = {
      verb: info.verb,
      group: info.rt.group,
      resource: info.rt.resource,
      ...(info.subresource ? { subresource: info.subresource } : {}),
      ...(info.authName ? { name: info.authName } : {}),
      ...(info.rt.namespaced || info.rt.resource === "namespaces"
        ? info.namespace
          ? { namespace: info.namespace }
          : {}
        : {}),
    };
    const decision = this.deps.authorizer.authorize(user, attrs);
    this.deps.onRequest?.({
      user: user.name,
      verb: info.verb,
      group: info.rt.group,
      resource: info.rt.resource,
      ...(info.subresource ? { subresource: info.subresource } : {}),
      ...(info.namespace ? { namespace: info.namespace } : {}),
      ...(info.name ? { name: info.name } : {}),
      query: Object.fromEntries(url.searchParams),
      allowed: decision.allowed,
    });
    if (!decision.allowed) {
      await readBody(req);
      throw this.deps.authorizer.forbiddenError(user, attrs, decision);
    }
    const raw = await readRawBody(req);
    const contentType = req.headers["content-type"] ?? "";
    // kubectl's typed clients send protobuf; everything else is JSON (or YAML for apply patches)
    const text =
      raw.length > 0 && contentType.includes("protobuf")
        ? JSON.stringify((await import("./protobuf.ts")).decodeProtobuf(raw, contentType))
        : raw.toString("utf8");
    await this.dispatch(info, method, url.searchParams, text, req, res, user);
  }

  private nonResource(path: string, _q: URLSearchParams, address: string): unknown {
    if (path === "/version") return versionInfo(this.deps.version);
    if (path === "/api") return apiVersions(address);
    if (path === "/apis") return apiGroupList();
    if (path === "/healthz" || path === "/readyz" || path === "/livez") return "ok";
    if (path === "/openapi/v2") return openApiV2(this.deps.version);
    if (path === "/openapi/v3") return openApiV3Root(this.deps.version);
    if (path.startsWith("/openapi/v3/")) {
      const doc = openApiV3Document(path.slice("/openapi/v3/".length), this.deps.version);
      if (doc) return doc;
      throw notFound({ resource: "", group: "" }, path);
    }
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (m) {
      const list = m[1] ? apiResourceList("", m[1]) : apiResourceList(m[2]!, m[3]!);
      if (!list) throw pageNotFound();
      return list;
    }
    return undefined;
  }

  private async dispatch(
    info: RequestInfo,
    method: string,
    q: URLSearchParams,
    text: string,
    req: IncomingMessage,
    res: ServerResponse,
    user: UserInfo,
  ): Promise<void> {
    const { rt, namespace, name, subresource } = info;
    const { registry } = this.deps;
    const warnings: string[] = [];
    const optionsKind = ({ POST: "CreateOptions", PUT: "UpdateOptions", PATCH: "PatchOptions" } as const)[
      method as "POST" | "PUT" | "PATCH"
    ];
    // as the handlers: an unsupported patch type (415) first, then the options (422), then the body
    const isApply = method === "PATCH" && patchTypeOf(req.headers["content-type"]) === "apply";
    const fieldValidation: FieldValidation = optionsKind
      ? validateWriteOptions(optionsKind, q, isApply)
      : "Warn";
    const ctx: WriteContext = { user, dryRun: q.getAll("dryRun").includes("All"), fieldValidation, warnings };
    const body = () => parseBody(text, req.headers["content-type"]);

    if (rt.virtual) {
      if (method !== "POST") throw methodNotAllowed();
      return send(res, 201, this.selfSubjectAccessReview(body(), user));
    }
    if (subresource === "log") {
      if (method !== "GET") throw methodNotAllowed();
      const pod = registry.get(rt, namespace, name!);
      const opts = {
        follow: queryBool(q, "follow"),
        previous: queryBool(q, "previous"),
        timestamps: queryBool(q, "timestamps"),
        ...(q.get("container") ? { container: q.get("container")! } : {}),
        ...(queryInt(q, "tailLines") !== undefined ? { tailLines: queryInt(q, "tailLines")! } : {}),
        ...(queryInt(q, "limitBytes") !== undefined ? { limitBytes: queryInt(q, "limitBytes")! } : {}),
        ...(queryInt(q, "sinceSeconds") !== undefined ? { sinceSeconds: queryInt(q, "sinceSeconds")! } : {}),
      };
      const detach = this.trackStream(() => res.end());
      try {
        await this.deps.logs.stream(pod, opts, res);
      } finally {
        detach();
      }
      return;
    }
    if (subresource === "scale") return this.scale(info, method, q, body, req, res, ctx);
    if (subresource === "token") {
      if (method !== "POST") throw methodNotAllowed();
      return send(res, 201, this.tokenRequest(namespace!, name!, body()));
    }

    switch (method) {
      case "GET": {
        if (info.verb === "watch") {
          const selector = this.selector(rt, q, name);
          return serveWatch(
            this.deps.store,
            {
              rt,
              ...(rt.namespaced && namespace ? { namespace } : {}),
              selector,
              ...(q.get("resourceVersion") !== null ? { resourceVersion: q.get("resourceVersion")! } : {}),
              ...(queryInt(q, "timeoutSeconds") !== undefined
                ? { timeoutSeconds: queryInt(q, "timeoutSeconds")! }
                : {}),
              allowWatchBookmarks: queryBool(q, "allowWatchBookmarks"),
              sendInitialEvents: queryBool(q, "sendInitialEvents"),
            },
            res,
            (close) => this.trackStream(close),
          );
        }
        const table = wantsTable(req.headers.accept);
        if (name) {
          const obj = registry.get(rt, rt.namespaced ? namespace : undefined, name);
          return send(res, 200, table ? toTable(rt, [obj], String(obj.metadata.resourceVersion)) : obj);
        }
        const selector = this.selector(rt, q);
        if (table) {
          const list = registry.list(rt, rt.namespaced ? namespace : undefined, selector);
          return send(
            res,
            200,
            toTable(rt, list.items as KubeObject[], String(list.metadata.resourceVersion)),
          );
        }
        return send(
          res,
          200,
          registry.list(
            rt,
            rt.namespaced ? namespace : undefined,
            selector,
            queryInt(q, "limit"),
            q.get("continue") ?? undefined,
          ),
        );
      }
      case "POST": {
        if (name && rt.resource !== "namespaces") throw methodNotAllowed();
        const obj = registry.create(rt, rt.namespaced ? namespace : undefined, body(), ctx);
        return send(res, 201, obj, warnings);
      }
      case "PUT": {
        if (!name) throw methodNotAllowed();
        if (subresource === "finalize") {
          const b = body();
          const obj = registry.mutate(rt, undefined, name, (ns) => {
            ns.spec = {
              ...(ns.spec ?? {}),
              finalizers: isObject(b) && isObject(b.spec) ? (b.spec.finalizers ?? []) : [],
            };
          });
          if (!obj) throw notFound(rt, name);
          return send(res, 200, obj);
        }
        return send(
          res,
          200,
          registry.update(rt, rt.namespaced ? namespace : undefined, name, body(), ctx, subresource),
          warnings,
        );
      }
      case "PATCH": {
        if (!name) throw methodNotAllowed();
        const type = patchTypeOf(req.headers["content-type"]);
        const fieldManager = q.get("fieldManager") ?? undefined;
        const out = registry.patch(
          rt,
          rt.namespaced ? namespace : undefined,
          name,
          type,
          body(),
          { ...ctx, ...(fieldManager ? { fieldManager } : {}) },
          subresource,
        );
        return send(res, out.code, out.object, warnings);
      }
      case "DELETE": {
        const options = this.deleteOptions(q, body());
        if (!name || (rt.resource === "namespaces" && !name)) {
          return send(
            res,
            200,
            registry.deleteCollection(rt, namespace, this.selector(rt, q), options, ctx),
            warnings,
          );
        }
        const out = registry.delete(rt, rt.namespaced ? namespace : undefined, name, options, ctx);
        return send(res, out.code, out.body, warnings);
      }
    }
  }

  /** GET, PUT and PATCH of `deployments/scale` and `replicasets/scale` (autoscaling/v1 Scale) */
  private scale(
    info: RequestInfo,
    method: string,
    q: URLSearchParams,
    body: () => unknown,
    req: IncomingMessage,
    res: ServerResponse,
    ctx: WriteContext,
  ): void {
    const { rt, namespace, name } = info;
    if (!name || !namespace || info.verb === "watch") throw methodNotAllowed();
    const { registry } = this.deps;
    let scale: KubeObject;
    if (method === "GET") {
      scale = getScale(registry, rt, namespace, name);
      if (wantsTable(req.headers.accept)) scale = scaleTable(scale, String(scale.metadata.resourceVersion));
    } else if (method === "PUT") scale = updateScale(registry, rt, namespace, name, body(), ctx);
    else if (method === "PATCH") {
      const type = patchTypeOf(req.headers["content-type"]);
      const fieldManager = q.get("fieldManager") ?? undefined;
      scale = patchScale(registry, rt, namespace, name, type, body(), {
        ...ctx,
        ...(fieldManager ? { fieldManager } : {}),
      });
    } else throw methodNotAllowed();
    send(res, 200, scale, ctx.warnings);
  }

  private selector(rt: ResourceType, q: URLSearchParams, name?: string): Selector {
    const fields = parseFieldSelector(
      q.get("fieldSelector") ?? undefined,
      rt.group ? `${rt.resource}.${rt.group}` : rt.resource,
    );
    if (name) fields.push({ field: "metadata.name", op: "=", value: name });
    return { labels: parseLabelSelector(q.get("labelSelector") ?? undefined), fields };
  }

  private deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
    const b = isObject(body) ? body : {};
    const grace =
      queryInt(q, "gracePeriodSeconds") ??
      (typeof b.gracePeriodSeconds === "number" ? b.gracePeriodSeconds : undefined);
    const policy = (q.get("propagationPolicy") ?? b.propagationPolicy) as PropagationPolicy | undefined;
    const orphanDependents =
      q.get("orphanDependents") !== null
        ? queryBool(q, "orphanDependents")
        : typeof b.orphanDependents === "boolean"
          ? b.orphanDependents
          : undefined;
    // apimachinery's ValidateDeleteOptions
    const errs: FieldError[] = [];
    if (orphanDependents !== undefined && policy !== undefined)
      errs.push({
        type: "FieldValueInvalid",
        field: "propagationPolicy",
        value: policy,
        detail: "orphanDependents and deletionPropagation cannot be both set",
      });
    if (policy !== undefined && !["Background", "Foreground", "Orphan"].includes(policy))
      errs.push({
        type: "FieldValueNotSupported",
        field: "propagationPolicy",
        value: policy,
        detail: 'supported values: "Foreground", "Background", "Orphan", "nil"',
      });
    const bodyDryRun = Array.isArray(b.dryRun) ? b.dryRun.map(String) : [];
    errs.push(...dryRunErrors([...q.getAll("dryRun"), ...bodyDryRun]));
    if (errs.length > 0) throw invalid({ kind: "DeleteOptions", group: "meta.k8s.io" }, "", errs);
    return {
      ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
      ...(policy ? { propagationPolicy: policy } : {}),
      ...(orphanDependents !== undefined ? { orphanDependents } : {}),
      ...(isObject(b.preconditions)
        ? { preconditions: b.preconditions as DeleteOptions["preconditions"] }
        : {}),
    };
  }

  private tokenRequest(namespace: string, name: string, body: unknown): KubeObject {
    const sa = this.deps.store.get("serviceaccounts", namespace, name);
    if (!sa) throw notFound({ resource: "serviceaccounts", group: "" }, name);
    const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
    const expirationSeconds = typeof spec.expirationSeconds === "number" ? spec.expirationSeconds : 3600;
    const token = this.deps.authenticator.mintForServiceAccount(namespace, name, sa.metadata.uid);
    return {
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { name, namespace, creationTimestamp: timestamp(new Date()) },
      spec: {
        audiences:
          Array.isArray(spec.audiences) && spec.audiences.length
            ? spec.audiences
            : ["https://kubernetes.default.svc.cluster.local"],
        expirationSeconds,
        boundObjectRef: isObject(spec.boundObjectRef) ? spec.boundObjectRef : null,
      },
      status: { token, expirationTimestamp: timestamp(new Date(Date.now() + expirationSeconds * 1000)) },
    };
  }

  private selfSubjectAccessReview(body: unknown, user: UserInfo): KubeObject {
    const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
    const ra = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
    let status: Record<string, unknown> = { allowed: false };
    if (ra) {
      const attrs: Attributes = {
        verb: String(ra.verb ?? ""),
        group: String(ra.group ?? ""),
        resource: String(ra.resource ?? ""),
        ...(ra.subresource ? { subresource: String(ra.subresource) } : {}),
        ...(ra.name ? { name: String(ra.name) } : {}),
        ...(ra.namespace ? { namespace: String(ra.namespace) } : {}),
      };
      const d = this.deps.authorizer.authorize(user, attrs);
      status = { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) };
    } else if (user.groups.includes("system:masters")) status = { allowed: true };
    return {
      kind: "SelfSubjectAccessReview",
      apiVersion: "authorization.k8s.io/v1",
      metadata: { creationTimestamp: null },
      spec,
      status,
    };
  }
}
