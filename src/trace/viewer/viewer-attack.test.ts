/**
 * The trace viewer and `rlm trace show` against hostile traces and a hostile file system (an attack review):
 * fields of the wrong type, child runs nested thousands deep, answers built to make the answer path quadratic,
 * a trace swapped for a FIFO while it is watched, another local user guessing the live view's address, and the
 * page's Content-Security-Policy (a check that held already). Each other case failed before its fix: threw, took
 * 19 s (the answer path), or blocked the event loop for good (the FIFOs); timeouts here guard against a hang,
 * they are not speed claims.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlmHere } from "../../../test/rlm-process.ts";
import type { RunEvent } from "../../engine/run-events.ts";
import { renderTraceTree } from "../trace-tree.ts";
import { wellFormedEvents } from "./event-shape.ts";
import { readTraceForViewer } from "./read-trace.ts";
import { TraceFollower } from "./trace-follower.ts";
import { buildTraceModel } from "./trace-model.ts";
import { renderViewerPage } from "./viewer-page.ts";
import { startTraceViewer } from "./viewer-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-viewer-attack-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const lines = (events: unknown[]) => events.map((event) => `${JSON.stringify(event)}\n`).join("");
const usage = { inputTokens: 1, outputTokens: 1, costUsd: null };
const start = (runId: string, extra: object = {}) => ({
  type: "run-start",
  runId,
  at: 1000,
  depth: 0,
  query: "q",
  model: "m",
  subModel: "m",
  contextChars: 1,
  ...extra,
});

function mkfifo(path: string): boolean {
  try {
    execFileSync("mkfifo", [path]);
    return true;
  } catch {
    return false;
  }
}

/** Runs nested `depth` deep, each the child of its parent's rlm_query; every run ends `status`. */
function nestedRuns(depth: number, status = "completed"): RunEvent[] {
  const events: Array<Record<string, unknown>> = [];
  for (let level = 0; level < depth; level++) {
    const parent = level === 0 ? {} : { parentRunId: `r${level - 1}`, parentCallId: `c${level - 1}` };
    const base = { runId: `r${level}`, at: 1000 + level, depth: level, ...parent };
    events.push({ ...start(`r${level}`), ...base });
    events.push({ ...base, type: "iteration-start", iteration: 1 });
    events.push({
      ...base,
      type: "subcall-start",
      callId: `c${level}`,
      kind: "rlm_query",
      model: "m",
      promptChars: 1,
    });
  }
  for (let level = depth - 1; level >= 0; level--) {
    const base = { runId: `r${level}`, at: 3000 + depth - level, depth: level };
    events.push({
      ...base,
      type: "subcall-end",
      callId: `c${level}`,
      kind: "rlm_query",
      model: "m",
      promptChars: 1,
      ok: true,
      usage,
      latencyMs: 1,
    });
    const cells = [{ code: 'FINAL("the answer")', output: "", durationMs: 1 }];
    events.push({
      ...base,
      type: "iteration-end",
      iteration: 1,
      reply: "FINAL",
      usage,
      cells,
      durationMs: 5,
      modelLatencyMs: 1,
    });
    events.push({ ...base, type: "run-end", status, iterations: 1, durationMs: 1, answer: "the answer" });
  }
  return events as unknown as RunEvent[];
}

