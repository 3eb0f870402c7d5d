// The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
// `flotilla server` with a temp home, fed by real `flotilla run --server` runs (one on a
// LocalCluster that scales 1 → 4 → 1) and by the reporting API a runner uses. Screenshots of each
// page go to test-artifacts/ (gitignored). Targets are printed, never asserted.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { ARTIFACTS, type Browser, launchBrowser } from "./helpers/browser.ts";
import { builtSize, ensureDashboardBuilt } from "./helpers/dashboard-build.ts";
import {
  flotilla,
  removeDir,
  type ServerProcess,
  startFlotilla,
  startServerProcess,
  stopChild,
  until,
} from "./helpers/flotilla-server.ts";
import { seedHistory } from "./helpers/seed-runs.ts";

const FLOWS = "test/fixtures/dashboard-flows.ts";
/** Finished runs already in the store when the server starts (a long history to page through). */
const HISTORY = 100_000;

interface RunJson {
  id: string;
  state: string;
  flowName: string;
}

/** Prints a measured figure (targets are printed, never asserted). */
function figure(name: string, value: string, target: string): void {
  process.stdout.write(`# dashboard: ${name}: ${value} (target ${target})\n`);
}

/** A run recorded the way a runner records one: with its flow's DAG, then reporter batches. */
async function reportedRun(
  server: ServerProcess,
  name: string,
  dag: {
    tasks: { slug: string; mapped?: boolean; upstream: string[] }[];
    edges: { upstream: string; downstream: string }[];
  },
): Promise<string> {
  const id = randomUUID();
  await server.api("POST", "/api/runs", {
    id,
    flow: { name, fingerprint: `fp-${name}`, dag, parameterSchema: [] },
    parameters: {},
    state: "Running",
  });
  return id;
}

