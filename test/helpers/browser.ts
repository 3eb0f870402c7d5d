// Test helper: Debian's Chromium driven by playwright-core, as the dashboard's users see it.
// Headless, sandbox off (root), no background networking (this machine has no network, and a
// dashboard must not need one), a fresh profile per launch; every request the page makes is kept
// so tests can show none leaves the machine.

import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { chromiumPath } from "./system.ts";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where screenshots go (gitignored): FLOTILLA_TEST_ARTIFACTS or test-artifacts/ in the repository. */
export const ARTIFACTS =
  process.env.FLOTILLA_TEST_ARTIFACTS ?? fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Every URL the browser requested. */
  requests: string[];
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), "flotilla-chromium-"));
  await mkdir(ARTIFACTS, { recursive: true });
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      headless: true,
      args: CHROMIUM_ARGS,
      viewport,
      timezoneId: "UTC",
      locale: "en-US",
      timeout: 60_000,
    });
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
  const requests: string[] = [];
  context.on("request", (r) => requests.push(r.url()));
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  const ctx = context;
  return {
    context: ctx,
    page,
    requests,
    async screenshot(p, name) {
      const file = path.join(ARTIFACTS, `${name}.png`);
      await p.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await ctx.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}
