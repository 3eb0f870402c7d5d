// The dashboard's panels in a real browser (Debian's Chromium through playwright-core) against a
// real `flotilla server` with a temp home, fed through the reporting API a runner uses: the task
// panel's children table fits its panel at 1280×800 and on a phone, with every column in view; the
// Logs view tells the run's Kubernetes pod events from the flow's own lines and filters by source;
// its Download logs link (and the task panel's) saves the lines as a file, the admin token scrubbed.
// Screenshots go to test-artifacts/ (gitignored). Figures are printed, never asserted.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { ARTIFACTS, type Browser } from "./helpers/browser.ts";
import { dashboardSession } from "./helpers/dashboard-session.ts";
import { type ServerProcess, until } from "./helpers/flotilla-server.ts";

/** A Kubernetes worker pod's name: as long as the ones a user sees. */
const LONG_WORKER = "flotilla-worker-4f9c2d7e-nightly-etl-transform-7d9f8b6c5-xk2p9";

/** A running run of `numbers → square (mapped over n) → total`, recorded as a runner records one. */
async function mappedRun(server: ServerProcess, n: number): Promise<string> {
  const id = randomUUID();
  await server.api("POST", "/api/runs", {
    id,
    flow: {
      name: "panel-map",
      fingerprint: "fp-panel-map",
      dag: {
        tasks: [
          { slug: "numbers", upstream: [] },
          { slug: "square", mapped: true, upstream: ["numbers"] },
          { slug: "total", upstream: ["square"] },
        ],
        edges: [
          { upstream: "numbers", downstream: "square" },
          { upstream: "square", downstream: "total" },
        ],
      },
      parameterSchema: [],
    },
    parameters: {},
    state: "Running",
  });
  const t = Date.now();
  await server.api("POST", `/api/runs/${id}/report`, {
    taskRuns: [
      { slug: "numbers", mapIndex: -1, attempt: 1, state: "Success", startedAt: t - 6000, endedAt: t - 5500 },
      { slug: "square", mapIndex: -1, attempt: 1, state: "Mapped", startedAt: t - 5500 },
      ...Array.from({ length: n }, (_, i) => ({
        slug: "square",
        mapIndex: i,
        attempt: i % 7 === 0 ? 2 : 1,
        state: i % 5 === 0 ? "Failed" : "Success",
        startedAt: t - 5000 + i,
        endedAt: t - 4000 + i * 3,
        worker: `${LONG_WORKER}-${i % 3}`,
        ...(i % 5 === 0 ? { message: "boom", error: { name: "Error", message: `bad input ${i}` } } : {}),
      })),
    ],
  });
  return id;
}

/** Asserts that every header and the first row's cells of the children table lie inside the panel. */
async function childrenTableFits(page: Page, what: string): Promise<void> {
  const panel = await page.locator(".taskpanel").boundingBox();
  assert.ok(panel, "the task panel is drawn");
  const headers = page.locator(".taskpanel table.children thead th");
  const names = await headers.allTextContents();
  assert.deepEqual(names, ["Index", "State", "Try", "Took", "Worker"]);
  const cells = page.locator(".taskpanel table.children tbody tr").first().locator("td");
  for (const [kind, list] of [
    ["header", headers],
    ["cell", cells],
  ] as const) {
    for (let i = 0; i < (await list.count()); i++) {
      const box = await list.nth(i).boundingBox();
      assert.ok(box, `${what}: ${kind} ${names[i]} is drawn`);
      assert.ok(
        box.x >= panel.x - 0.5 && box.x + box.width <= panel.x + panel.width + 0.5,
        `${what}: the ${kind} ${names[i]} (x ${box.x}-${box.x + box.width}) lies within the panel (x ${panel.x}-${panel.x + panel.width})`,
      );
    }
  }
  // No header is cut short: each header's text, measured whole in its own font (an ellipsis hides
  // how much is cut), fits the room it has; every state badge shows whole.
  const cut = (await page.evaluate(`(() => {
    const cutHeaders = [...document.querySelectorAll(".taskpanel table.children thead th")].filter((th) => {
      const style = getComputedStyle(th);
      const probe = document.createElement("span");
      probe.textContent = th.textContent;
      for (const p of ["font", "letterSpacing", "textTransform"]) probe.style[p] = style[p];
      probe.style.whiteSpace = "nowrap";
      probe.style.position = "absolute";
      document.body.append(probe);
      const width = probe.getBoundingClientRect().width;
      probe.remove();
      const room = th.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      return width > room + 0.01;
    });
    const cutBadges = [...document.querySelectorAll(".taskpanel table.children tbody td .badge")].filter(
      (b) => b.getBoundingClientRect().right > b.closest("td").getBoundingClientRect().right,
    );
    return { headers: cutHeaders.map((e) => e.textContent), badges: cutBadges.map((e) => e.textContent) };
  })()`)) as { headers: string[]; badges: string[] };
  assert.deepEqual(cut, { headers: [], badges: [] }, `${what}: cut short`);
  // Nothing scrolls sideways: the table is as wide as its box.
  const overflow = await page.evaluate(`(() => {
    const wrap = document.querySelector(".taskpanel table.children").parentElement;
    const panel = document.querySelector(".taskpanel");
    return { wrap: wrap.scrollWidth - wrap.clientWidth, panel: panel.scrollWidth - panel.clientWidth };
  })()`);
  assert.deepEqual(overflow, { wrap: 0, panel: 0 }, `${what}: nothing in the panel scrolls sideways`);
  // A worker name cut short says what it is in full on hover.
  const worker = cells.nth(4);
  assert.equal(await worker.getAttribute("title"), `${LONG_WORKER}-0`);
}