describe("hostile traces", () => {
  it("fields of the wrong type (optional ones too) are left out, never a thrown model or text tree", () => {
    const records = [
      start("r"),
      { type: "memory", runId: "r", at: 1001, depth: 0, action: "recall", ids: [], error: 5 },
      { type: "memory", runId: "r", at: 1001, depth: 0, action: "search", ids: [], query: { length: 9 } },
      {
        type: "subcall-end",
        runId: "r",
        at: 1002,
        depth: 0,
        callId: "s",
        kind: "rlm_query",
        model: "m",
        promptChars: 1,
        ok: true,
        usage,
        latencyMs: 1,
        childRunId: { length: 200_000 },
      },
      {
        type: "run-end",
        runId: "r",
        at: 1003,
        depth: 0,
        status: "failed",
        iterations: 0,
        durationMs: 1,
        error: [],
      },
      { type: "run-start", runId: "x", at: 1, depth: 0, query: 5, model: "m" },
    ];
    const warnings: string[] = [];
    const model = buildTraceModel(wellFormedEvents(records, (message) => warnings.push(message)));
    expect(model.nodes.map((node) => node.kind)).toEqual(["run"]);
    expect(warnings[0]).toMatch(/skipped 5 malformed events/);
    expect(() => renderTraceTree(records as unknown as RunEvent[])).not.toThrow();
  });

  it("child runs nested 5,000 deep: the model, the answer path and the text tree are built without recursion", () => {
    const events = nestedRuns(5_000, "failed");
    const model = buildTraceModel(events);
    // Every run failed: the root counts the 4,999 runs below it (and nothing else).
    expect(model.nodes[0]?.problemsBelow).toBe(4_999);
    expect(model.problemCount).toBe(5_000);
    const text = renderTraceTree(events);
    expect(text).toMatch(/child runs deeper than 64 levels, not shown/);
    expect(text.length).toBeLessThan(200_000);
    const completed = buildTraceModel(nestedRuns(5_000));
    // The answer path goes down the whole chain (each rlm_query was made in the answering iteration).
    expect(completed.nodes.at(-1)?.path).toBe(true);
  }, 20_000);

  it("a tool's subcallId cannot chain tools under tools", () => {
    const events: Array<Record<string, unknown>> = [start("r")];
    for (let index = 0; index < 3; index++) {
      events.push({
        type: "tool-start",
        runId: "r",
        at: 1001,
        depth: 0,
        callId: `t${index}`,
        tool: "x",
        args: "{}",
        ...(index > 0 ? { subcallId: `tool:t${index - 1}` } : {}),
      });
    }
    const model = buildTraceModel(events as unknown as RunEvent[]);
    expect(model.nodes.filter((node) => node.kind === "tool").map((node) => node.parent)).toEqual([0, 0, 0]);
  });

  it("a huge answer against many tool outputs: the word-for-word comparison has a budget", () => {
    const events: Array<Record<string, unknown>> = [start("r")];
    const at = { runId: "r", at: 1001, depth: 0 };
    for (let index = 0; index < 20_000; index++) {
      events.push({ ...at, type: "tool-start", callId: `t${index}`, tool: "x", args: "{}" });
      const output = index === 0 ? "quoted part" : `zzq${index}`;
      events.push({
        ...at,
        type: "tool-end",
        callId: `t${index}`,
        tool: "x",
        ok: true,
        latencyMs: 1,
        output,
      });
    }
    const answer = `${"a".repeat(20_000_000)} quoted part`;
    events.push({ ...at, type: "run-end", status: "completed", iterations: 1, durationMs: 1, answer });
    const model = buildTraceModel(events as unknown as RunEvent[]);
    // The first call is compared while the budget lasts, and the answer quotes it.
    expect(model.nodes.find((node) => node.label === "tool x")?.path).toBe(true);
  }, 10_000);
});