describe("dashboard", { timeout: 600_000 }, () => {
  let home: string;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  const env = () => ({ FLOTILLA_HOME: home, FLOTILLA_API_URL: server.url });

  before(async () => {
    await ensureDashboardBuilt();
    home = await mkdtemp(path.join(tmpdir(), "flotilla-dashboard-"));
    // 100,000 finished runs, one every 5 s back from 10 minutes ago (within the retention)
    const seeded = await seedHistory(home, {
      runs: HISTORY,
      newestAt: Date.now() - 10 * 60_000,
      spacingMs: 5000,
      withFigures: 500,
    });
    process.stdout.write(`# dashboard: seeded ${seeded.runs} runs in ${Math.round(seeded.ms)} ms\n`);
    server = await startServerProcess(home);
    browser = await launchBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (home) await removeDir(home);
  });

  it("a wrong token shows the login page; the link flotilla server printed logs in with an HTTP-only cookie", async () => {
    await page.goto(`${server.url}/?token=not-a-token`);
    await page.getByRole("heading", { name: "Log in to Flotilla" }).waitFor();
    await page.getByText("That token is not valid or has expired.").waitFor();
    await browser.screenshot(page, "login");

    assert.ok(server.dashboardUrl.startsWith(`${server.url}/?token=`), server.stdout());
    assert.ok(!server.stdout().includes(server.token), "the admin token is never printed");
    await page.goto(server.dashboardUrl);
    await page.getByRole("heading", { name: "Runs" }).waitFor();
    assert.equal(new URL(page.url()).search, "", "the token leaves the address bar");
    const cookies = await browser.context.cookies(server.url);
    const session = cookies.find((c) => c.name === "flotilla_session");
    assert.ok(session, "a session cookie is set");
    assert.equal(session.httpOnly, true);
    assert.equal(await page.evaluate("document.cookie"), "", "scripts cannot read the session");
  });

  it("lists a run reported by flotilla run --server, with its state and tasks", async () => {
    const r = await flotilla(["run", FLOWS, "--flow", "squares", "--param", "n=20"], env());
    assert.equal(r.code, 0, r.stderr);
    await page.goto(`${server.url}/`);
    const row = page.locator("tr[data-state]", { hasText: "squares" }).first();
    await row.waitFor();
    await row.getByText("Success").waitFor();
    await browser.screenshot(page, "runs");
  });

  it("pages through 100,000 runs and filters them by flow, state and time on the server", async () => {
    await page.goto(`${server.url}/`);
    const rows = page.locator("tbody tr[data-state]");
    await page.getByText("50 runs on this page").waitFor();
    // a seeded row shows its tasks done/total and its workers peak from the list answer
    const seededRow = rows.filter({ hasText: "nightly-etl" }).first();
    await seededRow.locator(".tasks-text").waitFor();
    assert.match((await seededRow.locator(".tasks-text").textContent()) ?? "", /^\d+\/\d+$/);
    assert.match((await seededRow.locator("td.num").textContent()) ?? "", /^\d+$/);
    const firstRun = () => rows.first().getAttribute("data-run");
    const first = await firstRun();

    // pages, measured in the page from the click to the new rows being drawn
    const pageTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = await rows.first().getAttribute("data-run");
      const t = await page.evaluate(`(() => {
        window.__pageShown = undefined;
        const body = document.querySelector("table.runs tbody");
        const first = body.querySelector("tr[data-run]").dataset.run;
        new MutationObserver((_, o) => {
          const now = body.querySelector("tr[data-run]")?.dataset.run;
          if (now && now !== first) { window.__pageShown = performance.now(); o.disconnect(); }
        }).observe(body, { subtree: true, childList: true, attributes: true });
        return performance.now();
      })()`);
      await page.getByRole("button", { name: "Older →" }).click();
      await until("the next page", async () => ((await firstRun()) !== before ? true : undefined), 20_000);
      await until(
        "the page drawn",
        async () => (await page.evaluate("window.__pageShown")) ?? undefined,
        20_000,
      );
      pageTimes.push(Number(await page.evaluate("window.__pageShown")) - Number(t));
    }
    await browser.screenshot(page, "runs-paged");
    await page.getByRole("button", { name: "← Newer" }).click();
    await page.getByRole("button", { name: "← Newer" }).click();
    await page.getByRole("button", { name: "← Newer" }).click();
    await page.getByRole("button", { name: "← Newer" }).click();
    await page.getByRole("button", { name: "← Newer" }).click();
    await until(
      "the first page again",
      async () => ((await firstRun()) === first ? true : undefined),
      20_000,
    );
    assert.equal(await page.getByRole("button", { name: "← Newer" }).isDisabled(), true);

    // the API: first page and a page 50,000 runs deep, by cursor
    const apiFirst = performance.now();
    await server.api("GET", "/api/runs?limit=50");
    const firstMs = performance.now() - apiFirst;
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      cursor = (
        await server.api<{ next?: string }>("GET", `/api/runs?limit=500${cursor ? `&cursor=${cursor}` : ""}`)
      ).next;
    }
    const apiDeep = performance.now();
    const deep = await server.api<{ items: RunJson[] }>("GET", `/api/runs?limit=50&cursor=${cursor}`);
    const deepMs = performance.now() - apiDeep;
    assert.equal(deep.items.length, 50);
    figure(
      `a page of the run list with ${HISTORY.toLocaleString("en")} runs`,
      `${pageTimes.map((x) => Math.round(x)).join(", ")} ms in the browser (click to rows); API first page ${Math.round(firstMs)} ms, 50,000 deep ${Math.round(deepMs)} ms`,
      "none",
    );

    // filters go to the server: state and time together, then flow
    await page.getByLabel("State").selectOption("Failed");
    await page.getByLabel("Created").selectOption("1h");
    await until(
      "only failed runs",
      async () =>
        (await rows.count()) > 0 &&
        (await page.locator('tbody tr[data-state]:not([data-state="Failed"])').count()) === 0
          ? true
          : undefined,
      20_000,
    );
    const failed = await server.api<{ items: RunJson[] }>(
      "GET",
      `/api/runs?state=Failed&since=${Date.now() - 3600_000}&limit=500`,
    );
    assert.ok(failed.items.length < 500, "the last hour holds a few of the 100,000");
    assert.equal(await rows.count(), Math.min(50, failed.items.length), "the server's answer, all of it");
    await browser.screenshot(page, "runs-filtered");
    await page.getByLabel("State").selectOption("");
    await page.getByLabel("Created").selectOption("");
    await page.getByLabel("Flow").fill("squares");
    await page.getByRole("button", { name: "Filter" }).click();
    await until(
      "only squares runs",
      async () => {
        const names = await page.locator("tbody tr[data-state] .flowname").allTextContents();
        return names.length > 0 && names.every((x) => x === "squares") ? true : undefined;
      },
      20_000,
    );
    await page.getByLabel("Flow").fill("");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("50 runs on this page").waitFor();
  });

  it("shows a failed task's error and its logs", async () => {
    const r = await flotilla(["run", FLOWS, "--flow", "failing"], env());
    assert.equal(r.code, 1, r.stderr);
    await page.goto(`${server.url}/`);
    await page.locator("tr", { hasText: "orders" }).getByRole("link").first().click();
    await page.getByRole("heading", { name: "orders" }).waitFor();
    const node = page.locator('.tasknode[data-slug="price_orders"]');
    await node.waitFor();
    assert.equal(await node.getAttribute("data-state"), "Failed");
    await node.click();
    const error = page.getByTestId("task-error");
    await error.waitFor();
    assert.match((await error.textContent()) ?? "", /price list is missing SKU 4711/);
    await page.locator(".taskpanel .loglines", { hasText: "pricing 3 orders" }).waitFor();
    // started by flotilla run, not from a deployment: no agent can start it again, and the button says why
    const retry = page.getByRole("button", { name: "Retry run" });
    assert.equal(await retry.isDisabled(), true);
    assert.match((await retry.getAttribute("title")) ?? "", /Only a deployment's run can be retried/);
    await browser.screenshot(page, "run-failed-task");

    await page.getByRole("tab", { name: "Logs" }).click();
    await page.locator(".loglines", { hasText: "fetched 3 orders" }).waitFor();
    await browser.screenshot(page, "run-logs");
  });

  it("shows a retried task's attempts, each with why it ended", async () => {
    const r = await flotilla(["run", FLOWS, "--flow", "flaky"], env());
    assert.equal(r.code, 0, r.stderr);
    await page.goto(`${server.url}/`);
    await page.locator("tr", { hasText: "payments" }).getByRole("link").first().click();
    const node = page.locator('.tasknode[data-slug="charge_card"][data-state="Success"]');
    await node.click();
    const attempts = page.getByTestId("attempts");
    await attempts.waitFor();
    assert.deepEqual(
      await attempts
        .locator("tbody tr")
        .evaluateAll((rows) =>
          rows.map((row) => [...row.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "")),
        )
        .then((rows) => rows.map(([n, state, , why]) => [n, state, why])),
      [
        ["1", "! Retrying", "Error: payment gateway timed out (attempt 1)"],
        ["2", "! Retrying", "Error: payment gateway timed out (attempt 2)"],
        ["3", "✓ Success", ""],
      ],
    );
    await browser.screenshot(page, "run-task-attempts");
  });

  it("draws a 10,000-way mapped task as one node whose counts follow the run live", async () => {
    const id = await reportedRun(server, "big-map", {
      tasks: [
        { slug: "numbers", upstream: [] },
        { slug: "square", mapped: true, upstream: ["numbers"] },
        { slug: "total", upstream: ["square"] },
      ],
      edges: [
        { upstream: "numbers", downstream: "square" },
        { upstream: "square", downstream: "total" },
      ],
    });
    const t = Date.now();
    const child = (i: number, state: string) => ({
      slug: "square",
      mapIndex: i,
      attempt: 1,
      state,
      startedAt: t - 5000 + (i % 100),
      ...(state === "Success" ? { endedAt: t - 4000 + (i % 500) } : {}),
      worker: `worker-${i % 4}`,
    });
    await server.api("POST", `/api/runs/${id}/report`, {
      taskRuns: [
        {
          slug: "numbers",
          mapIndex: -1,
          attempt: 1,
          state: "Success",
          startedAt: t - 6000,
          endedAt: t - 5500,
        },
        { slug: "square", mapIndex: -1, attempt: 1, state: "Mapped", startedAt: t - 5500 },
        ...Array.from({ length: 10_000 }, (_, i) =>
          child(i, i < 6000 ? "Success" : i < 6400 ? "Running" : "Pending"),
        ),
      ],
    });

    await page.goto(`${server.url}/runs/${id}`);
    const node = page.locator('.tasknode[data-slug="square"]');
    await node.getByText("[10,000]").waitFor();
    await node.getByText("6,000 Success").waitFor();
    const paint = (await page.evaluate(`(() => {
      const tr = performance.getEntriesByType("resource").find((e) => e.name.includes("/task-runs"));
      return {
        at: performance.getEntriesByName("flotilla:graph-painted")[0]?.startTime,
        taskRunsStart: tr?.startTime,
        taskRunsEnd: tr?.responseEnd,
        taskRunsKB: tr ? tr.encodedBodySize / 1024 : undefined,
      };
    })()`)) as { at: number; taskRunsStart: number; taskRunsEnd: number; taskRunsKB: number };
    figure(
      "first meaningful paint of a run with 10,000 mapped task runs",
      `${Math.round(paint.at)} ms (its 10,002 task runs in brief asked for at ${Math.round(paint.taskRunsStart)} ms, answered by ${Math.round(paint.taskRunsEnd)} ms, ${Math.round(paint.taskRunsKB)} KB)`,
      "≤ 1000 ms",
    );
    assert.equal(await page.locator(".tasknode").count(), 3, "one node per task, not one per task run");
    await browser.screenshot(page, "run-mapped-graph");

    // The run goes on: 2,000 more children finish; the node's counts follow without a reload, from
    // the changed task runs the event stream carries (no request for the run's 10,000 task runs).
    // The page notes when the text appears (same clock as this process), so the figure is the
    // time from the server having the change to the user seeing it.
    await page.evaluate(`(() => {
      const el = document.querySelector('.tasknode[data-slug="square"]');
      window.__shownAt = undefined;
      const seen = () => el.textContent.includes("8,000 Success");
      new MutationObserver((_, o) => { if (seen()) { window.__shownAt = Date.now(); o.disconnect(); } })
        .observe(el, { subtree: true, childList: true, characterData: true });
    })()`);
    const fetchesBefore = browser.requests.filter((u) => u.includes(`/runs/${id}/task-runs`)).length;
    const sent = Date.now();
    await server.api("POST", `/api/runs/${id}/report`, {
      taskRuns: Array.from({ length: 2000 }, (_, i) => child(6000 + i, "Success")),
    });
    const changed = Date.now(); // the server has it from here on
    await node.getByText("8,000 Success").waitFor();
    await page.getByTestId("tasks-done").getByText("8,001 / 10,002 done").waitFor();
    const shownAt = Number(await page.evaluate("window.__shownAt"));
    figure(
      "state change shown after it happened",
      `${shownAt - changed} ms after the server had it (${shownAt - sent} ms after the report was sent)`,
      "≤ 1000 ms",
    );
    assert.equal(
      browser.requests.filter((u) => u.includes(`/runs/${id}/task-runs`)).length,
      fetchesBefore,
      "the change came with the event, not by fetching every task run again",
    );

    // The page painted from the task runs in brief; the opened task fetches its children a page at
    // a time and lists them not-done first (no child failed or runs: the 2,000 Pending ones, then
    // Success), drawing only the rows in view; scrolling its list to the end brings the rest.
    await node.click();
    await page.locator(".taskpanel").getByText("Mapped over").waitFor();
    await page
      .locator(".taskpanel tbody tr[data-index]")
      .first()
      .and(page.locator('[data-index="8000"]'))
      .waitFor();
    const pages = () => browser.requests.filter((u) => u.includes(`/runs/${id}/task-runs?slug=square`));
    assert.ok(pages().length >= 1, "the opened task's children were fetched");
    assert.ok(
      pages().every((u) => /[?&]limit=\d+/.test(u)),
      `each fetch asks for a page: ${pages().join(", ")}`,
    );
    const drawn = await page.locator(".taskpanel tbody tr[data-index]").count();
    assert.ok(drawn < 200, `only the rows near the view are drawn (${drawn} of 10,000)`);
    await browser.screenshot(page, "run-mapped-task-panel");
    const childList = page.locator(".taskpanel .childlist");
    const lastRow = page.locator('.taskpanel tbody tr[data-index="7999"]');
    for (let k = 0; k < 200 && (await lastRow.count()) === 0; k++) {
      // scrolled to the end, then awaited: the rows its pages brought grow (a page came) or the last
      // is drawn
      const rows = Number(await childList.getAttribute("data-paged"));
      await childList.evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await page
        .locator(`.taskpanel .childlist:not([data-paged="${rows}"]), .taskpanel tbody tr[data-index="7999"]`)
        .first()
        .waitFor();
    }
    await lastRow.waitFor();
    assert.equal(await page.locator(".taskpanel").getByTestId("children-loaded").count(), 0, "all loaded");
    const fetched = (await page.evaluate(`performance.getEntriesByType("resource")
      .filter((e) => e.name.includes("task-runs?slug=square"))
      .map((e) => e.encodedBodySize)`)) as number[];
    figure(
      "an opened 10,000-way mapped task's children",
      `first page ${Math.round((fetched[0] ?? 0) / 1024)} KB; all 10,000 after scrolling to the end: ${fetched.length} pages, ${Math.round(fetched.reduce((a, b) => a + b, 0) / 1024)} KB`,
      "a page at a time",
    );
    await page.getByRole("tab", { name: "Timeline" }).click();
    await page.locator(".gantt canvas").waitFor();
    // a worker's busy time is the time it ran something (not the sum over its 2,000 task runs),
    // and Pending task runs are not drawn as running
    const lane = page.locator(".lanes tbody tr").filter({ hasText: "worker-0" });
    await lane.getByText("2,000", { exact: true }).waitFor();
    assert.match((await lane.locator("td").nth(2).textContent()) ?? "", /^[\d.]+ m?s$/);
    await browser.screenshot(page, "run-timeline");
  });

  it("shows the cluster panel of a LocalCluster that scaled 1 → 4 → 1, with each decision's reason", async () => {
    const hold = path.join(home, `hold-${randomUUID()}`);
    const release = path.join(home, `release-${randomUUID()}`);
    const run = startFlotilla(
      [
        "run",
        FLOWS,
        "--flow",
        "burst",
        "--workers",
        "1:4",
        "--concurrency",
        "1",
        "--param",
        `hold="${hold}"`,
        "--param",
        `release="${release}"`,
      ],
      env(),
    );
    try {
      const id = await until("the burst run on the server", async () => {
        const page1 = await server.api<{ items: RunJson[] }>("GET", "/api/runs?flow=burst&limit=1");
        return page1.items[0]?.id;
      });
      const counts = () =>
        server
          .api<{ samples: { count: number }[] }>("GET", `/api/runs/${id}/cluster`)
          .then((c) => c.samples.map((s) => s.count));
      await until("4 workers", async () => ((await counts()).includes(4) ? true : undefined), 120_000);
      await writeFile(hold, "go");
      await until(
        "the cluster back at 1 worker",
        async () => {
          const c = await counts();
          return c.lastIndexOf(1) > c.indexOf(4) ? true : undefined;
        },
        120_000,
      );
      await writeFile(release, "go");
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);

      await page.goto(`${server.url}/runs/${id}?tab=cluster`);
      await page.getByTestId("workers-peak").getByText("4").waitFor();
      const decisions = page.locator("table.decisions tbody tr");
      await decisions.first().waitFor();
      assert.ok((await decisions.count()) >= 2, "a decision up and one down");
      await page.locator(".plot canvas").first().waitFor();
      await browser.screenshot(page, "run-cluster");
      await page.getByRole("tab", { name: "Timeline" }).click();
      await page.locator(".gantt canvas").waitFor();
      assert.ok((await page.locator("table.lanes tbody tr").count()) >= 2, "task runs on several workers");
      await browser.screenshot(page, "run-cluster-timeline");
    } finally {
      await writeFile(hold, "go").catch(() => {});
      await writeFile(release, "go").catch(() => {});
      await stopChild(run.child);
    }
  });

  it("cancels a run from its page after asking", async () => {
    const release = path.join(home, `release-${randomUUID()}`);
    const run = startFlotilla(["run", FLOWS, "--flow", "waiting", "--param", `release="${release}"`], env());
    try {
      const id = await until("the waiting run on the server", async () => {
        const p = await server.api<{ items: RunJson[] }>("GET", "/api/runs?flow=waiting&limit=1");
        return p.items[0]?.state === "Running" ? p.items[0].id : undefined;
      });
      await page.goto(`${server.url}/runs/${id}`);
      await page.getByRole("button", { name: "Cancel run" }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByText("stops").waitFor();
      await browser.screenshot(page, "run-cancel-confirm");
      await dialog.getByRole("button", { name: "Cancel the run" }).click();
      await page.locator(".runtitle .badge", { hasText: /Cancell(ing|ed)/ }).waitFor();
      const state = (await server.api<RunJson>("GET", `/api/runs/${id}`)).state;
      assert.match(state, /^Cancell(ing|ed)$/);
      await browser.screenshot(page, "run-cancelled");
    } finally {
      await writeFile(release, "go").catch(() => {});
      await stopChild(run.child);
    }
  });

  it("starts a deployment from a form made from its parameters, and pauses and resumes its schedule", async () => {
    const d = await flotilla(
      [
        ...["deploy", FLOWS, "--flow", "squares", "--name", "nightly-squares"],
        ...["--schedule", "0 3 * * *", "--timezone", "UTC"],
      ],
      env(),
    );
    assert.equal(d.code, 0, d.stderr);
    await page.goto(`${server.url}/deployments`);
    const card = page.locator('[data-deployment="nightly-squares"]');
    await card.getByText("cron 0 3 * * *").waitFor();
    await card.getByText("✓ Active").waitFor();
    await card.getByText(/next: .*3:00/).waitFor();
    await browser.screenshot(page, "deployments");
    await card.getByRole("button", { name: "Pause" }).click();
    await card.getByText("– Paused").waitFor();
    await card.getByRole("button", { name: "Resume" }).click();
    await card.getByText("✓ Active").waitFor();

    await card.getByRole("button", { name: "Run nightly-squares" }).click();
    const dialog = page.getByRole("dialog");
    const n = dialog.getByLabel(/^n/);
    await n.waitFor();
    assert.equal(await n.inputValue(), "20", "the field shows the flow's default");
    await n.fill("7");
    await browser.screenshot(page, "deployment-run-form");
    await dialog.getByRole("button", { name: "Start the run" }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop() ?? "");
    const run = await server.api<RunJson & { parameters: Record<string, unknown> }>("GET", `/api/runs/${id}`);
    assert.equal(run.parameters.n, 7, "the form's value reaches the run as a number");
    await page.locator(".runtitle .badge").waitFor();
    await browser.screenshot(page, "deployment-run");
  });

  it("retries a failed deployment run from its page", async () => {
    const d = await flotilla(["deploy", FLOWS, "--flow", "failing", "--name", "failing-orders"], env());
    assert.equal(d.code, 0, d.stderr);
    const started = await server.api<RunJson>("POST", "/api/deployments/failing-orders/runs", {
      parameters: {},
    });
    const failed = await until(
      "the deployment run failed",
      async () => {
        const r = await server.api<RunJson>("GET", `/api/runs/${started.id}`);
        return ["Failed", "Crashed"].includes(r.state) ? r : undefined;
      },
      120_000,
    );
    assert.equal(failed.state, "Failed");
    await page.goto(`${server.url}/runs/${started.id}`);
    const retry = page.getByRole("button", { name: "Retry run" });
    await retry.waitFor();
    assert.equal(await retry.isDisabled(), false, "a failed deployment run can be retried");
    assert.equal(
      await page.getByRole("button", { name: "Cancel run" }).getAttribute("title"),
      "The run has ended (Failed).",
    );
    await retry.click();
    await page.getByRole("dialog").getByRole("button", { name: "Start a new run" }).click();
    await page.waitForURL((u) => !u.pathname.endsWith(started.id));
    await page.getByText("Retry of").waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop() ?? "");
    const again = await server.api<RunJson & { retryOf?: string }>("GET", `/api/runs/${id}`);
    assert.equal(again.retryOf, started.id);
    await browser.screenshot(page, "run-retried");
  });

  it("lists the agents with their pool and when they were last seen", async () => {
    await page.goto(`${server.url}/agents`);
    await page.getByRole("heading", { name: "Agents" }).waitFor();
    await page.locator("tr[data-agent], td.empty").first().waitFor();
    await browser.screenshot(page, "agents");
  });

  it("an unknown run is a 404 page with a link back", async () => {
    await page.goto(`${server.url}/runs/no-such-run-0000`);
    await page.getByRole("heading", { name: "No such run" }).waitFor();
    await browser.screenshot(page, "not-found");
    await page.getByRole("link", { name: /Back to all runs/ }).click();
    await page.getByRole("heading", { name: "Runs" }).waitFor();
  });

  it("shows 'reconnecting' while the server is away and recovers by itself", async () => {
    await page.goto(`${server.url}/`);
    await page.getByRole("heading", { name: "Runs" }).waitFor();
    const port = server.port;
    await server.stop();
    await page.getByTestId("reconnecting").waitFor({ timeout: 30_000 });
    await browser.screenshot(page, "reconnecting");
    server = await startServerProcess(home, port);
    await page.getByTestId("reconnecting").waitFor({ state: "detached", timeout: 30_000 });
    await page.locator("tr[data-state]").first().waitFor();
  });

  it("is readable on a narrow screen", async () => {
    const narrow = await browser.context.newPage();
    try {
      await narrow.setViewportSize({ width: 390, height: 844 });
      await narrow.goto(`${server.url}/`);
      await narrow.locator("tr[data-state]").first().waitFor();
      // every run's state, flow, id, start, duration, tasks and workers fit: nothing scrolls sideways
      const overflow = await narrow.evaluate(`(() => {
        const wrap = document.querySelector(".tablewrap");
        return { page: document.documentElement.scrollWidth, table: wrap.scrollWidth - wrap.clientWidth };
      })()`);
      assert.deepEqual(overflow, { page: 390, table: 0 });
      await browser.screenshot(narrow, "runs-narrow");
      await narrow.screenshot({ path: path.join(ARTIFACTS, "runs-narrow-view.png") }); // what a phone shows first
      // a failed orders run (the newest orders run may be the retry still under way)
      await narrow
        .locator('tr[data-state="Failed"]', { hasText: "orders" })
        .getByRole("link")
        .first()
        .click();
      const node = narrow.locator('.tasknode[data-slug="price_orders"][data-state="Failed"]');
      await node.waitFor();
      // the graph takes the screen's width and its nodes are in view
      const box = await narrow.locator(".dag").boundingBox();
      assert.ok(box && box.width > 300, `the graph is ${box?.width} px wide`);
      const nodeBox = await node.boundingBox();
      assert.ok(
        nodeBox && nodeBox.x >= box.x && nodeBox.x + nodeBox.width <= box.x + box.width + 1,
        "the failed task is in view",
      );
      await browser.screenshot(narrow, "run-narrow-graph");
      // By keyboard: the node is a button.
      await node.focus();
      await narrow.keyboard.press("Enter");
      await narrow.getByTestId("task-error").waitFor();
      await browser.screenshot(narrow, "run-narrow");
    } finally {
      await narrow.close();
    }
  });

  it("made no request that leaves the machine, and prints the assets' size", async () => {
    const origin = new URL(server.url).origin;
    const outside = browser.requests.filter((u) => !u.startsWith(origin) && !/^(data|blob):/.test(u));
    assert.deepEqual(outside, []);
    const size = builtSize();
    figure(
      "built assets",
      `${(size.gzip / 1024).toFixed(0)} KB gzipped (${(size.raw / 1024).toFixed(0)} KB raw, ${size.files} files)`,
      "≤ 500 KB gzipped",
    );
  });
});
