// The dashboard's frame: header with navigation, the "reconnecting" banner, and the page for the
// current path. A 401 anywhere shows the login page instead of the page.

import { lazy, Suspense, useEffect } from "react";
import { useOnline, useSession } from "./api.ts";
import { AgentsPage } from "./pages/agents.tsx";
import { DeploymentsPage } from "./pages/deployments.tsx";
import { LoginPage } from "./pages/login.tsx";
import { NotFoundPage } from "./pages/not-found.tsx";
import { RunsPage } from "./pages/runs.tsx";
import { Link, useRoute } from "./router.tsx";

// The run page carries the graph, chart and timeline libraries: loaded when first opened.
const RunPage = lazy(() => import("./pages/run.tsx").then((m) => ({ default: m.RunPage })));

function Page({ path }: { path: string }) {
  if (path === "/" || path === "/runs" || path === "/runs/") return <RunsPage />;
  const run = /^\/runs\/([^/]+)\/?$/.exec(path);
  if (run?.[1]) return <RunPage id={decodeURIComponent(run[1])} />;
  if (path === "/deployments" || path === "/schedules") return <DeploymentsPage />;
  if (path === "/agents") return <AgentsPage />;
  if (path === "/login") return <LoginPage />;
  return <NotFoundPage what="page" />;
}

export function App() {
  const { path } = useRoute();
  const session = useSession();
  const online = useOnline();
  useEffect(() => {
    document.body.dataset.online = String(online);
  }, [online]);
  const section = path.startsWith("/deployments")
    ? "deployments"
    : path.startsWith("/agents")
      ? "agents"
      : "runs";
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand" aria-label="Flotilla runs">
          <svg className="brand-mark" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <path d="M11 2v13H4z" fill="#9ecbff" />
            <path d="M13 5v10h6z" fill="#dce7f5" />
            <path d="M2 17h20l-3 4H5z" fill="#fff" />
          </svg>
          Flotilla
        </Link>
        <nav aria-label="Sections">
          <Link to="/" aria-current={section === "runs" ? "page" : undefined}>
            Runs
          </Link>
          <Link to="/deployments" aria-current={section === "deployments" ? "page" : undefined}>
            Deployments
          </Link>
          <Link to="/agents" aria-current={section === "agents" ? "page" : undefined}>
            Agents
          </Link>
        </nav>
      </header>
      {!online && session !== "unauthorized" && (
        <div className="banner" role="status" aria-live="polite" data-testid="reconnecting">
          <span className="spinner" aria-hidden="true" /> Reconnecting to the server… the page updates by
          itself when it is back.
        </div>
      )}
      <main id="main" tabIndex={-1}>
        {session === "unauthorized" && path !== "/login" ? (
          <LoginPage />
        ) : (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <Page path={path} />
          </Suspense>
        )}
      </main>
    </>
  );
}
