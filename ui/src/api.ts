// The dashboard's HTTP client: every call goes to the same origin under /api/ with the session
// cookie. A 401 flips the app to the login page; a network failure flips it to "reconnecting".

import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";

/** An API answer that was not a success, with the server's own message and hint when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

type Session = "unknown" | "ok" | "unauthorized";
let session: Session = "unknown";
let online = true;
const sessionListeners = new Set<() => void>();
function emit(): void {
  for (const l of sessionListeners) l();
}
function subscribe(l: () => void): () => void {
  sessionListeners.add(l);
  return () => sessionListeners.delete(l);
}

export function setSession(s: Session): void {
  if (s !== session) {
    session = s;
    emit();
  }
}
/** Whether the last calls found the server, and whether the session cookie was accepted. */
export function setOnline(o: boolean): void {
  if (o !== online) {
    online = o;
    emit();
  }
}
export function useSession(): Session {
  return useSyncExternalStore(subscribe, () => session);
}
export function useOnline(): boolean {
  return useSyncExternalStore(subscribe, () => online);
}

/** GET answers asked for at start-up, before React rendered (each is handed out once). */
const early = new Map<string, Promise<unknown>>();

/**
 * Starts GET `path` now, so the page that asks for it later gets the answer already on its way
 * (a run page opened by its URL fetches its run and task runs while its code loads).
 */
export function prefetch(path: string): void {
  if (!early.has(path)) {
    const p = api(path);
    p.catch(() => {}); // the page that takes it sees the error
    early.set(path, p);
  }
}

/** Calls the API; `path` starts after /api. */
export async function api<T>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<T> {
  const ready = init.method === undefined && init.json === undefined ? early.get(path) : undefined;
  if (ready) {
    early.delete(path);
    return ready as Promise<T>;
  }
  const headers: Record<string, string> = { accept: "application/json" };
  let body = init.body;
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  let res: Response;
  try {
    res = await fetch(`/api${path}`, { ...init, body, headers, credentials: "same-origin" });
  } catch {
    setOnline(false);
    throw new ApiError(0, "The server cannot be reached.");
  }
  setOnline(true);
  if (res.status === 401) {
    setSession("unauthorized");
    throw new ApiError(401, "Your session is not valid: log in again.");
  }
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const e = (data ?? {}) as {
      message?: string;
      error?: string | { message?: string; code?: string; hint?: string };
      code?: string;
      hint?: string;
    };
    const inner = typeof e.error === "object" && e.error ? e.error : undefined;
    const message =
      inner?.message ??
      e.message ??
      (typeof e.error === "string" ? e.error : undefined) ??
      `HTTP ${res.status}`;
    throw new ApiError(res.status, message, inner?.code ?? e.code, inner?.hint ?? e.hint);
  }
  if (session !== "ok") setSession("ok");
  return data as T;
}

export interface Resource<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads `path` (null: nothing) and keeps the last good answer while reloading, so live pages do
 * not flicker. `reload` is cheap to call often: calls are coalesced while one is in flight.
 */
export function useResource<T>(path: string | null): Resource<T> {
  const [state, setState] = useState<{ path: string | null; data?: T; error?: ApiError; loading: boolean }>({
    path,
    loading: path !== null,
  });
  const inFlight = useRef(false);
  const again = useRef(false);
  const current = useRef(path);
  current.current = path;

  const load = useCallback(() => {
    const p = current.current;
    if (p === null) return;
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    api<T>(p)
      .then(
        (data) => {
          if (current.current === p) setState({ path: p, data, loading: false });
        },
        (error: ApiError) => {
          if (current.current === p) setState((s) => ({ ...s, path: p, error, loading: false }));
        },
      )
      .finally(() => {
        inFlight.current = false;
        if (again.current) {
          again.current = false;
          load();
        }
      });
  }, []);

  useEffect(() => {
    if (path === null) return;
    setState((s) => (s.path === path ? s : { path, loading: true }));
    load();
  }, [path, load]);

  const same = state.path === path;
  return {
    data: same ? state.data : undefined,
    error: same ? state.error : undefined,
    loading: same ? state.loading : path !== null,
    reload: load,
  };
}
