/**
 * The trace viewer in a real browser: headless Chromium (Debian's package) driven by playwright-core, launched
 * once for the file. `rlm trace html` on the trace of a real RLM run, opened from disk; `rlm trace view` on a
 * growing file. Skipped, with a message, where no Chromium is installed.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findChromium } from "../../../test/chromium.ts";
import { runRlmHere, startRlm, until } from "../../../test/rlm-process.ts";
import { HOSTILE_TEXT, recordRlmRun } from "../../../test/trace-samples.ts";
import type { RunEvent } from "../../engine/run-events.ts";

const chromium = findChromium();
if (chromium === undefined) {
  console.warn(
    "viewer-browser.test.ts skipped: no Chromium found (install Debian's chromium package, or set CHROMIUM_PATH)",
  );
}
const ARTIFACTS = fileURLToPath(new URL("../../../test-artifacts/", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "rlmkit-viewer-"));
const lines = (events: RunEvent[]) => events.map((event) => `${JSON.stringify(event)}\n`).join("");

describe.skipIf(chromium === undefined)("the trace viewer in Chromium", () => {
  let browser: Browser;
  let events: RunEvent[];
  beforeAll(async () => {
    const { chromium: driver } = await import("playwright-core");
    [browser, events] = await Promise.all([driver.launch({ executablePath: chromium }), recordRlmRun()]);
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(root, { recursive: true, force: true });
  });

  async function open(url: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    await page.goto(url);
    await page.waitForFunction(() => "__traceViewer" in globalThis);
    return { page, errors };
  }

  const row = (page: Page, label: string) =>
    page.locator(".row", { has: page.locator(".label", { hasText: label }) });

  it("rlm trace html writes a page that opens from disk: tree, details, search, answer path, errors", async () => {
    const trace = join(root, "run.jsonl");
    writeFileSync(trace, lines(events));
    const outcome = await runRlmHere(["trace", "html", trace], root);
    expect(outcome.stderr).toContain(`wrote ${join(root, "run.html")}`);
    expect(outcome.code).toBe(0);
    const { page, errors } = await open(pathToFileURL(join(root, "run.html")).href);

    // The root run is open; its iterations are rows, the second (it answered) on the answer path.
    await expect.poll(() => row(page, "iteration 2").getAttribute("class")).toContain("path");
    expect(await row(page, "iteration 1").getAttribute("class")).not.toContain(" path");
    expect(await page.locator("#models").textContent()).toMatch(/scripted:root.*scripted:sub/);
    expect(await page.locator("#answer").textContent()).toContain("code 7781 and summary of alpha");

    // Open iteration 1, select its first cell: the code and output show as text, the hostile markup inert.
    await row(page, "iteration 1").locator(".toggle").click();
    await row(page, "cell 1").first().click();
    const details = page.locator("#details");
    expect(await details.locator("h2").textContent()).toBe("cell 1");
    const [code, output] = await details.locator("pre").allTextContents();
    expect(code).toContain('await lookup_price({ sku: "A-1" })');
    expect(output).toContain(HOSTILE_TEXT);
    expect(output).toContain("price");
    await expect.poll(() => row(page, "cell 2").getAttribute("class")).toContain("status-error");
    expect(await row(page, "cell 2").locator(".mark").textContent()).toContain("error");

    // The tool call made by cell 1 is a node under it.
    await row(page, "cell 1").first().locator(".toggle").click();
    await row(page, "tool lookup_price").click();
    expect(await details.textContent()).toContain('{"sku":"A-1"}');

    // Search: the count, Enter goes to a match and marks the term in its text.
    await page.locator("#search").fill("boom in cell");
    await expect.poll(() => page.locator("#search-count").textContent()).toBe("2 matches");
    await page.locator("#search").press("Enter");
    expect(await page.locator("#search-count").textContent()).toBe("1 of 2");
    expect(await details.locator("mark").first().textContent()).toBe("boom in cell");

    // The timeline drew the parallel sub-calls in lanes of their own.
    expect(await page.locator("#timeline-note").textContent()).toMatch(/\d+ calls in [3-9] lanes/);

    // Nothing of the trace ran: no flag set, no element made from its markup, no error.
    expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(await page.locator("img").count()).toBe(0);
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "trace-viewer.png"), fullPage: true });
    await page.close();
  });

  it("a hostile trace (every field markup, a hostile file name, runs 3,000 deep) stays text; the policy blocks the rest", async () => {
    const trace = join(root, '"><img src=x onerror="window.__pwned=9">.jsonl');
    writeFileSync(trace, lines(hostileTrace(3_000)));
    const outcome = await runRlmHere(["trace", "html", trace, "-o", join(root, "hostile.html")], root);
    expect(outcome.code, outcome.stderr).toBe(0);
    const { page, errors } = await open(pathToFileURL(join(root, "hostile.html")).href);
    expect(await page.title()).toContain('"><img src=x');
    // The answer path opens 3,000 levels: the tree nests 64 of them, then shows a deeper part from its top.
    await page.locator("#path-button").click();
    await expect.poll(() => page.locator("#tree").textContent()).toMatch(/deeper: show the tree from here/);
    expect(await page.locator(".row").count()).toBeLessThan(400);
    await page.locator("#tree button.more", { hasText: "deeper" }).first().click();
    await expect
      .poll(() => page.locator("#tree").textContent())
      .toMatch(/levels above: show the tree from the top/);
    await page.locator(".row").last().click();
    expect(await page.locator("#details .crumbs").textContent()).toMatch(/… [\d,]+ levels/);
    await page.locator("#search").fill("window.__pwned");
    await expect.poll(() => page.locator("#search-count").textContent()).toMatch(/matches/);
    await page.locator("#search").press("Enter");
    expect(await page.locator("#details").textContent()).toContain(HOSTILE_TEXT);
    expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(await page.locator("img, iframe, object, embed").count()).toBe(0);
    expect(errors).toEqual([]);

    // Were markup ever to reach the page, the policy would still stop it: no inline handler or script, no network.
    // (A string: this file is type-checked without the DOM's types.)
    const blocked = await page.evaluate(`(async () => {
      const image = document.createElement("img");
      image.setAttribute("onerror", "window.__pwned = 'handler'");
      const failed = new Promise((resolve) => image.addEventListener("error", () => resolve(true)));
      image.src = "http://127.0.0.1:9/x.png";
      document.body.append(image);
      const script = document.createElement("script");
      script.textContent = "window.__pwned = 'inline script'";
      document.body.append(script);
      const fetched = await fetch("http://127.0.0.1:9/").then(() => true, () => false);
      const imageFailed = await failed;
      image.remove();
      script.remove();
      return { pwned: window.__pwned, imageFailed, fetched };
    })()`);
    expect(blocked).toEqual({ pwned: undefined, imageFailed: true, fetched: false });
    await page.close();
  });

  it("rlm trace view serves the page on 127.0.0.1 and shows events appended while it watches", async () => {
    const trace = join(root, "live.jsonl");
    const split = events.findIndex((event) => event.type === "run-end" && event.depth === 0);
    writeFileSync(trace, lines(events.slice(0, split)));
    const viewer = startRlm(["trace", "view", trace, "--port", "0"]);
    try {
      // The address holds a secret path (other users of the machine reach 127.0.0.1 too).
      const address = /http:\/\/127\.0\.0\.1:\d+\/[\w-]+\//;
      await until(() => address.test(viewer.stdout()) || viewer.child.exitCode !== null);
      const url = address.exec(viewer.stdout())?.[0] as string;
      expect(url, viewer.stderr()).toBeDefined();
      expect(await statusWithHost(url, "attacker.example")).toBe(403);

      const { page, errors } = await open(url);
      await expect.poll(() => page.locator("#live").textContent()).toContain("live");
      expect(await row(page, "run").first().locator(".mark").textContent()).toContain("running");

      // The run's end, then a second run written in two pieces (the first ends mid-line).
      const second: RunEvent = {
        type: "run-start",
        at: Date.now(),
        runId: "appended-run",
        depth: 0,
        query: "a question appended while watching",
        model: "scripted:late",
        subModel: "scripted:late",
        contextChars: 1,
      };
      // A mark on the page: still there after the updates, so they were applied in place, not by a reload.
      await page.evaluate(() => Object.assign(globalThis, { __sameDocument: true }));
      appendFileSync(trace, lines(events.slice(split)));
      const text = JSON.stringify(second);
      appendFileSync(trace, text.slice(0, 40));
      await expect
        .poll(() => page.locator("#answer").textContent())
        .toContain("code 7781 and summary of alpha");
      appendFileSync(trace, `${text.slice(40)}\n`);
      await expect
        .poll(() => page.locator(".row .line", { hasText: "a question appended while watching" }).count())
        .toBe(1);
      expect(await page.evaluate(() => (globalThis as { __sameDocument?: boolean }).__sameDocument)).toBe(
        true,
      );
      expect(errors).toEqual([]);
      await page.close();

      viewer.child.kill("SIGINT");
      expect(await viewer.exited).toBe(0);
    } finally {
      if (viewer.child.exitCode === null) viewer.child.kill("SIGKILL");
    }
  });
});

/**
 * A trace whose every text field is hostile markup (every event type), with child runs nested 3,000 deep on the
 * answer path (found by an attack review: the page overflowed its stack, then its layout crashed the tab).
 */
