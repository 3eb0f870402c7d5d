// Tokens: random values shown once, stored as SHA-256 hashes (they are 256-bit random, so a
// fast hash is enough); scopes admin | agent | runner | read. On first start the server writes an
// admin token, mode 0600, in the Flotilla home, which the CLI on the same machine reads.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { flotillaHome } from "../store/open.ts";
import type { Store, TokenRecord, TokenScope } from "../store/store.ts";

export const TOKEN_SCOPES = ["admin", "agent", "runner", "read"] as const satisfies readonly TokenScope[];

/** A new token value: `flt_` + 43 base64url characters. */
export function newToken(): string {
  return `flt_${randomBytes(32).toString("base64url")}`;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Equal without leaking where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The admin token file of a Flotilla home. */
export function adminTokenPath(home = flotillaHome()): string {
  return path.join(home, "admin-token");
}

/** The token in the home's admin token file, if there is one. */
export function readAdminToken(home = flotillaHome()): string | undefined {
  try {
    const t = readFileSync(adminTokenPath(home), "utf8").trim();
    return t === "" ? undefined : t;
  } catch {
    return undefined;
  }
}

/**
 * Make sure the home holds an admin token the store knows: reuse the file's token (registering
 * its hash in a new database), or create one and write it with mode 0600.
 */
export async function ensureAdminToken(
  store: Store,
  home = flotillaHome(),
): Promise<{ token: string; created: boolean }> {
  const existing = readAdminToken(home);
  if (existing !== undefined) {
    if ((await store.findToken(hashToken(existing))) === undefined) {
      await store.createToken(
        { name: "admin (home)", scope: "admin", hash: hashToken(existing) },
        Date.now(),
      );
    }
    return { token: existing, created: false };
  }
  const token = newToken();
  await store.createToken({ name: "admin (home)", scope: "admin", hash: hashToken(token) }, Date.now());
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = adminTokenPath(home);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, created: true };
}

/** Create a token of `scope`; the value is returned once and only its hash is kept. */
export async function createToken(
  store: Store,
  name: string,
  scope: TokenScope,
  runId?: string,
): Promise<{ token: string; record: TokenRecord }> {
  const token = newToken();
  const record = await store.createToken(
    { name, scope, hash: hashToken(token), ...(runId !== undefined ? { runId } : {}) },
    Date.now(),
  );
  return { token, record };
}

/** The bearer token of a request: the Authorization header, else the session cookie. */
export function requestToken(
  headers: Record<string, string | string[] | undefined>,
  cookie: string,
): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const cookies = headers.cookie;
  if (typeof cookies === "string") {
    for (const part of cookies.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === cookie) return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return undefined;
}