describe("dashboard panels", { timeout: 300_000 }, () => {
  const session = dashboardSession("flotilla-dashboard-panels-");
  let server: ServerProcess;
  let browser: Browser;
  before(() => {
    ({ server, browser } = session);
  });

  it("the task panel's children table shows every column, Worker included, at 1280×800 and on a phone", async () => {
    const id = await mappedRun(server, 250);
    const page = browser.page;
    await page.goto(`${server.url}/runs/${id}`);
    await page.locator('.tasknode[data-slug="square"]').click();
    await page.locator(".taskpanel table.children tbody tr").first().waitFor();
    await browser.screenshot(page, "task-panel-children");
    await childrenTableFits(page, "1280×800");

    const narrow = await browser.context.newPage();
    try {
      await narrow.setViewportSize({ width: 390, height: 844 });
      await narrow.goto(`${server.url}/runs/${id}`);
      await narrow.locator('.tasknode[data-slug="square"]').click();
      await narrow.locator(".taskpanel table.children tbody tr").first().waitFor();
      await browser.screenshot(narrow, "task-panel-children-narrow");
      await narrow
        .locator(".taskpanel table.children")
        .screenshot({ path: path.join(ARTIFACTS, "task-panel-children-narrow-table.png") });
      await childrenTableFits(narrow, "390×844");
      assert.equal(await narrow.evaluate("document.documentElement.scrollWidth"), 390);
    } finally {
      await narrow.close();
    }
  });

  it("shows the run's Kubernetes pod events in its logs with a source badge, and filters by source", async () => {
    const id = await mappedRun(server, 3);
    const t = Date.now() - 60_000;
    await server.api("POST", `/api/runs/${id}/report`, {
      logs: [
        { ts: t + 5000, level: "info", message: "fetched 3 rows", slug: "numbers", worker: "w1-abc" },
        { ts: t + 6000, level: "info", message: "squared 3", slug: "square", mapIndex: 0, worker: "w1-abc" },
      ],
    });
    // The Kubernetes agent reports the Events of the run's pods as log lines with source "k8s",
    // the object and the Event's reason (src/agent/kube-events.ts), after the flow's own lines.
    const pod = "pod/flotilla-run-1";
    await server.api("POST", `/api/runs/${id}/report`, {
      logs: [
        {
          ts: t + 1000,
          level: "info",
          message: "Scheduled: Successfully assigned flotilla/flotilla-run-1 to node-1",
          source: "k8s",
          object: pod,
          reason: "Scheduled",
        },
        {
          ts: t + 2000,
          level: "warn",
          message: 'Failed: Failed to pull image "registry.example/etl:missing": not found',
          source: "k8s",
          object: pod,
          reason: "Failed",
        },
        {
          ts: t + 3000,
          level: "warn",
          message: 'BackOff: Back-off pulling image "registry.example/etl:missing"',
          source: "k8s",
          object: pod,
          reason: "BackOff",
        },
      ],
    });
    const page = browser.page;
    await page.goto(`${server.url}/runs/${id}?tab=logs`);
    const lines = page.locator(".tabpanel .loglines .logline");
    await lines.filter({ hasText: "Failed to pull image" }).waitFor();
    assert.equal(await lines.count(), 5);
    // in time order, though the pod events were stored after the flow's lines
    assert.deepEqual(
      (await lines.locator(".msg").allTextContents()).map((m) => m.split(" ")[0]),
      ["Scheduled:", "Failed:", "BackOff:", "fetched", "squared"],
    );
    const kube = lines.filter({ has: page.locator(".src", { hasText: "Kubernetes" }) });
    assert.equal(await kube.count(), 3, "each pod event carries the Kubernetes badge");
    assert.equal(
      await lines.filter({ hasText: "fetched 3 rows" }).locator(".src").count(),
      0,
      "flow lines carry none",
    );
    await browser.screenshot(page, "run-logs-kubernetes");

    const source = page.locator(".tabpanel").getByLabel("Source");
    await source.selectOption("kubernetes");
    await until("only the pod events", async () => ((await lines.count()) === 3 ? true : undefined), 20_000);
    assert.deepEqual(
      (await lines.locator(".msg").allTextContents()).map((m) => m.split(":")[0]),
      ["Scheduled", "Failed", "BackOff"],
    );
    await browser.screenshot(page, "run-logs-kubernetes-only");
    await source.selectOption("flow");
    await until(
      "only the flow's lines",
      async () => ((await lines.count()) === 2 ? true : undefined),
      20_000,
    );
    assert.equal(await lines.filter({ hasText: "Failed to pull image" }).count(), 0);
  });

  it("downloads the run's logs and a task's logs as text files, the server's token scrubbed", async () => {
    const id = await mappedRun(server, 3);
    const t = Date.now() - 60_000;
    await server.api("POST", `/api/runs/${id}/report`, {
      logs: [
        { ts: t + 1000, level: "info", message: "fetched 3 rows", slug: "numbers", worker: "w1" },
        { ts: t + 2000, level: "warn", message: `token is ${server.token}`, slug: "square", mapIndex: 1 },
        { ts: t + 3000, level: "info", message: "squared 3", slug: "square", mapIndex: 2, worker: "w2" },
      ],
    });
    const page = browser.page;
    await page.goto(`${server.url}/runs/${id}?tab=logs`);
    await page.locator(".tabpanel .loglines .logline", { hasText: "squared 3" }).waitFor();
    assert.equal(
      await page.locator(".tabpanel .loglines .logline", { hasText: "token is [redacted]" }).count(),
      1,
      "the page shows the line without the token",
    );
    const read = async (link: ReturnType<Page["getByRole"]>) => {
      const [download] = await Promise.all([
        page.waitForEvent("download", { timeout: 20_000 }),
        link.click(),
      ]);
      const file = await download.path();
      return { name: download.suggestedFilename(), text: await readFile(file, "utf8") };
    };
    await browser.screenshot(page, "run-logs-download");
    const all = await read(page.locator(".tabpanel").getByRole("link", { name: "Download logs" }));
    process.stdout.write(
      `# dashboard: the run's log download ${all.name}:\n${all.text.trimEnd().replace(/^/gm, "#   ")}\n`,
    );
    assert.match(all.name, new RegExp(`^panel-map-${id.slice(0, 8)}\\.log$`));
    const lines = all.text.trimEnd().split("\n");
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO +\[numbers @w1\] fetched 3 rows$/);
    assert.match(lines[1]!, /WARN +\[square\[1\]\] token is \[redacted\]$/);
    assert.match(lines[2]!, /\[square\[2\] @w2\] squared 3$/);
    assert.ok(!all.text.includes(server.token), "the admin token is not in the file");

    // the task panel's link downloads that task's lines only
    await page.goto(`${server.url}/runs/${id}?task=square`);
    const task = await read(page.locator(".taskpanel").getByRole("link", { name: "Download logs" }));
    assert.match(task.name, new RegExp(`^panel-map-${id.slice(0, 8)}-square\\.log$`));
    assert.deepEqual(
      task.text
        .trimEnd()
        .split("\n")
        .map((l) => l.replace(/^\S+ +/, "")),
      ["WARN  [square[1]] token is [redacted]", "INFO  [square[2] @w2] squared 3"],
    );
  });
});