function hostileTrace(depth: number): RunEvent[] {
  const hostile = `${HOSTILE_TEXT}<!-- <![CDATA[ \u2028\u2029 ]]> --><style>*{display:none}</style>`;
  const usage = { inputTokens: 1, outputTokens: 1, cachedInputTokens: 0, costUsd: null };
  const events: Array<Record<string, unknown>> = [];
  // Hostile text in every field of the top and the bottom runs; the runs between are plain (a smaller file).
  const textAt = (level: number) => (level < 2 || level === depth - 1 ? hostile : "x");
  const runId = (level: number) => `${textAt(level)}${level}`;
  for (let level = 0; level < depth; level++) {
    const text = textAt(level);
    const parent = level === 0 ? {} : { parentRunId: runId(level - 1), parentCallId: `c${level - 1}` };
    const base = { runId: runId(level), at: 1000 + level, depth: level, ...parent };
    events.push({ ...base, type: "run-start", query: text, model: text, subModel: text, contextChars: 1 });
    events.push({ ...base, type: "iteration-start", iteration: 1 });
    if (text === hostile) {
      events.push({ ...base, type: "memory", action: text, ids: [text], query: text, error: text });
      events.push({ ...base, type: "tool-start", callId: "t", tool: text, args: text });
      events.push({
        ...base,
        type: "tool-end",
        callId: "t",
        tool: text,
        ok: false,
        latencyMs: 1,
        error: text,
      });
    }
    const call = { callId: `c${level}`, kind: "rlm_query", model: text, promptChars: 1, prompt: text };
    events.push({ ...base, type: "subcall-start", ...call });
  }
  for (let level = depth - 1; level >= 0; level--) {
    const text = textAt(level);
    const base = { runId: runId(level), at: 5000 + depth - level, depth: level };
    const call = { callId: `c${level}`, kind: "rlm_query", model: text, promptChars: 1, usage, latencyMs: 1 };
    events.push({ ...base, type: "subcall-end", ...call, ok: true, response: text });
    const cells = [{ code: `FINAL(${JSON.stringify(text)})`, output: text, error: text, durationMs: 1 }];
    events.push({
      ...base,
      type: "iteration-end",
      iteration: 1,
      reply: text,
      usage,
      cells,
      durationMs: 3,
      modelLatencyMs: 1,
    });
    if (text === hostile) {
      events.push({
        ...base,
        type: "verification",
        status: text,
        evidence: text,
        usage: { ...usage, calls: 1 },
      });
      events.push({ ...base, type: "compaction", iteration: 1, charsBefore: 2, charsAfter: 1 });
    }
    events.push({
      ...base,
      type: "run-end",
      status: text,
      iterations: 1,
      durationMs: 1,
      answer: text,
      error: text,
    });
  }
  return events as unknown as RunEvent[];
}

/** The status of GET / sent with another Host header (a page elsewhere reaching the viewer by DNS rebinding). */
function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sent = request(url, { headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    sent.on("error", reject);
    sent.end();
  });
}
