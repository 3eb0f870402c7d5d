// The login page: shown for a missing, wrong or expired token. The token is exchanged for an
// HTTP-only session cookie by the server; the page never stores it.

import { type FormEvent, useState } from "react";
import { ApiError, api, setSession } from "../api.ts";
import { restartEvents } from "../events.ts";
import { navigate, useRoute } from "../router.tsx";

export function LoginPage() {
  const { path, query } = useRoute();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>(
    query.get("login") === "failed" ? "That token is not valid or has expired." : undefined,
  );
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api("/session", { method: "POST", json: { token: token.trim() } });
      setSession("ok");
      restartEvents();
      const next = query.get("next");
      navigate(path === "/login" ? (next?.startsWith("/") ? next : "/") : window.location.pathname, {
        replace: true,
      });
      window.dispatchEvent(new Event("flotilla:login"));
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "That token is not valid or has expired."
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="login card" aria-labelledby="login-title">
      <h1 id="login-title">Log in to Flotilla</h1>
      <p>
        Open the link <code>flotilla server</code> printed (it carries a login token), or paste a token made
        with <code>flotilla tokens create</code>.
      </p>
      <form onSubmit={submit}>
        <label htmlFor="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "login-error" : undefined}
        />
        {error && (
          <p id="login-error" className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || token.trim() === ""}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </section>
  );
}
