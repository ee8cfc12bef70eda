import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, startRlm, until } from "../../test/rlm-process.ts";
import { UsageError } from "../errors/usage-error.ts";
import { createNeedleRegexModel } from "../test/needle-regex-model.ts";
import { startScriptedServer } from "../test/scripted-server.ts";
import { readJsonlTrace } from "../trace/jsonl-trace.ts";
import type { BenchFile } from "./bench-results.ts";
import { runBench } from "./run-bench.ts";
import { parseSize } from "./sizes.ts";
import { sniahSuite } from "./suites/sniah.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-bench-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("runBench with a scripted needle model (proves the plumbing, not quality)", () => {
  const out = join(root, "sniah");
  const strategies = ["direct", "rlm", "memagent", "mapreduce", "rag"];

  it("runs every strategy, scores, and writes results.json, results.md and plot.svg", async () => {
    const model = createNeedleRegexModel();
    const rows = await runBench({
      suites: [sniahSuite],
      sizes: [parseSize("2k"), parseSize("8k")],
      strategies,
      tasks: 2,
      out,
      run: { model },
      note: "scripted model: this run proves the pipeline, not quality",
    });
    expect(rows).toHaveLength(20);
    for (const row of rows) {
      expect(row.status, `${row.strategy} ${row.size}`).toBe("completed");
      expect(row.score, `${row.strategy} ${row.size}: ${row.answer}`).toBe(1);
      expect(row.inputTokens).toBeGreaterThan(0);
    }
    const file = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile;
    expect(file.rows).toHaveLength(20);
    expect(Object.keys(file.rows[0] ?? {})).toEqual(
      expect.arrayContaining([
        "suite",
        "size",
        "strategy",
        "task",
        "score",
        "accuracy",
        "inputTokens",
        "outputTokens",
        "costUsd",
        "latencyMs",
        "subcalls",
        "status",
      ]),
    );
    const markdown = readFileSync(join(out, "results.md"), "utf8");
    expect(markdown).toContain("## sniah");
    expect(markdown).toContain("proves the pipeline, not quality");
    expect(markdown).toMatch(/\| 8k \| rlm \| 2 \| 1\.000 \|/);
    const svg = readFileSync(join(out, "plot.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("sniah: accuracy");
    const rlmRows = rows.filter((row) => row.strategy === "rlm");
    const directRows = rows.filter((row) => row.strategy === "direct");
    const mean = (list: typeof rows) => list.reduce((sum, row) => sum + row.inputTokens, 0) / list.length;
    expect(mean(rlmRows)).toBeLessThan(mean(directRows));
  });

  it("resumes without redoing finished tasks", async () => {
    const model = createNeedleRegexModel();
    const rows = await runBench({
      suites: [sniahSuite],
      sizes: [parseSize("2k"), parseSize("8k")],
      strategies,
      tasks: 3,
      out,
      run: { model },
    });
    expect(rows).toHaveLength(30);
    const sniahCalls = model.calls.length;
    expect(sniahCalls).toBeGreaterThan(0);
    expect(sniahCalls).toBeLessThan(40);
  });

  it("refuses to mix results of another model into the same directory", async () => {
    const other = createNeedleRegexModel("another");
    await expect(
      runBench({
        suites: [sniahSuite],
        sizes: [2048],
        strategies: ["rlm"],
        tasks: 1,
        out,
        run: { model: other },
      }),
    ).rejects.toThrow(UsageError);
  });
});

