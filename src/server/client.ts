// The API's HTTP client, used by the CLI, the runner's reporter and agents: JSON over fetch with
// a bearer token and a deadline per call. Errors are FlotillaErrors that say what happened and
// how to fix it (server down, token refused or lacking a scope, the server's own message); the
// token never appears in them.

import { ErrorCode, FlotillaError } from "../core/errors.ts";
import { readAdminToken } from "./auth.ts";

export { serverUrl } from "./server-url.ts";

export interface ClientOptions {
  /** The server, e.g. http://127.0.0.1:4200 (default FLOTILLA_API_URL). */
  url: string;
  /** Default FLOTILLA_API_TOKEN, else the admin token of the Flotilla home on this machine. */
  token?: string;
  /** Per call. @default 30000 */
  timeoutMs?: number;
}

/** An error answer of the API, with its HTTP status and code. */
export class ApiCallError extends FlotillaError {
  constructor(
    readonly status: number,
    readonly apiCode: string,
    message: string,
    hint?: string,
  ) {
    super(status === 400 || status === 404 || status === 409 ? ErrorCode.Usage : ErrorCode.Server, message, {
      ...(hint ? { hint } : {}),
      usage: status === 400 || status === 404 || status === 409,
    });
  }
}

export class ApiClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(o: ClientOptions) {
    let u: URL;
    try {
      u = new URL(o.url);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http");
    } catch {
      throw new FlotillaError(ErrorCode.Usage, `--server ${o.url}: not an http(s) URL`, {
        hint: "give the URL flotilla server printed, e.g. http://127.0.0.1:4200",
        usage: true,
      });
    }
    this.url = o.url.replace(/\/+$/, "");
    this.#token = o.token ?? (process.env.FLOTILLA_API_TOKEN || undefined) ?? readAdminToken();
    this.#timeoutMs = o.timeoutMs ?? 30_000;
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs),
      });
    } catch (e) {
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (e as Error).name;
      throw new FlotillaError(
        ErrorCode.Server,
        `cannot reach the Flotilla server at ${this.url} (${cause === "TimeoutError" ? `no answer in ${Math.round((options.timeoutMs ?? this.#timeoutMs) / 1000)} s` : cause})`,
        { hint: "start it with flotilla server, or check --server / FLOTILLA_API_URL" },
      );
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text === "" ? undefined : JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (res.ok) return data as T;
    const err = (data as { error?: { code?: string; message?: string; hint?: string } } | undefined)?.error;
    const message = err?.message ?? `HTTP ${res.status}`;
    if (res.status === 401) {
      throw new ApiCallError(
        401,
        err?.code ?? "FLOTILLA_UNAUTHORIZED",
        `the server at ${this.url} refused the call: ${this.#token ? "the token is not valid" : "no token was given"}`,
        "pass --token or FLOTILLA_API_TOKEN (flotilla tokens create), or run on the server's machine where its admin token is in the Flotilla home",
      );
    }
    throw new ApiCallError(res.status, err?.code ?? "FLOTILLA_SERVER", message, err?.hint);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T>(path: string, body: unknown = {}, options?: { timeoutMs?: number }): Promise<T> {
    return this.request<T>("POST", path, body, options);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }
}
