// Entry point of the dashboard bundle.

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { prefetch } from "./api.ts";
import { App } from "./app.tsx";
import { endpoints } from "./endpoints.ts";
import "./styles.css";

// A run page opened by its address: its code, its run and its task runs in brief are fetched at once,
// side by side, instead of one after the other as the page renders.
const runPath = /^\/runs\/([^/]+)\/?$/.exec(window.location.pathname);
if (runPath?.[1]) {
  const id = decodeURIComponent(runPath[1]);
  void import("./pages/run.tsx");
  prefetch(endpoints.run(id));
  prefetch(endpoints.taskRunSummary(id));
}

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
}