describe("rlm bench", () => {
  const rlm = (args: string[]) => runRlm(args);

  it("lists the suites", async () => {
    const result = await rlm(["bench", "--list"]);
    expect(result.code).toBe(0);
    for (const name of ["sniah", "oolong", "oolong-pairs", "babilong", "multihop"])
      expect(result.stdout).toContain(name);
  });

  it("runs a suite through a real process and HTTP", async () => {
    await using server = await startScriptedServer({
      replies: (request) => {
        const text = JSON.stringify(request.body?.messages ?? []);
        const key = /special magic number for ([\w-]+)/.exec(text)?.[1];
        const found = key
          ? new RegExp(`special magic number for ${key} is (\\d{7})`).exec(text)?.[1]
          : undefined;
        return { text: found ?? "NONE" };
      },
    });
    const out = join(root, "cli");
    const result = await rlm([
      "bench",
      "--suite",
      "sniah",
      "--sizes",
      "2k",
      "--strategies",
      "direct",
      "--tasks",
      "2",
      "--model",
      "openai-compatible:m",
      "--base-url",
      server.url,
      "--out",
      out,
    ]);
    expect(result.stderr).toContain("2 task runs");
    expect(result.code).toBe(0);
    const file = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile;
    expect(file.rows.map((row) => row.score)).toEqual([1, 1]);
  });

  it("exits 2 for an unknown suite, strategy or size", async () => {
    for (const args of [
      ["--suite", "nope"],
      ["--strategies", "magic"],
      ["--sizes", "big"],
    ]) {
      const result = await rlm([
        "bench",
        ...args,
        "--out",
        join(root, "x"),
        "--model",
        "openai-compatible:m",
        "--base-url",
        "http://127.0.0.1:9/v1",
      ]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});

describe("infrastructure failures in a benchmark", () => {
  it("are recorded as failed with an unknown cost, left out of accuracy, and retried on a rerun", async () => {
    const { ScriptedModel } = await import("../test/scripted-model.ts");
    const { renderMarkdown } = await import("./report.ts");
    const out = join(root, "failing");
    const failing = new ScriptedModel({
      replies: () => ({ error: "HTTP 500 from the server" }),
      modelId: "flaky",
    });
    const first = await runBench({
      suites: [sniahSuite],
      sizes: [2048],
      strategies: ["direct"],
      tasks: 1,
      out,
      run: { model: failing },
    });
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ status: "failed", costUsd: null });
    expect(
      renderMarkdown(first, { model: "scripted:flaky", subModel: "scripted:flaky", seed: 1 }),
    ).not.toContain("$0.0000");
    const working = createNeedleRegexModel("flaky");
    const second = await runBench({
      suites: [sniahSuite],
      sizes: [2048],
      strategies: ["direct"],
      tasks: 1,
      out,
      run: { model: working },
    });
    expect(second).toHaveLength(1);
    expect(second[0]?.status).toBe("completed");
  });
});

describe("rlm bench and Ctrl-C", () => {
  it("finishes the task in flight, then stops; the results keep it", async () => {
    await using server = await startScriptedServer({ replies: () => ({ text: "NONE", delayMs: 1_500 }) });
    const out = join(root, "interrupted");
    const run = startRlm(
      [
        "bench",
        "--suite",
        "sniah",
        "--sizes",
        "2k",
        "--strategies",
        "direct",
        "--tasks",
        "3",
        "--out",
        out,
      ].concat(["--model", "openai-compatible:m", "--base-url", server.url]),
    );
    await until(() => server.requests.length > 0);
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(/stopping after the current task/);
    const file = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile;
    expect(file.rows).toHaveLength(1);
    expect(file.rows[0]?.status).toBe("completed");
  });
});

describe("rlm bench --json and --max-cost", () => {
  const rlm = (args: string[]) => runRlm(args);

  it("prints the rows as JSON, and refuses a cost limit over an unpriced model with exit 2", async () => {
    await using server = await startScriptedServer({ replies: () => ({ text: "NONE" }) });
    const out = join(root, "json");
    const common = [
      "bench",
      "--suite",
      "sniah",
      "--sizes",
      "2k",
      "--strategies",
      "direct",
      "--tasks",
      "1",
      "--out",
      out,
    ];
    const model = ["--model", "openai-compatible:m", "--base-url", server.url];
    const printed = await rlm([...common, ...model, "--json"]);
    expect(printed.code).toBe(0);
    expect(JSON.parse(printed.stdout).rows).toHaveLength(1);
    const refused = await rlm([...common, ...model, "--max-cost", "0.5"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/price of openai-compatible:m is unknown/);
  });
});

describe("rlm bench --trace", () => {
  it("writes one trace per task run that `rlm trace show` reads, names it in the rows, and keeps it on resume", async () => {
    await using server = await startScriptedServer({
      replies: (request) => {
        const text = JSON.stringify(request.body?.messages ?? []);
        return { text: /special magic number for [\w-]+ is (\d{7})/.exec(text)?.[1] ?? "NONE" };
      },
    });
    const out = join(root, "traced");
    const traces = join(root, "traced", "traces");
    const bench = (tasks: string) =>
      runRlm([
        "bench",
        "--suite",
        "sniah",
        "--sizes",
        "2k",
        "--strategies",
        "direct",
        "--tasks",
        tasks,
        "--model",
        "openai-compatible:m",
        "--base-url",
        server.url,
        "--out",
        out,
        "--trace",
        traces,
      ]);
    const first = await bench("1");
    expect(first.code, first.stderr).toBe(0);
    const firstTrace = readFileSync(join(traces, "sniah-2k-direct-0.jsonl"), "utf8");
    // The resumed run skips task 0 and leaves its trace as it was.
    const second = await bench("2");
    expect(second.code, second.stderr).toBe(0);
    const file = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchFile;
    expect(file.rows.map((row) => row.trace)).toEqual(["sniah-2k-direct-0.jsonl", "sniah-2k-direct-1.jsonl"]);
    expect(readFileSync(join(traces, "sniah-2k-direct-0.jsonl"), "utf8")).toBe(firstTrace);
    for (const row of file.rows) {
      const events = readJsonlTrace(join(traces, row.trace ?? ""));
      expect(events.map((event) => event.type)).toEqual(
        expect.arrayContaining(["run-start", "subcall-end", "run-end"]),
      );
    }
    const shown = await runRlm(["trace", "show", join(traces, "sniah-2k-direct-1.jsonl")]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("[direct]");
  });

  it("exits 2 with one line when DIR cannot be made", async () => {
    const blocker = join(root, "a-file");
    writeFileSync(blocker, "");
    const result = await runRlm([
      "bench",
      "--out",
      join(root, "untraced"),
      "--trace",
      join(blocker, "traces"),
      "--model",
      "openai-compatible:m",
      "--base-url",
      "http://127.0.0.1:9/v1",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/--trace .*cannot write there/);
  });

  it("never overwrites an earlier attempt's trace, and a trace it cannot write is a warning, not a lost task", async () => {
    const traces = join(root, "attempts");
    mkdirSync(traces);
    writeFileSync(join(traces, "sniah-2k-direct-0.jsonl"), "earlier attempt\n");
    const options = {
      suites: [sniahSuite],
      sizes: [2048],
      strategies: ["direct"],
      tasks: 1,
      run: { model: createNeedleRegexModel() },
    };
    const [retried] = await runBench({
      ...options,
      out: join(root, "attempts-out"),
      traces: { dir: traces },
    });
    expect(retried?.trace).toBe("sniah-2k-direct-0-attempt2.jsonl");
    expect(readFileSync(join(traces, "sniah-2k-direct-0.jsonl"), "utf8")).toBe("earlier attempt\n");
    expect(readJsonlTrace(join(traces, "sniah-2k-direct-0-attempt2.jsonl")).length).toBeGreaterThan(0);

    const warnings: string[] = [];
    const missing = join(root, "no-such-folder");
    const [row] = await runBench({
      ...options,
      out: join(root, "warned-out"),
      traces: { dir: missing },
      onWarning: (warning) => warnings.push(warning),
    });
    expect(row).toMatchObject({ status: "completed", score: 1 });
    expect(row?.trace).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(row?.warnings).toEqual(warnings);
    expect(existsSync(missing)).toBe(false);
  });
});
