import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { largeTrace } from "../../../test/trace-samples.ts";
import type { RunEvent } from "../../engine/run-events.ts";
import { readJsonlTrace } from "../jsonl-trace.ts";
import { renderTraceTree } from "../trace-tree.ts";
import { wellFormedEvents } from "./event-shape.ts";
import { LiveModel } from "./live-model.ts";
import { TraceFollower } from "./trace-follower.ts";
import { buildTraceModel, type TraceModel, type ViewNode } from "./trace-model.ts";
import { jsonForScript, renderViewerPage } from "./viewer-page.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-viewer-model-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const usage = (input: number, output: number, costUsd: number | null = null) => ({
  inputTokens: input,
  outputTokens: output,
  cachedInputTokens: 0,
  costUsd,
});

/**
 * A root run (model p:root) of two iterations: iteration 1 has two cells and three calls (an llm_query in each
 * cell's time, a failing one); iteration 2 answers with FINAL and makes an rlm_query whose child run (model
 * p:child) answers "42", quoted in the root's answer. A third iteration-free run hit a limit.
 */
function craftedTrace(): RunEvent[] {
  const r = { runId: "root", depth: 0 };
  const c = { runId: "child", depth: 1, parentRunId: "root", parentCallId: "q1" };
  const call = (callId: string, kind: "llm_query" | "rlm_query", model: string, at: number) => ({
    ...r,
    callId,
    kind,
    model,
    promptChars: 10,
    at,
  });
  return [
    {
      type: "run-start",
      at: 1000,
      ...r,
      query: "what?",
      model: "p:root",
      subModel: "p:sub",
      contextChars: 5,
    },
    { type: "iteration-start", at: 1000, ...r, iteration: 1 },
    { type: "subcall-start", ...call("a", "llm_query", "p:sub", 1110) },
    {
      type: "subcall-end",
      ...call("a", "llm_query", "p:sub", 1150),
      ok: true,
      cached: false,
      usage: usage(100, 10, 0.001),
      latencyMs: 40,
    },
    { type: "subcall-start", ...call("b", "llm_query", "p:sub", 1160) },
    {
      type: "subcall-end",
      ...call("b", "llm_query", "p:sub", 1170),
      ok: false,
      cached: false,
      usage: usage(0, 0, 0),
      latencyMs: 10,
      error: "rate limited",
    },
    {
      type: "iteration-end",
      at: 1200,
      ...r,
      iteration: 1,
      reply: "```repl\nx = llm_query('a')\n```\n```repl\ny = llm_query('b')\n```",
      usage: usage(500, 50, 0.01),
      modelLatencyMs: 100,
      cells: [
        { code: "x = llm_query('a')", output: "", durationMs: 50 },
        { code: "y = llm_query('b')", output: "", durationMs: 50, error: "Error: boom" },
      ],
      durationMs: 200,
    },
    { type: "iteration-start", at: 1200, ...r, iteration: 2 },
    { type: "subcall-start", ...call("q1", "rlm_query", "p:child", 1300) },
    {
      type: "run-start",
      at: 1301,
      ...c,
      query: "sub question",
      model: "p:child",
      subModel: "p:child",
      contextChars: 3,
    },
    { type: "iteration-start", at: 1301, ...c, iteration: 1 },
    {
      type: "iteration-end",
      at: 1350,
      ...c,
      iteration: 1,
      reply: "```repl\nFINAL('42')\n```",
      usage: usage(300, 20, null),
      modelLatencyMs: 40,
      cells: [{ code: "FINAL('42')", output: "", durationMs: 5 }],
      durationMs: 49,
    },
    { type: "run-end", at: 1350, ...c, status: "completed", answer: "42", iterations: 1, durationMs: 49 },
    {
      type: "subcall-end",
      ...call("q1", "rlm_query", "p:child", 1351),
      ok: true,
      cached: false,
      usage: usage(300, 20, null),
      latencyMs: 51,
      childRunId: "child",
    },
    {
      type: "iteration-end",
      at: 1400,
      ...r,
      iteration: 2,
      reply: "```repl\nFINAL('the answer is ' + rlm_query('sub question'))\n```",
      usage: usage(600, 60, 0.02),
      modelLatencyMs: 90,
      cells: [{ code: "FINAL('the answer is ' + rlm_query('sub question'))", output: "", durationMs: 110 }],
      durationMs: 200,
    },
    {
      type: "run-end",
      at: 1400,
      ...r,
      status: "completed",
      answer: "the answer is 42",
      iterations: 2,
      durationMs: 400,
    },
    {
      type: "run-start",
      at: 2000,
      runId: "other",
      depth: 0,
      query: "slow",
      model: "p:root",
      subModel: "p:root",
      contextChars: 1,
    },
    {
      type: "run-end",
      at: 2500,
      runId: "other",
      depth: 0,
      status: "budget_exceeded",
      answer: null,
      iterations: 0,
      durationMs: 500,
      error: "the token limit of 10 is reached",
    },
  ] as RunEvent[];
}

