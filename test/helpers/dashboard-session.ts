// Test helper for the browser tests that start from the runs list: in the calling describe, before
// its tests, the dashboard built, a real `flotilla server` on a temp home and Chromium logged in
// through the link the server printed, on the Runs page; after them, all three closed and removed.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { type Browser, launchBrowser } from "./browser.ts";
import { ensureDashboardBuilt } from "./dashboard-build.ts";
import { removeDir, type ServerProcess, startServerProcess } from "./flotilla-server.ts";

export interface DashboardSession {
  readonly server: ServerProcess;
  readonly browser: Browser;
}

/** Registers the before/after hooks; the server and browser are there once the hooks ran. */
export function dashboardSession(homePrefix: string): DashboardSession {
  let home = "";
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  before(async () => {
    await ensureDashboardBuilt();
    home = await mkdtemp(path.join(tmpdir(), homePrefix));
    server = await startServerProcess(home);
    browser = await launchBrowser();
    await browser.page.goto(server.dashboardUrl);
    await browser.page.getByRole("heading", { name: "Runs" }).waitFor();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    if (home) await removeDir(home);
  });
  return {
    get server() {
      return server!;
    },
    get browser() {
      return browser!;
    },
  };
}