describe("a hostile file system", () => {
  it("rlm trace html refuses a FIFO at once instead of blocking on it", () => {
    const fifo = join(root, "html.fifo");
    if (!mkfifo(fifo)) return;
    expect(() => readTraceForViewer(fifo, () => undefined)).toThrow(/not a regular file/);
  }, 5_000);

  it("traces and pages are the owner's alone, and a page is not written into a folder that does not exist", async () => {
    const { createJsonlTraceWriter } = await import("../jsonl-trace.ts");
    const trace = join(root, "private.jsonl");
    const writer = createJsonlTraceWriter(trace, []);
    writer.listener({
      type: "run-start",
      runId: "r",
      depth: 0,
      at: 1,
      query: "q",
      model: "m",
      subModel: "m",
      contextChars: 1,
    });
    writer.close();
    expect(statSync(trace).mode & 0o777).toBe(0o600);
    const page = await runRlmHere(["trace", "html", trace], root);
    expect(page.code, page.stderr).toBe(0);
    expect(statSync(join(root, "private.html")).mode & 0o777).toBe(0o600);
    const typo = await runRlmHere(
      ["trace", "html", trace, "-o", join(root, "no-such-folder", "x.html")],
      root,
    );
    expect(typo.code).toBe(2);
    expect(existsSync(join(root, "no-such-folder"))).toBe(false);
  });

  it("rlm trace show refuses a FIFO too, with one line and exit 2", async () => {
    const fifo = join(root, "show.fifo");
    if (!mkfifo(fifo)) return;
    const outcome = await runRlmHere(["trace", "show", fifo], root);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/not a regular file/);
    expect(outcome.stderr.trim().split("\n")).toHaveLength(1);
  }, 5_000);

  it("a watched trace swapped for a FIFO is not opened (it would block the server), and is read again once a file", async () => {
    const path = join(root, "swapped.jsonl");
    writeFileSync(path, lines([start("first")]));
    const warnings: string[] = [];
    let wake: () => void = () => undefined;
    const warned = () => new Promise<void>((resolve) => (wake = resolve));
    const follower = new TraceFollower(path, {
      onChange: () => wake(),
      onWarning: (message) => {
        warnings.push(message);
        wake();
      },
    });
    follower.start();
    try {
      rmSync(path);
      if (!mkfifo(path)) return;
      const next = warned();
      (follower as unknown as { check(): void }).check();
      await next;
      await expect.poll(() => warnings.join("\n")).toMatch(/not a regular file/);
      // A writer on the FIFO would unblock a stuck open; none comes. A new trace replaces the FIFO.
      rmSync(path);
      writeFileSync(path, lines([start("second")]));
      (follower as unknown as { check(): void }).check();
      await expect.poll(() => follower.events.map((event) => event.runId).join()).toBe("second");
    } finally {
      follower.close();
    }
  }, 10_000);
});

describe("the live view's address and the page's policy", () => {
  it("serves only under its secret path, on its own Host; a malformed event appended does not end it", async () => {
    const path = join(root, "live.jsonl");
    writeFileSync(path, lines([start("live")]));
    const warnings: string[] = [];
    const viewer = await startTraceViewer({ path, onWarning: (message) => warnings.push(message) });
    try {
      const { origin, pathname } = new URL(viewer.url);
      expect(pathname).toMatch(/^\/[\w-]{24}\/$/);
      expect((await fetch(`${origin}/`)).status).toBe(404);
      expect((await fetch(`${origin}/events`)).status).toBe(404);
      expect((await fetch(`${origin}/${"A".repeat(24)}/`)).status).toBe(404);
      expect((await fetch(viewer.url)).status).toBe(200);
      expect(await statusWithHost(viewer.url, "127.0.0.1.evil.example")).toBe(403);
      const bad = { type: "memory", runId: "live", at: 1001, depth: 0, action: "add", ids: [], error: 5 };
      appendFileSync(path, lines([bad, start("after")]));
      await expect
        .poll(() => fetch(viewer.url).then((response) => response.text()), { timeout: 5_000 })
        .toContain("after");
      expect(warnings.join("\n")).toMatch(/malformed/);
    } finally {
      await viewer.close();
    }
  });

  it("the page allows its own script and style by hash, nothing inline besides, nothing from the network", () => {
    const html = renderViewerPage(buildTraceModel([start("r")] as unknown as RunEvent[], '"><img src=x>'));
    const policy = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? "";
    const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? "";
    expect(policy).toContain(`script-src ${hash(script)}`);
    expect(policy).toContain(`style-src ${hash(style)}`);
    expect(policy).toMatch(/default-src 'none'/);
    expect(policy).toMatch(/connect-src 'none'/);
    expect(policy).not.toMatch(/unsafe|\*|http/);
    // No inline handler or style attribute in the markup, and the hostile title only as escaped JSON.
    expect(html).not.toMatch(/\son\w+=|\sstyle=/i);
    expect(html).not.toContain("<img");
    expect(html.match(/<script/g)).toHaveLength(2);
  });
});

/** The status of GET `url` sent with another Host header. */
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
