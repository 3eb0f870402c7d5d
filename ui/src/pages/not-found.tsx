// The 404 page: an unknown path or a run id the server does not know, with a way back.

import { Link } from "../router.tsx";

export function NotFoundPage({ what, id }: { what: "page" | "run"; id?: string }) {
  return (
    <section className="card notfound" aria-labelledby="nf-title">
      <p className="code404" aria-hidden="true">
        404
      </p>
      <h1 id="nf-title">{what === "run" ? "No such run" : "No such page"}</h1>
      <p>
        {what === "run" ? (
          <>
            The server has no run <code>{id}</code>. It may have been deleted by retention, or the id is
            mistyped.
          </>
        ) : (
          <>Nothing lives at this address.</>
        )}
      </p>
      <p>
        <Link to="/">← Back to all runs</Link>
      </p>
    </section>
  );
}