function find(model: TraceModel, predicate: (node: ViewNode) => boolean): ViewNode {
  const node = model.nodes.find(predicate);
  if (node === undefined) throw new Error("no such node");
  return node;
}

describe("the viewer's model of a trace", () => {
  const model = buildTraceModel(craftedTrace(), "crafted.jsonl");
  const byLabel = (label: string, runId?: string) =>
    find(model, (node) => node.label === label && (runId === undefined || node.parent === -1 || true));

  it("nests cells under iterations, calls under the cell that made them, child runs under their rlm_query", () => {
    const [first, second] = model.roots.map((id) => model.nodes[id] as ViewNode);
    expect(first?.label).toBe("run root");
    expect(second?.label).toBe("run other");
    const iteration1 = model.nodes[first?.children[0] as number] as ViewNode;
    const [cell1, cell2] = iteration1.children.map((id) => model.nodes[id] as ViewNode);
    expect(cell1?.children.map((id) => model.nodes[id]?.label)).toEqual(["llm_query p:sub"]);
    expect(cell2?.children.map((id) => model.nodes[id]?.why)).toEqual(["rate limited"]);
    const rlmQuery = byLabel("rlm_query p:child");
    expect(rlmQuery.children.map((id) => model.nodes[id]?.label)).toEqual(["run child (depth 1)"]);
  });

  it("sums tokens and cost per node and per model, an unpriced call making the cost a lower bound", () => {
    const run = model.nodes[model.roots[0] as number] as ViewNode;
    expect(run).toMatchObject({ inputTokens: 1500, outputTokens: 140, unpricedCalls: 1 });
    expect(run.costUsd).toBeCloseTo(0.031);
    expect(model.models).toEqual([
      {
        model: "p:root",
        calls: 2,
        inputTokens: 1100,
        outputTokens: 110,
        costUsd: 0.03,
        unpricedCalls: 0,
        partial: false,
      },
      {
        model: "p:child",
        calls: 1,
        inputTokens: 300,
        outputTokens: 20,
        costUsd: null,
        unpricedCalls: 1,
        partial: false,
      },
      {
        model: "p:sub",
        calls: 2,
        inputTokens: 100,
        outputTokens: 10,
        costUsd: 0.001,
        unpricedCalls: 0,
        partial: false,
      },
    ]);
  });

  it("marks errors and limit stops, and counts them on the ancestors", () => {
    const cell2 = find(model, (node) => node.label === "cell 2" && node.why !== undefined);
    expect(cell2).toMatchObject({ status: "error", why: "Error: boom" });
    const other = model.nodes[model.roots[1] as number] as ViewNode;
    expect(other).toMatchObject({
      status: "limit",
      why: "budget_exceeded: the token limit of 10 is reached",
    });
    expect(model.problemCount).toBe(3);
    expect(model.nodes[model.roots[0] as number]?.problemsBelow).toBe(2);
  });

  it("puts the answering iteration, its FINAL cell, its rlm_query and the child's answer on the answer path", () => {
    const onPath = model.nodes.filter((node) => node.path).map((node) => node.label);
    expect(onPath).toEqual([
      "run root",
      "iteration 2",
      "rlm_query p:child",
      "run child (depth 1)",
      "iteration 1",
      "cell 1",
      "cell 1",
    ]);
    const iteration1 = find(model, (node) => node.label === "iteration 1" && node.parent === model.roots[0]);
    expect(iteration1.path).toBe(false);
    expect(find(model, (node) => node.label === "run other").path).toBe(false);
  });

  it("shows an agent's tool calls under its steps, a tool whose output the answer quotes on the answer path", () => {
    const r = { runId: "agent", depth: 0 };
    const agent = buildTraceModel([
      {
        type: "run-start",
        at: 1,
        ...r,
        query: "12 squared?",
        model: "p:m",
        subModel: "p:m",
        contextChars: 0,
      },
      { type: "iteration-start", at: 2, ...r, iteration: 1 },
      { type: "tool-start", at: 3, ...r, callId: "t1", tool: "calculator", args: '{"expression":"12*12"}' },
      {
        type: "tool-end",
        at: 4,
        ...r,
        callId: "t1",
        tool: "calculator",
        ok: true,
        latencyMs: 1,
        resultChars: 3,
        output: "144",
      },
      { type: "tool-start", at: 5, ...r, callId: "t2", tool: "web_search", args: '{"q":"x"}' },
      {
        type: "tool-end",
        at: 6,
        ...r,
        callId: "t2",
        tool: "web_search",
        ok: false,
        latencyMs: 1,
        error: "no key",
      },
      {
        type: "iteration-end",
        at: 7,
        ...r,
        iteration: 1,
        reply: "",
        usage: usage(10, 5),
        modelLatencyMs: 5,
        cells: [],
        durationMs: 6,
      },
      { type: "iteration-start", at: 8, ...r, iteration: 2 },
      {
        type: "iteration-end",
        at: 9,
        ...r,
        iteration: 2,
        reply: "It is 144.",
        usage: usage(20, 5),
        modelLatencyMs: 1,
        cells: [],
        durationMs: 1,
      },
      {
        type: "run-end",
        at: 9,
        ...r,
        status: "completed",
        answer: "It is 144.",
        iterations: 2,
        durationMs: 8,
      },
    ] as RunEvent[]);
    const step1 = find(agent, (node) => node.label === "iteration 1");
    expect(step1.children.map((id) => agent.nodes[id]?.label)).toEqual([
      "tool calculator",
      "tool web_search",
    ]);
    expect(find(agent, (node) => node.label === "tool calculator")).toMatchObject({
      path: true,
      sections: [
        ["arguments", '{"expression":"12*12"}'],
        ["output", "144"],
      ],
    });
    expect(find(agent, (node) => node.label === "tool web_search")).toMatchObject({
      path: false,
      status: "error",
      why: "no key",
    });
    expect(find(agent, (node) => node.label === "iteration 2").path).toBe(true);
  });

  it("keeps node numbers as events are appended, so a live patch holds only what changed", () => {
    const events = craftedTrace();
    const cut = events.findIndex((event) => event.type === "iteration-start" && event.iteration === 2);
    const live = new LiveModel(events.slice(0, cut + 2), "t");
    const before = live.model.nodes.map((node) => `${node.kind}:${node.label}`);
    live.update(events, false);
    const after = live.model.nodes.map((node) => `${node.kind}:${node.label}`);
    expect(after.slice(0, before.length)).toEqual(before);
    const patch = live.patch;
    expect(patch).toMatchObject({ base: 0, version: 1, count: after.length });
    expect(patch?.nodes.length).toBeLessThan(after.length);
    expect(patch?.nodes.map((node) => node.id)).toContain(after.length - 1);
    live.update(events.slice(0, 3), true);
    expect(live.patch).toBeUndefined();
  });

  it("reads official RLM logs as rlm trace show does", () => {
    const log = fileURLToPath(
      new URL("../../../test/fixtures/official-logs/needle-run.jsonl", import.meta.url),
    );
    const official = buildTraceModel(readJsonlTrace(log), "needle-run.jsonl");
    const run = official.nodes[official.roots[0] as number] as ViewNode;
    expect(run.sections.find(([title]) => title === "answer")?.[1]).toBe("1002");
    expect(run.partial).toBe(true);
    expect(official.models.find((row) => row.model === "example-sub-model")).toMatchObject({
      inputTokens: 14,
    });
    const subcall = find(official, (node) => node.kind === "subcall");
    expect(subcall.t1 as number).toBeGreaterThan(subcall.t0 as number);
    expect(official.nodes.filter((node) => node.path).map((node) => node.label)).toEqual([
      run.label,
      "iteration 3",
    ]);
  });

  it("drops malformed events instead of failing on them", () => {
    const warnings: string[] = [];
    const events = wellFormedEvents(
      [
        ...craftedTrace().slice(0, 2),
        {
          type: "iteration-end",
          at: 1,
          runId: "root",
          depth: 0,
          iteration: 1,
          reply: "x",
          usage: usage(1, 1),
          cells: "not a list",
          durationMs: 1,
          modelLatencyMs: 1,
        },
        {
          type: "subcall-end",
          at: 1,
          runId: "root",
          depth: 0,
          callId: "z",
          kind: "llm_query",
          model: "m",
          promptChars: 1,
          ok: true,
          usage: { inputTokens: "many" },
          latencyMs: 1,
        },
      ],
      (message) => warnings.push(message),
    );
    expect(events).toHaveLength(2);
    expect(warnings).toEqual([
      expect.stringMatching(/skipped 2 malformed events \(the first: iteration-end without a valid cells\)/),
    ]);
    expect(() => buildTraceModel(events)).not.toThrow();
  });

  it("cuts a huge section, and the text tree of rlm trace show still reads the same tree", () => {
    const events = craftedTrace();
    const end = events.find((event) => event.type === "iteration-end");
    if (end?.type === "iteration-end" && end.cells[0]) end.cells[0].output = "y".repeat(300_000);
    const cell = find(buildTraceModel(events), (node) => node.label === "cell 1");
    expect(cell.sections.find(([title]) => title === "output")?.[1]).toMatch(
      /^y{100000}\n… 200,000 more characters/,
    );
    const text = renderTraceTree(events);
    expect(text).toContain("↳ run child (depth 1) completed");
    expect(text).toContain("failed: rate limited");
    expect(text).toContain("answer: the answer is 42");
  });
});

