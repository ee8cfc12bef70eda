import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm } from "../../test/rlm-process.ts";
import { CONSOLIDATION_SYSTEM } from "../memory/consolidation-prompt.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";
import type { BenchFile } from "./bench-results.ts";
import { memorySessionsSuite } from "./suites/memory-sessions.ts";
import { episodeTexts, parseBenchStrategy } from "./task-memory.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-memory-bench-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const messageOf = (request: RecordedRequest, role: string) =>
  String(request.body?.messages?.find((message) => message.role === role)?.content ?? "");

describe("rlm bench --strategies rlm,rlm+memory on the memory suite", () => {
  it("consolidates the history into a fresh memory, recalls it in the first message, and counts its cost", async () => {
    const task = memorySessionsSuite.generate(2048, 1, 0);
    expect(task.query).toMatch(/now\?/);
    await using server = await startScriptedServer({
      replies: (request) => {
        if (messageOf(request, "system") === CONSOLIDATION_SYSTEM) {
          // A stand-in that knows the answer: this proves the plumbing, not a model's quality.
          const fact = {
            key: "user.answer",
            text: `The answer about the user is ${task.expected}.`,
            sources: ["E1"],
          };
          return { text: JSON.stringify({ facts: [fact], summaries: [] }) };
        }
        const first = messageOf(request, "user");
        const recalled = /The answer about the user is (\w+)/.exec(first)?.[1];
        return { text: repl(`FINAL(${JSON.stringify(recalled ?? "unknown")})`) };
      },
    });
    const out = join(root, "out");
    const result = await runRlm([
      "bench",
      "--suite",
      "memory",
      "--sizes",
      "2k",
      "--strategies",
      "rlm,rlm+memory",
      "--tasks",
      "1",
      "--model",
      "openai-compatible:m",
      "--base-url",
      server.url,
      "--out",
      out,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const file = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile;
    expect(file.rows.map((row) => [row.strategy, row.status, row.score])).toEqual([
      ["rlm", "completed", 0],
      ["rlm+memory", "completed", 1],
    ]);
    const [off, on] = file.rows;
    expect(off?.memoryCalls).toBeUndefined();
    expect(on).toMatchObject({ memoryEpisodes: (task.history ?? []).length, memoryCalls: 1, memoryFacts: 1 });
    expect(on?.memoryInputTokens).toBeGreaterThan(0);
    // The consolidation's tokens are in the row's totals.
    expect(on?.inputTokens).toBeGreaterThan(on?.memoryInputTokens ?? 0);
    expect(readFileSync(join(out, "results.md"), "utf8")).toMatch(/\| 2k \| rlm\+memory \| 1 \| 1\.000 \|/);

    const consolidations = server.requests.filter(
      (request) => messageOf(request, "system") === CONSOLIDATION_SYSTEM,
    );
    expect(consolidations).toHaveLength(1);
    // The episodes carry the sessions' dates.
    expect(messageOf(consolidations[0] as RecordedRequest, "user")).toContain(
      `(${(task.history?.[0]?.at ?? "").slice(0, 10)})`,
    );
    const runs = server.requests.filter((request) => request !== consolidations[0]);
    expect(runs).toHaveLength(2);
    const [plain, withMemory] = runs.map((request) => messageOf(request, "user"));
    expect(plain).not.toContain("From memory of earlier runs");
    expect(withMemory).toContain("From memory of earlier runs");
    expect(withMemory).toContain(`The answer about the user is ${task.expected}.`);
    // Memory off sees only today's session: no history reaches the model.
    expect(JSON.stringify(runs[0]?.body)).not.toContain(task.history?.[0]?.text.slice(0, 60));

    // A rerun resumes: both rows are done, nothing is called again.
    const calls = server.requests.length;
    const again = await runRlm([
      "bench",
      "--suite",
      "memory",
      "--sizes",
      "2k",
      "--strategies",
      "rlm,rlm+memory",
      "--tasks",
      "1",
      "--model",
      "openai-compatible:m",
      "--base-url",
      server.url,
      "--out",
      out,
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(server.requests.length).toBe(calls);
  });

  it("a consolidation that cannot reach the model fails the task (a rerun retries it); no history, no calls", async () => {
    const { ScriptedModel } = await import("../test/scripted-model.ts");
    const { runBench } = await import("./run-bench.ts");
    const { sniahSuite } = await import("./suites/sniah.ts");
    let down = true;
    const model = new ScriptedModel({
      modelId: "flaky",
      replies: (call) =>
        call.system === CONSOLIDATION_SYSTEM
          ? down
            ? { error: "HTTP 500 from the server" }
            : JSON.stringify({ facts: [], summaries: [] })
          : repl('FINAL("unknown")'),
    });
    const options = {
      suites: [memorySessionsSuite],
      sizes: [2048],
      strategies: ["rlm+memory"],
      tasks: 1,
      out: join(root, "flaky"),
      run: { model },
    };
    const [failed] = await runBench(options);
    expect(failed).toMatchObject({
      strategy: "rlm+memory",
      status: "failed",
      memoryCalls: 1,
      memoryFacts: 0,
    });
    expect(failed?.error).toMatch(/^memory consolidation: model call failed/);
    expect(model.calls.every((call) => call.system === CONSOLIDATION_SYSTEM)).toBe(true);
    down = false;
    const [retried] = await runBench(options);
    expect(retried).toMatchObject({ status: "completed", memoryCalls: 1 });

    // A suite without history runs with an empty memory: no consolidation call.
    const [empty] = await runBench({ ...options, suites: [sniahSuite], out: join(root, "no-history") });
    expect(empty).toMatchObject({ status: "completed", memoryEpisodes: 0, memoryCalls: 0, memoryCostUsd: 0 });
  });

  it("refuses +memory on a strategy without memory, with exit 2 and one line", async () => {
    expect(parseBenchStrategy("rlm+memory")).toEqual({ base: "rlm", memory: true, learning: false });
    expect(() => parseBenchStrategy("nope+memory")).toThrow(/Unknown strategy "nope"/);
    const result = await runRlm([
      "bench",
      "--suite",
      "memory",
      "--strategies",
      "rlm,direct+memory",
      "--out",
      join(root, "refused"),
      "--model",
      "openai-compatible:m",
      "--base-url",
      "http://127.0.0.1:9/v1",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/only rlm\+memory takes a memory/);
  });

  it("cuts a long session into episodes at line ends", () => {
    const lines = Array.from({ length: 40 }, (_, index) => `User: line ${index} ${"x".repeat(200)}`);
    const pieces = episodeTexts(lines.join("\n"), 1000);
    expect(pieces.length).toBeGreaterThan(4);
    for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(1000);
    expect(pieces.join("\n")).toBe(lines.join("\n"));
    expect(episodeTexts("y".repeat(2500), 1000).map((piece) => piece.length)).toEqual([1000, 1000, 500]);
  });
});
