import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, scriptedModelFlags } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "rlmkit-run-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const rlm = (args: string[], env: Record<string, string> = {}) => runRlm(args, { cwd: root, env });

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

describe("rlm run", () => {
  it("answers through a real process and HTTP, writes a trace without the key, and shows it", async () => {
    const secret = "sk-cli-test-0123456789abcdefghij";
    await using server = await startScriptedServer({
      replies: (request) => {
        const turn = (request.body?.messages ?? []).filter((message) => message.role === "assistant").length;
        if (request.body?.model === "sub")
          return { text: `sub saw ${String(request.headers.authorization)}` };
        if (request.body?.model === "cheap") return { text: "cheap ok" };
        return turn === 0
          ? {
              text: repl(
                "const hit = grep('code is (\\\\d+)')[0]\nconst note = llm_query('check ' + hit.match)\nconst cheap = llm_query('also', { model: 'cheap' })\nprint(hit.line, note, cheap)",
              ),
            }
          : { text: repl("FINAL(hit.match.split(' ').pop())") };
      },
    });
    writeFileSync(
      join(root, "input.log"),
      `${"noise\n".repeat(5000)}the code is 5550123\n${"noise\n".repeat(5000)}`,
    );
    const result = await rlm(
      [
        "run",
        "--context",
        "input.log",
        "--query",
        "What is the code?",
        ...scriptedModelFlags(server.url),
        "--named-model",
        "cheap=openai-compatible:cheap",
        "--trace",
        "run.jsonl",
        "--json",
      ],
      { OPENAI_COMPATIBLE_API_KEY: secret },
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout);
    expect(output).toMatchObject({ answer: "5550123", status: "completed", iterations: 2, subcalls: 2 });
    expect(server.requests.some((request) => request.body?.model === "cheap")).toBe(true);
    expect(Object.keys(output).sort()).toEqual([
      "answer",
      "durationMs",
      "iterations",
      "runId",
      "status",
      "subcalls",
      "usage",
    ]);
    expect(output.runId).toMatch(/^[0-9a-f-]{36}$/);

    const trace = readFileSync(join(root, "run.jsonl"), "utf8");
    expect(trace.split("\n").filter(Boolean).length).toBeGreaterThan(5);
    expect(trace).toContain("[redacted]");
    expect(trace).not.toContain(secret);

    const shown = await rlm(["trace", "show", "run.jsonl"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("completed · 2 iterations");
    expect(shown.stdout).toContain("iteration 1");
    expect(shown.stdout).toContain("llm_query openai-compatible:sub");
    expect(shown.stdout).toContain("answer: 5550123");
    expect(shown.stdout).not.toContain(secret);
  });

  it("runs Python with --sandbox python", async () => {
    await using server = await startScriptedServer({
      replies: (request) => {
        const system = String(request.body?.messages?.[0]?.content ?? "");
        if (!system.includes("Python REPL")) return { text: "expected a Python prompt" };
        return { text: "```python\nimport re\nFINAL(re.search(r'code is (\\d+)', context).group(1))\n```" };
      },
    });
    writeFileSync(join(root, "py.txt"), "the code is 31337\n");
    const result = await rlm([
      "run",
      "--context",
      "py.txt",
      "--query",
      "code?",
      "--sandbox",
      "python",
      "--model",
      "openai-compatible:root",
      "--base-url",
      server.url,
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("31337\n");
  });

  it("turns the goal header and the sub-call cache off on request", async () => {
    await using server = await startScriptedServer({
      replies: (request) =>
        request.body?.model === "sub"
          ? { text: "fine" }
          : { text: repl("const a = llm_query('same')\nconst b = llm_query('same')\nFINAL(a + b)") },
    });
    writeFileSync(join(root, "flags.txt"), "x");
    const result = await rlm([
      "run",
      "--context",
      "flags.txt",
      "--query",
      "the overall question",
      "--model",
      "openai-compatible:root",
      "--sub-model",
      "openai-compatible:sub",
      "--base-url",
      server.url,
      "--no-goal-header",
      "--no-subcall-cache",
    ]);
    expect(result.stdout).toBe("finefine\n");
    const subPrompts = server.requests
      .filter((request) => request.body?.model === "sub")
      .map((request) => JSON.stringify(request.body?.messages));
    expect(subPrompts).toHaveLength(2);
    for (const prompt of subPrompts) expect(prompt).not.toContain("the overall question");
  });

  it("reads the context from standard input with --context -", async () => {
    await using server = await startScriptedServer({
      replies: () => ({ text: repl("FINAL(context.trim().split('\\n').length)") }),
    });
    const child = spawn(
      process.execPath,
      [
        MAIN,
        "run",
        "--context",
        "-",
        "--query",
        "lines?",
        "--model",
        "openai-compatible:m",
        "--base-url",
        server.url,
      ],
      {
        env: { PATH: process.env.PATH ?? "" },
        cwd: root,
      },
    );
    let stdout = "";
    child.stdout.on("data", (data) => {
      stdout += data;
    });
    child.stdin.end("one\ntwo\nthree\n");
    const code = await new Promise((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(stdout).toBe("3\n");
  });

  it("exits 1 with the partial result when a limit ends the run", async () => {
    await using server = await startScriptedServer({
      replies: () => ({ text: repl("print('still looking')") }),
    });
    writeFileSync(join(root, "small.txt"), "tiny");
    const result = await rlm([
      "run",
      "--context",
      "small.txt",
      "--query",
      "q",
      "--model",
      "openai-compatible:root",
      "--base-url",
      server.url,
      "--max-iterations",
      "2",
      "--json",
    ]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: "max_iterations", iterations: 2 });
  });

  it("exits 2 with one line for usage and input errors", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["run", "--query", "q"], /--context/],
      [
        [
          "run",
          "--context",
          "missing.txt",
          "--query",
          "q",
          "--model",
          "openai-compatible:x",
          "--base-url",
          "http://127.0.0.1:9/v1",
        ],
        /missing\.txt/,
      ],
      [
        ["run", "--context", "small.txt", "--query", "q", "--model", "nope:x"],
        /Unknown model provider "nope"/,
      ],
      [["run", "--context", "small.txt", "--query", "q", "--model", "openai:gpt-5-mini"], /OPENAI_API_KEY/],
      [["run", "--context", "small.txt", "--query", "q", "--max-iterations", "two"], /--max-iterations/],
      [
        [
          "run",
          "--context",
          "small.txt",
          "--query",
          "q",
          "--model",
          "openai-compatible:x",
          "--base-url",
          "http://127.0.0.1:9/v1",
          "--sandbox",
          "docker",
        ],
        /Unknown sandbox/,
      ],
      [["trace", "show", "nowhere.jsonl"], /nowhere\.jsonl/],
      [
        ["run", "--context", "small.txt", "--query", "q", "--strategy", "magic"],
        /Known strategies: rlm, direct/,
      ],
      [
        ["run", "--context", "small.txt", "--query", "q", "--named-model", "cheap"],
        /cheap=openai:gpt-5-nano/,
      ],
      [
        [
          "run",
          "--context",
          "small.txt",
          "--query",
          "q",
          "--model",
          "openai-compatible:x",
          "--base-url",
          "http://127.0.0.1:9/v1",
          "--trace",
          "no/such/dir/run.jsonl",
        ],
        /Cannot write the trace/,
      ],
    ];
    writeFileSync(join(root, "small.txt"), "tiny");
    for (const [args, pattern] of cases) {
      const result = await rlm(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(pattern);
      expect(result.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(result.stdout).toBe("");
    }
  });
});