/**
 * An `rlm agent --plan --verify` run as the agent writes it: each model call an iteration, what it was for as its
 * one label cell (no output, 0 ms). The plan; step 1 (a calculator call, then the step's result); step 2 (a
 * reverse call, then its result); the synthesis; the verification's claims (whose JSON quotes the answer) and
 * check; with `revised`, a revision that rewrote the answer.
 */
function agentTrace(revised?: string): RunEvent[] {
  const r = { runId: "agent", depth: 0 };
  let at = 100;
  const events: RunEvent[] = [
    {
      type: "run-start",
      at,
      ...r,
      query: "17 x 23, and its digits reversed?",
      model: "p:m",
      subModel: "p:m",
      contextChars: 0,
    },
  ];
  const draft = "17 x 23 = 391, and its digits reversed are 193.";
  let iteration = 0;
  const step = (
    label: string | undefined,
    reply: string,
    tool?: [name: string, args: string, output: string],
  ) => {
    iteration++;
    events.push({ type: "iteration-start", at: ++at, ...r, iteration });
    if (tool) {
      const [name, args, output] = tool;
      const callId = `t${iteration}`;
      events.push({ type: "tool-start", at: ++at, ...r, callId, tool: name, args });
      events.push({
        type: "tool-end",
        at: ++at,
        ...r,
        callId,
        tool: name,
        ok: true,
        latencyMs: 1,
        resultChars: output.length,
        output,
      });
    }
    events.push({
      type: "iteration-end",
      at: ++at,
      ...r,
      iteration,
      reply,
      usage: usage(10, 5),
      modelLatencyMs: 3,
      cells: label === undefined ? [] : [{ code: label, output: "", durationMs: 0 }],
      durationMs: 4,
    });
  };
  step(
    "plan",
    '{"steps":[{"goal":"Compute 17*23","tool":"calculator"},{"goal":"Reverse the digits","tool":"reverse"}]}',
  );
  step("step 1 of 2: Compute 17*23", "", ["calculator", '{"expression":"17*23"}', "391"]);
  step(undefined, "17*23 is 391.");
  step("step 2 of 2: Reverse the digits", "", ["reverse", '{"text":"391"}', "193"]);
  step(undefined, "Reversed, 391 is 193.");
  step("synthesis", draft);
  step("verification: claims", JSON.stringify({ claims: [draft, "17 x 23 = 391"] }));
  step("verification: check", '{"results":[{"claim":1,"supported":true,"evidence":"e1"}]}');
  if (revised !== undefined) step("verification: revise", revised);
  events.push(
    {
      type: "verification",
      at: ++at,
      ...r,
      status: revised === undefined ? "confirmed" : "corrected",
      evidence: "2 claims checked",
      usage: { inputTokens: 20, outputTokens: 10, costUsd: null, calls: 2 },
    },
    {
      type: "run-end",
      at: ++at,
      ...r,
      status: "completed",
      answer: revised?.trim() ?? draft,
      iterations: iteration,
      durationMs: at - 100,
    },
  );
  return events;
}

