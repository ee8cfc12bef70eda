import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm } from "../../test/rlm-process.ts";
import { createCaseBank } from "../learning/case-bank.ts";
import { REFLECTOR_SYSTEM } from "../learning/reflector-prompt.ts";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";
import type { BenchFile } from "./bench-results.ts";
import { learningStreamSuite } from "./suites/learning-stream.ts";
import { parseBenchStrategy } from "./task-memory.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-learning-bench-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const messageOf = (request: RecordedRequest, role: string) =>
  String(request.body?.messages?.find((message) => message.role === role)?.content ?? "");

const SIZE = 1024;
const TASKS = 3;
const tasks = Array.from({ length: TASKS }, (_, index) => learningStreamSuite.generate(SIZE, 1, index));

/**
 * A stand-in that proves the plumbing, not a model's learning: it answers right only when a playbook lesson is in
 * its first message, and the reflector always writes the same lesson.
 */
function reply(request: RecordedRequest) {
  if (messageOf(request, "system") === REFLECTOR_SYSTEM) {
    const lesson = { text: "Read the notes at the top of the data before computing.", section: "mistakes" };
    return { text: JSON.stringify({ lessons: [lesson], tags: [] }) };
  }
  const first = messageOf(request, "user");
  // The latest task named: earlier tasks' questions come back in the worked examples.
  const task = tasks.findLast((item) => first.includes(item.query));
  const answer = first.includes("<playbook>") ? task?.expected : "0";
  return { text: repl(`FINAL(${JSON.stringify(answer ?? "0")})`) };
}

const args = (url: string, out: string, extra: string[] = []) => [
  "bench",
  "--suite",
  "learning",
  "--sizes",
  "1k",
  "--strategies",
  "rlm,rlm+learning",
  "--tasks",
  String(TASKS),
  "--model",
  "openai-compatible:m",
  "--base-url",
  url,
  "--out",
  out,
  ...extra,
];

const rootRuns = (requests: RecordedRequest[]) =>
  requests.filter((request) => messageOf(request, "system") !== REFLECTOR_SYSTEM);

