// The dashboard's side of `flotilla server`: the prebuilt single-page app from dist/ui (every path
// that is not /api/ gets index.html, so links to /runs/<id> work), and the login: the token printed
// with the dashboard's URL (`/?token=…` or `/login?token=…`, as Jupyter does) or pasted on the
// login page (POST /api/session) becomes an HTTP-only session cookie, and the address bar loses it.
// Cookie-authenticated writes must come from the dashboard's own origin (no cross-site request).

import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyCookie from "@fastify/cookie";
import fastifyStatic from "@fastify/static";
import type {} from "@fastify/swagger";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";

/** What the dashboard needs from the server (a subset of the server's dashboard context). */
export interface DashboardOptions {
  /** The token's record when the token is valid, else undefined. */
  authenticate(token: string): Promise<unknown>;
  /** The cookie the API reads a token from. */
  sessionCookie: string;
  /** The built dashboard (default: dist/ui of this package). */
  root?: string;
  /** How long the session cookie lives (default 7 days). */
  sessionMaxAgeSeconds?: number;
  /**
   * The login code of the link `flotilla server` prints (see newLoginCode): valid while this
   * process runs, accepted only here, and exchanged for a session holding `sessionToken()`, so the
   * printed link never carries an API token.
   */
  loginCode?: string;
  /** The token a login code's session holds (the home's admin token). */
  sessionToken?: () => string | undefined;
}

/** A login code for the printed dashboard link (not an API token: the API refuses it). */
export function newLoginCode(): string {
  return `flt_login_${randomBytes(24).toString("base64url")}`;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Where the package's built dashboard lives, from src/server or dist/server alike. */
export const DASHBOARD_ROOT = fileURLToPath(new URL("../../dist/ui/", import.meta.url));

/** Every file of the dashboard stays on this machine: nothing else may be loaded by the page. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const sessionBody = z.object({ token: z.string().min(1).max(1000) });

function unauthorized(reply: FastifyReply, message: string) {
  return reply.status(401).send({
    error: {
      code: "FLOTILLA_UNAUTHORIZED",
      message,
      hint: "use the URL flotilla server printed, the admin token in the Flotilla home, or flotilla tokens create",
    },
  });
}

/** The path and query of a request without its `token` parameter (for the redirect after login). */
function withoutToken(url: string): string {
  const u = new URL(url, "http://x");
  u.searchParams.delete("token");
  const next = u.searchParams.get("next");
  if (u.pathname === "/login") {
    // only a path of this site, never another origin
    return next?.startsWith("/") && !next.startsWith("//") ? next : "/";
  }
  return u.pathname + (u.searchParams.size ? `?${u.searchParams}` : "");
}

/** Register the dashboard's routes on the server's Fastify app (before it is ready). */
export async function registerDashboard(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const root = options.root ?? DASHBOARD_ROOT;
  const cookie = options.sessionCookie;
  const maxAge = options.sessionMaxAgeSeconds ?? 7 * 24 * 3600;
  if (!app.hasReplyDecorator("setCookie")) await app.register(fastifyCookie);
  await app.register(fastifyStatic, { root, serve: false, index: false });

  const setSession = (req: FastifyRequest, reply: FastifyReply, token: string) =>
    reply.setCookie(cookie, token, {
      httpOnly: true,
      sameSite: "strict",
      path: "/",
      secure: req.protocol === "https",
      maxAge,
    });
  const valid = async (token: string) => (await options.authenticate(token)) !== undefined;

  // A cookie rides along with any request the browser makes, so a write that relies on it must be
  // one the dashboard itself sent: same origin by Fetch Metadata or Origin. Bearer calls (the CLI,
  // agents, runners) are not affected.
  app.addHook("onRequest", async (req, reply) => {
    if (req.method === "GET" || req.method === "HEAD" || req.method === "OPTIONS") return;
    if (req.headers.authorization !== undefined) return;
    if (!req.headers.cookie?.includes(`${cookie}=`)) return;
    const site = req.headers["sec-fetch-site"];
    const origin = req.headers.origin;
    const sameOrigin =
      site === "same-origin" ||
      site === "none" ||
      (site === undefined && (origin === undefined || new URL(origin).host === req.headers.host));
    if (!sameOrigin) {
      return reply.status(403).send({
        error: {
          code: "FLOTILLA_FORBIDDEN",
          message: `a ${req.method} with the dashboard's session cookie must come from the dashboard itself (came from ${origin ?? site})`,
          hint: "call the API with Authorization: Bearer <token> instead",
        },
      });
    }
  });

  app.post("/api/session", { schema: { hide: true } }, async (req, reply) => {
    const body = sessionBody.safeParse(req.body);
    if (!body.success) return unauthorized(reply, "body: give { token } (the login token)");
    if (!(await valid(body.data.token))) return unauthorized(reply, "the token is not valid or has expired");
    setSession(req, reply, body.data.token);
    return reply.status(204).send();
  });
  app.delete("/api/session", { schema: { hide: true } }, async (_req, reply) => {
    reply.clearCookie(cookie, { path: "/" });
    return reply.status(204).send();
  });

  const indexHtml = path.join(root, "index.html");
  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    const url = req.raw.url ?? "/";
    const pathname = decodeURIComponent(new URL(url, "http://x").pathname);
    if (pathname.startsWith("/api/") || pathname === "/api") {
      return reply.status(404).send({
        error: {
          code: "FLOTILLA_NOT_FOUND",
          message: `${req.method} ${pathname} not found`,
          hint: "the API is described at /api/openapi.json",
        },
      });
    }
    const token = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof token === "string" && token !== "") {
      reply.header("referrer-policy", "no-referrer").header("cache-control", "no-store");
      const fromCode =
        options.loginCode && same(token, options.loginCode) ? options.sessionToken?.() : undefined;
      const session = fromCode ?? token;
      if (!(await valid(session))) return reply.redirect("/login?login=failed", 303);
      setSession(req, reply, session);
      return reply.redirect(withoutToken(url), 303);
    }
    // A built file (hashed names under assets/ never change), else the app itself.
    const rel = path.normalize(pathname).replace(/^([/\\])+/, "");
    const file = path.join(root, rel);
    if (rel !== "" && file.startsWith(root) && existsSync(file) && statSync(file).isFile()) {
      const immutable = rel.startsWith("assets/");
      reply.header("cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
      return reply.sendFile(rel, root, { cacheControl: false });
    }
    if (!existsSync(indexHtml)) {
      return reply
        .status(503)
        .type("text/plain; charset=utf-8")
        .send("The dashboard is not built in this copy of Flotilla: run `npm run build:ui`, then reload.\n");
    }
    return reply
      .header("content-security-policy", CSP)
      .header("referrer-policy", "no-referrer")
      .header("x-content-type-options", "nosniff")
      .header("cache-control", "no-cache")
      .sendFile("index.html", root, { cacheControl: false });
  };
  app.get("/", { schema: { hide: true } }, page);
  app.get("/*", { schema: { hide: true } }, page);
}

/** The hook `flotilla server` loads: registers the dashboard with the server's context. */
export const dashboard = (app: FastifyInstance, context: DashboardOptions): Promise<void> =>
  registerDashboard(app, context);