describe("an agent run with a plan and a verification", () => {
  it("labels each iteration with what the call was for, as rlm trace show does, without a label cell", () => {
    const model = buildTraceModel(agentTrace());
    const run = model.nodes[model.roots[0] as number] as ViewNode;
    const iterations = run.children
      .map((id) => model.nodes[id] as ViewNode)
      .filter((node) => node.kind === "iteration");
    expect(iterations.map((node) => node.label)).toEqual([
      "iteration 1 · plan",
      "iteration 2 · step 1 of 2: Compute 17*23",
      "iteration 3",
      "iteration 4 · step 2 of 2: Reverse the digits",
      "iteration 5",
      "iteration 6 · synthesis",
      "iteration 7 · verification: claims",
      "iteration 8 · verification: check",
    ]);
    // The label is no code that ran: no cell node, the step's tool call directly under its iteration.
    expect(model.nodes.filter((node) => node.kind === "cell")).toEqual([]);
    expect(iterations[1]?.children.map((id) => model.nodes[id]?.label)).toEqual(["tool calculator"]);
    expect(iterations[3]?.children.map((id) => model.nodes[id]?.label)).toEqual(["tool reverse"]);

    const text = renderTraceTree(agentTrace());
    expect(text).toMatch(/iteration 2 · step 1 of 2: Compute 17\*23 · 4 ms/);
    expect(text).toMatch(/iteration 6 · synthesis · 4 ms/);
    expect(text).toMatch(/iteration 8 · verification: check · 4 ms/);
    expect(text).not.toContain("· cell");
    expect(text).toContain("tool calculator");
  });

  it("keeps an RLM cell that only looks like a label (no output, 0 ms) a cell", () => {
    const events = agentTrace();
    const plan = events.find((event) => event.type === "iteration-end");
    if (plan?.type !== "iteration-end") throw new Error("no iteration");
    plan.cells = [{ code: "x = plan", output: "", durationMs: 0 }];
    const model = buildTraceModel(events);
    expect(
      find(model, (node) => node.kind === "iteration" && node.label === "iteration 1").children,
    ).toHaveLength(1);
    expect(find(model, (node) => node.kind === "cell").line).toBe("x = plan");
    expect(renderTraceTree(events)).toContain("· cell 0 ms: x = plan");
  });

  it("puts the synthesis on the answer path, not the verification's JSON replies after it", () => {
    const model = buildTraceModel(agentTrace());
    const onPath = model.nodes
      .filter((node) => node.path && node.kind === "iteration")
      .map((node) => node.label);
    // The synthesis wrote it; the steps are there as the parents of the tool calls whose outputs it quotes.
    expect(onPath).toEqual([
      "iteration 2 · step 1 of 2: Compute 17*23",
      "iteration 4 · step 2 of 2: Reverse the digits",
      "iteration 6 · synthesis",
    ]);
    expect(find(model, (node) => node.label === "tool calculator").path).toBe(true);
    expect(find(model, (node) => node.label === "tool reverse").path).toBe(true);
  });

  it("puts a verification's revision on the answer path when it rewrote the answer", () => {
    const revised = "\n17 x 23 = 391.\n\nIts digits reversed [unverified] are 193.\n";
    const model = buildTraceModel(agentTrace(revised));
    const onPath = model.nodes
      .filter((node) => node.path && node.kind === "iteration")
      .map((node) => node.label);
    expect(onPath).toEqual([
      "iteration 2 · step 1 of 2: Compute 17*23",
      "iteration 4 · step 2 of 2: Reverse the digits",
      "iteration 9 · verification: revise",
    ]);
  });

  it("falls back to the last iteration that may have written the answer when no reply holds it", () => {
    const events = agentTrace();
    const end = events.at(-1);
    if (end?.type !== "run-end") throw new Error("no run end");
    end.answer = "an answer no reply holds";
    const onPath = buildTraceModel(events)
      .nodes.filter((node) => node.path && node.kind === "iteration")
      .map((node) => node.label);
    expect(onPath).toEqual(["iteration 6 · synthesis"]);
  });
});