describe("rlm bench --suite learning --strategies rlm,rlm+learning", () => {
  it("runs the stream in order, feeds each score back, shows what was learned, and draws the curve", async () => {
    await using server = await startScriptedServer({ replies: reply });
    const out = join(root, "out");
    const db = join(root, "learning.db");
    const result = await runRlm(args(server.url, out, ["--learning-db", db]));
    expect(result.code, result.stderr).toBe(0);
    const file = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile;
    expect(file.rows.map((row) => [row.strategy, row.task, row.status, row.score])).toEqual([
      ["rlm", 0, "completed", 0],
      ["rlm+learning", 0, "completed", 0],
      ["rlm", 1, "completed", 0],
      ["rlm+learning", 1, "completed", 1],
      ["rlm", 2, "completed", 0],
      ["rlm+learning", 2, "completed", 1],
    ]);
    // Learning off: no learner, no reflection.
    const off = file.rows.filter((row) => row.strategy === "rlm");
    expect(off.every((row) => row.learningCalls === undefined)).toBe(true);
    // Learning on: one reflector call per task, counted in the row's totals.
    for (const row of file.rows.filter((item) => item.strategy === "rlm+learning")) {
      expect(row.learningCalls).toBe(1);
      expect(row.learningInputTokens).toBeGreaterThan(0);
      expect(row.inputTokens).toBeGreaterThan(row.learningInputTokens ?? 0);
    }

    const runs = rootRuns(server.requests).map((request) => messageOf(request, "user"));
    expect(runs).toHaveLength(2 * TASKS);
    // Stream order: task 0 (rlm, rlm+learning), task 1, task 2.
    runs.forEach((first, at) => {
      expect(first).toContain(tasks[Math.floor(at / 2)]?.query);
      expect(first).not.toContain(tasks[Math.floor(at / 2) + 1]?.query ?? "no later task");
    });
    const [, learning0, , learning1, , learning2] = runs;
    expect(runs.filter((_, at) => at % 2 === 0).some((first) => first.includes("<playbook>"))).toBe(false);
    expect(learning0).not.toContain("<playbook>");
    expect(learning0).not.toContain("<cases>");
    for (const later of [learning1, learning2]) {
      expect(later).toContain("<playbook>");
      expect(later).toContain("Read the notes at the top of the data before computing.");
    }
    // The cases of earlier tasks come back as worked examples, with their scored outcome.
    expect(learning2).toContain("<cases>");
    expect(learning2).toMatch(/failure \(reward 0; avoid what failed here\)/);

    // The reflector hears the scorer's verdict, with the expected answer when it was wrong.
    const reflections = server.requests.filter(
      (request) => messageOf(request, "system") === REFLECTOR_SYSTEM,
    );
    expect(reflections).toHaveLength(TASKS);
    expect(messageOf(reflections[0] as RecordedRequest, "user")).toContain(
      `the expected answer was ${JSON.stringify(tasks[0]?.expected)}`,
    );
    expect(messageOf(reflections[1] as RecordedRequest, "user")).toContain("scorer accepted the answer");

    // Every run is a case with the scorer's outcome.
    const store = await openMemoryStore(db);
    try {
      const cases = await createCaseBank({ store, scope: "bench-learning-1k-seed1" }).list();
      expect(cases).toHaveLength(TASKS);
      expect(cases.map((view) => [view.outcome, view.outcomeSource]).sort()).toEqual([
        ["bad", "scorer"],
        ["good", "scorer"],
        ["good", "scorer"],
      ]);
    } finally {
      await store.close();
    }

    const markdown = readFileSync(join(out, "results.md"), "utf8");
    expect(markdown).toContain("## learning curve: learning 1k");
    expect(markdown).toContain("| task | family | rlm accuracy | rlm mean tokens | rlm+learning accuracy |");
    expect(markdown).toMatch(/\| 0 \| log-levels \| 0\.000 \| [\d,]+ \| 0\.000 \| [\d,]+ \|/);
    expect(markdown).toMatch(/\| 2 \| config-setting \| 0\.000 \| [\d,]+ \| 1\.000 \| [\d,]+ \|/);
    const svg = readFileSync(join(out, "learning-curve.svg"), "utf8");
    expect(svg).toContain("learning 1k: accuracy per task");
    expect(svg).toContain("rlm+learning");
    expect(result.stderr).toContain("learning-curve.svg");

    // A rerun of a finished stream calls nothing.
    const calls = server.requests.length;
    expect((await runRlm(args(server.url, out, ["--learning-db", db]))).code).toBe(0);
    expect(server.requests.length).toBe(calls);

    // With --learning-db, a stream cut short resumes where it stopped, with what it had learned.
    const cut = {
      ...file,
      rows: file.rows.filter((row) => !(row.strategy === "rlm+learning" && row.task === 2)),
    };
    writeFileSync(join(out, "results.json"), JSON.stringify(cut));
    const resumed = await runRlm(args(server.url, out, ["--learning-db", db]));
    expect(resumed.code, resumed.stderr).toBe(0);
    const added = server.requests.slice(calls);
    expect(rootRuns(added)).toHaveLength(1);
    expect(messageOf(rootRuns(added)[0] as RecordedRequest, "user")).toContain("<playbook>");
  });

  it("without --learning-db, a stream cut short runs again from its first task", async () => {
    await using server = await startScriptedServer({ replies: reply });
    const out = join(root, "temporary");
    expect((await runRlm(args(server.url, out))).code).toBe(0);
    const file = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile;
    const calls = server.requests.length;
    const cut = {
      ...file,
      rows: file.rows.filter((row) => !(row.strategy === "rlm+learning" && row.task === 2)),
    };
    writeFileSync(join(out, "results.json"), JSON.stringify(cut));
    const again = await runRlm(args(server.url, out));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/runs again from task 0/);
    const added = rootRuns(server.requests.slice(calls));
    // rlm's rows were done; the learning stream ran again: tasks 0, 1, 2, the first without a playbook.
    expect(added).toHaveLength(TASKS);
    expect(messageOf(added[0] as RecordedRequest, "user")).not.toContain("<playbook>");
    const rows = (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile).rows;
    expect(rows.filter((row) => row.strategy === "rlm+learning").map((row) => [row.task, row.score])).toEqual(
      [
        [0, 0],
        [1, 1],
        [2, 1],
      ],
    );
    expect(existsSync(join(out, "learning-curve.svg"))).toBe(true);
  });

  it("takes +learning on the rlm only, and --learning-db only with it", async () => {
    expect(parseBenchStrategy("rlm+learning")).toEqual({ base: "rlm", memory: false, learning: true });
    expect(() => parseBenchStrategy("direct+learning")).toThrow(/only rlm\+learning takes learners/);
    const result = await runRlm([
      "bench",
      "--suite",
      "learning",
      "--strategies",
      "rlm",
      "--learning-db",
      join(root, "x.db"),
      "--out",
      join(root, "refused"),
      "--model",
      "openai-compatible:m",
      "--base-url",
      "http://127.0.0.1:9/v1",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--learning-db needs a \+learning strategy/);
  });
});
