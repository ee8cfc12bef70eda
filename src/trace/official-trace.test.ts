import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm } from "../../test/rlm-process.ts";
import { createPythonSandbox } from "../sandboxes/python/python-sandbox.ts";
import { readJsonlRecords } from "./jsonl-trace.ts";
import { convertOfficialLog, isOfficialLog, type OfficialRecord } from "./official-trace.ts";
import { replayOfficialLog } from "./replay.ts";
import { renderTraceTree } from "./trace-tree.ts";

const fixtures = fileURLToPath(new URL("../../test/fixtures/official-logs/", import.meta.url));
const LOG = join(fixtures, "needle-run.jsonl");
const CONTEXT = readFileSync(join(fixtures, "orders.txt"), "utf8");
const root = mkdtempSync(join(tmpdir(), "rlmkit-official-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const records = () => readJsonlRecords(LOG) as OfficialRecord[];

describe("official RLM logs", () => {
  it("are recognised and converted into rlmkit events", () => {
    expect(isOfficialLog(records())).toBe(true);
    const events = convertOfficialLog(records());
    expect(events[0]).toMatchObject({
      type: "run-start",
      query: "Find the order number that was refunded.",
      model: "example-root-model",
    });
    expect(events.filter((event) => event.type === "iteration-end")).toHaveLength(3);
    expect(events.find((event) => event.type === "subcall-end")).toMatchObject({
      model: "example-sub-model",
      usage: { inputTokens: 14, outputTokens: 2 },
    });
    expect(events.at(-1)).toMatchObject({
      type: "run-end",
      status: "completed",
      answer: "1002",
      iterations: 3,
    });
    const tree = renderTraceTree(events);
    expect(tree).toContain("llm_query example-sub-model");
    expect(tree).toContain("answer: 1002");
  });

  it("replay identically in our Python sandbox with the logged sub-call answers", async () => {
    const report = await replayOfficialLog(records(), { context: CONTEXT, sandbox: createPythonSandbox() });
    expect(report).toMatchObject({ identical: 3, differing: 0 });
    expect(report.blocks[1]).toMatchObject({ unloggedSubcalls: 0, unusedSubcalls: 0 });
  });

  it("report where a replay differs", async () => {
    const report = await replayOfficialLog(records(), {
      context: `${CONTEXT}order 1005 shipped\n`,
      sandbox: createPythonSandbox(),
    });
    expect(report.differing).toBe(1);
    expect(report.blocks[0]).toMatchObject({ same: false, iteration: 1 });
    expect(report.blocks[0]?.actual).toContain("5");
  });
});

describe("rlm trace import / replay", () => {
  const rlm = (args: string[]) => runRlm(args);

  it("imports an official log into a trace that rlm trace show reads", async () => {
    const out = join(root, "converted.jsonl");
    expect((await rlm(["trace", "import", LOG, "--out", out])).code).toBe(0);
    const shown = await rlm(["trace", "show", out]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("completed · 3 iterations");
  });

  it("replays with exit 0 when everything matches and 1 when something differs", async () => {
    const same = await rlm(["trace", "replay", LOG, "--context", join(fixtures, "orders.txt")]);
    expect(same.stdout).toContain("3 identical, 0 differ");
    expect(same.code).toBe(0);
    const changed = join(root, "changed.txt");
    writeFileSync(changed, `${CONTEXT}extra line\n`);
    const differs = await rlm(["trace", "replay", LOG, "--context", changed]);
    expect(differs.code).toBe(1);
    expect(differs.stdout).toContain("iteration 1, block 1: output differs");
  }, 90_000); // two processes that each start Pyodide: slow on a loaded 2-core machine

  it("refuses a file that is not an official log, with exit 2", async () => {
    const ours = join(root, "ours.jsonl");
    writeFileSync(ours, `${JSON.stringify({ type: "run-start" })}\n`);
    const result = await rlm(["trace", "import", ours]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("not a log of the official RLM format");
  });
});

describe("official logs as they come", () => {
  const iteration = (number: number, user: string, answer: string | null) => ({
    type: "iteration",
    iteration: number,
    prompt: [
      { role: "system", content: "sys" },
      { role: "user", content: user },
      { role: "user", content: `Turn ${number}/4: keep going` },
    ],
    response: "ok",
    code_blocks: [],
    final_answer: answer,
  });

  it("skips records of other types with a note, splits completions, and shows the task as the query", async () => {
    const lines = [
      { type: "metadata", root_model: "m" },
      { type: "run_context", context: "..." },
      iteration(1, "First task", null),
      iteration(2, "First task", "one"),
      iteration(1, "Second task", "two"),
    ];
    writeFileSync(join(root, "several.jsonl"), `${lines.map((line) => JSON.stringify(line)).join("\n")}\n`);
    const result = await runRlm(["trace", "show", "several.jsonl"], { cwd: root });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/line 2: skipped a record of type "run_context"/);
    expect(result.stdout).toContain("First task");
    expect(result.stdout).toContain("Second task");
    expect(result.stdout).not.toContain("Turn 1/4");
    const events = convertOfficialLog(lines as OfficialRecord[]);
    expect(events.filter((event) => event.type === "run-end").map((event) => event.answer)).toEqual([
      "one",
      "two",
    ]);
  });

  it("marks an answer from the default-answer fallback as max_iterations, and root tokens as unknown", async () => {
    const lines = [
      { type: "metadata", root_model: "m", max_iterations: 2 },
      {
        ...iteration(1, "Task", null),
        response: "```repl\nprint(1)\n```",
        code_blocks: [{ code: "print(1)" }],
      },
      { ...iteration(2, "Task", "a guess"), response: "Still looking." },
      { type: "metadata", root_model: "m", max_iterations: 2 },
      iteration(1, "Other", null),
      { ...iteration(2, "Other", "42"), response: "FINAL(42)" },
    ];
    const events = convertOfficialLog(lines as OfficialRecord[]);
    const ends = events.filter((event) => event.type === "run-end");
    expect(ends.map((event) => [event.status, event.answer])).toEqual([
      ["max_iterations", "a guess"],
      ["completed", "42"],
    ]);
    writeFileSync(join(root, "fallback.jsonl"), `${lines.map((line) => JSON.stringify(line)).join("\n")}\n`);
    const shown = await runRlm(["trace", "show", "fallback.jsonl"], { cwd: root });
    expect(shown.stdout).toContain("root tokens unknown");
    expect(shown.stdout).not.toMatch(/root in 0 \/ out 0 tok/);
  });

  it("refuses with exit 2 a file that is neither an rlmkit trace nor an official log, and a directory", async () => {
    writeFileSync(join(root, "other.jsonl"), '{"hello": "world"}\n');
    for (const target of ["other.jsonl", "."]) {
      const result = await runRlm(["trace", "show", target], { cwd: root });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        target === "." ? /is a directory/ : /neither an rlmkit trace .* nor a log of the official RLM/,
      );
    }
  });
});

describe("replay emulates the official REPL", () => {
  it("does not echo a bare last expression, SHOW_VARS returns text, and the final answer is compared", async () => {
    const log = [
      { type: "metadata", root_model: "m" },
      {
        type: "iteration",
        iteration: 1,
        prompt: [{ role: "user", content: "task" }],
        response: "...",
        code_blocks: [
          { code: "x = 5\nx", result: { stdout: "", stderr: "", rlm_calls: [] } },
          {
            code: "listing = SHOW_VARS()\nprint(type(listing).__name__, 'context' in listing, 'answer' in listing)",
            result: { stdout: "str True False\n", stderr: "", rlm_calls: [] },
          },
          { code: "FINAL(str(x))", result: { stdout: "", stderr: "", rlm_calls: [] } },
        ],
        final_answer: "5",
      },
    ];
    const report = await replayOfficialLog(log as OfficialRecord[], {
      context: "some text",
      sandbox: createPythonSandbox(),
    });
    expect(report.blocks.map((block) => block.same)).toEqual([true, true, true]);
    expect(report.finalAnswer).toEqual({ logged: "5", ours: "5", same: true });
  }, 60_000);
});

describe("rlm trace show of a strategy run", () => {
  it("shows its sub-calls", async () => {
    const { createMapReduceStrategy } = await import("../strategies/mapreduce.ts");
    const { ScriptedModel } = await import("../test/scripted-model.ts");
    const model = new ScriptedModel({ replies: () => "finding", modelId: "m" });
    const result = await createMapReduceStrategy({ model }).run({
      context: "a line\n".repeat(10),
      query: "q",
    });
    const tree = renderTraceTree(result.trace);
    expect(tree.match(/llm_query scripted:m/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });
});