describe("the page", () => {
  it("escapes the embedded JSON so trace text cannot close its script block", () => {
    const json = jsonForScript({ text: "</script><script>alert(1)</script> & \u2028" });
    expect(json).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(json).text).toBe("</script><script>alert(1)</script> & \u2028");
    const page = renderViewerPage(buildTraceModel(craftedTrace()));
    expect(page.match(/<script/g)).toHaveLength(2);
    expect(page).toMatch(
      /default-src 'none'; script-src 'sha256-[\w+/=]+'; style-src 'sha256-[\w+/=]+'; connect-src 'none'/,
    );
  });

  it("a trace of many sub-calls: every call a node, the answering iteration's calls on the path", () => {
    const model = buildTraceModel(largeTrace(2_000), "big");
    const subcalls = model.nodes.filter((node) => node.kind === "subcall");
    expect(subcalls).toHaveLength(2_000);
    expect(model.models.find((row) => row.model === "p:sub")?.calls).toBe(2_000);
    // Four iterations of 500 calls; calls that failed are never on the path.
    expect(subcalls.filter((node) => node.path)).toHaveLength(
      500 - subcalls.slice(1500).filter((node) => node.status === "error").length,
    );
  });
});

describe("following a trace file", () => {
  it("reads appended lines, waits for a partial last line, and starts over when the file is truncated", async () => {
    const path = join(root, "growing.jsonl");
    const events = craftedTrace().map((event) => JSON.stringify(event));
    writeFileSync(path, `${events.slice(0, 2).join("\n")}\n${events[2]?.slice(0, 20)}`);
    const changes: boolean[] = [];
    let wake = () => {};
    const follower = new TraceFollower(path, {
      onChange: (reset) => {
        changes.push(reset);
        wake();
      },
    });
    const changed = () => new Promise<void>((resolve) => (wake = resolve));
    follower.start();
    try {
      expect(follower.events).toHaveLength(2);
      let next = changed();
      appendFileSync(path, `${events[2]?.slice(20)}\n${events[3]}\n`);
      await next;
      expect(follower.events.map((event) => event.type)).toEqual([
        "run-start",
        "iteration-start",
        "subcall-start",
        "subcall-end",
      ]);
      next = changed();
      writeFileSync(path, `${events[0]}\n`);
      await next;
      expect(follower.events).toHaveLength(1);
      expect(changes).toEqual([false, true]);
    } finally {
      follower.close();
    }
  });
});

describe("sub-call text in a recorded run", () => {
  it("shows each llm_query's prompt and response, as the engine's events now keep them", async () => {
    const { recordRlmRun } = await import("../../../test/trace-samples.ts");
    const model = buildTraceModel(await recordRlmRun(), "recorded");
    const calls = model.nodes.filter((node) => node.label.startsWith("llm_query") && node.status === "ok");
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      const titles = call.sections.map(([title]) => title);
      expect(titles).toEqual(expect.arrayContaining(["prompt", "response"]));
    }
    const prompts = calls.map((call) => call.sections.find(([title]) => title === "prompt")?.[1]);
    expect(
      prompts.some((prompt) => prompt?.includes("Summarise")),
      JSON.stringify(prompts),
    ).toBe(true);
  });
});
