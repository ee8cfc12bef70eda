import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, startRlm, until } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-limits-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const rlm = (args: string[]) => runRlm(args, { cwd: root });

const local = ["--model", "openai-compatible:x", "--base-url", "http://127.0.0.1:9/v1"];

describe("rlm run: limits refused up front", () => {
  it.each([
    [["--timeout", "5000000"], /--timeout must be at most 2147483 seconds/],
    [["--max-cost", "0.5"], /price of openai-compatible:x is unknown.*--prices/],
    [["--sub-base-url", "http://127.0.0.1:9/v1"], /--sub-base-url and --sub-api-key need --sub-model/],
    [["--max-tokens=-5"], /--max-tokens must be a positive number/],
    [["--max-depth", "99"], /--max-depth must be a whole number from 1 to 16/],
    [["--base-url", "not-a-url"], /base URL "not-a-url" is not an http\(s\) URL/],
    [
      ["--max-tokens", "-5"],
      /--max-tokens needs a value, and one that starts with a dash must be written --max-tokens=VALUE/,
    ],
    [["--cache-dir", "/dev/null/x"], /Cannot use the cache directory \/dev\/null\/x: ENOTDIR/],
  ])("%o exits 2 with one line", async (extra, pattern) => {
    writeFileSync(join(root, "small.txt"), "tiny");
    const result = await rlm(["run", "--context", "small.txt", "--query", "q", ...local, ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(pattern);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stdout).toBe("");
  });
});

describe("rlm run: SIGTERM and SIGHUP", () => {
  it.each([
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const)("%s cancels the run, prints what it has and exits %i", async (signal, expected) => {
    await using server = await startScriptedServer({ replies: () => ({ text: "slow", delayMs: 30_000 }) });
    writeFileSync(join(root, "small.txt"), "tiny");
    const run = startRlm(
      ["run", "--context", "small.txt", "--query", "q", "--model", "openai-compatible:root"].concat([
        "--base-url",
        server.url,
        "--json",
      ]),
      { cwd: root },
    );
    // Send the signal once the root model's request is in flight.
    await until(() => server.requests.length > 0);
    run.child.kill(signal);
    expect(await run.exited).toBe(expected);
    expect(JSON.parse(run.stdout())).toMatchObject({ status: "cancelled" });
  });
});

describe("rlm run: cell limits and context windows from the command line", () => {
  it("--cell-timeout stops a cell, --context-window SPEC=N sets a model's window", async () => {
    const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
    let rootTurn = 0;
    await using server = await startScriptedServer({
      replies: (request) => {
        if (request.body?.model === "sub") return { text: "sub answer" };
        return (
          [
            { text: repl("while (true) {}") },
            {
              text: repl(
                "let r\ntry { r = llm_query('x'.repeat(20000)) } catch (error) { r = error.message }\nFINAL(r)",
              ),
            },
          ][rootTurn++] ?? { text: "no more" }
        );
      },
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
      "--sub-model",
      "openai-compatible:sub",
      "--base-url",
      server.url,
      "--cell-timeout",
      "0.5",
      "--context-window",
      "openai-compatible:sub=1000",
      "--json",
    ]);
    const printed = JSON.parse(result.stdout);
    expect(printed.answer).toMatch(/llm_query refused: .* window of 1,000 tokens/);
    const second = server.requests.filter((request) => request.body?.model === "root")[1];
    expect(JSON.stringify(second?.body?.messages?.at(-1))).toMatch(/limit of 0.5 s/);
  });
});

describe("rlm: more mistakes that exit 2 with one line, before any work", () => {
  it.each([
    [
      ["run", "--context", "small.txt", "--query", "q", "--base-url", "http://127.0.0.1:9/v1"],
      /names a server but not its model/,
    ],
    [
      ["bench", "--suite", "sniah", "--out", "/dev/null/x", ...local],
      /--out \/dev\/null\/x: cannot write there/,
    ],
  ])("%o", async (args, pattern) => {
    writeFileSync(join(root, "small.txt"), "tiny");
    const result = await rlm(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(pattern);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("rlm models", () => {
  it("marks a configured server that does not answer with ✗, not a check mark", async () => {
    const result = await rlm(["models", "--base-url", "http://127.0.0.1:9/v1"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^✗ openai-compatible\s+no answer at http:\/\/127\.0\.0\.1:9\/v1$/m);
  });
});

describe("rlm run: per-call timeout and retries", () => {
  it("--call-timeout ends a slow attempt and --retries 0 sends it once", async () => {
    await using server = await startScriptedServer({ replies: () => ({ text: "slow", delayMs: 10_000 }) });
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
      "--call-timeout",
      "0.5",
      "--retries",
      "0",
      "--json",
    ]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: "failed" });
    expect(JSON.parse(result.stdout).error).toMatch(/timed out after 500 ms/);
    expect(server.requests.filter((request) => request.method === "POST")).toHaveLength(1);
  });
});

describe("rlm run --schema", () => {
  it("shows the JSON Schema to the model and retries until FINAL's value matches", async () => {
    const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
    let turn = 0;
    await using server = await startScriptedServer({
      replies: () =>
        [{ text: repl("FINAL('three')") }, { text: repl("FINAL({ users: 3 })") }][turn++] ?? {
          text: "no more",
        },
    });
    writeFileSync(join(root, "small.txt"), "tiny");
    writeFileSync(
      join(root, "answer.schema.json"),
      JSON.stringify({ type: "object", properties: { users: { type: "number" } }, required: ["users"] }),
    );
    const result = await rlm([
      "run",
      "--context",
      "small.txt",
      "--query",
      "How many users?",
      "--model",
      "openai-compatible:root",
      "--base-url",
      server.url,
      "--schema",
      "answer.schema.json",
      "--json",
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).answer).toEqual({ users: 3 });
    const first = JSON.stringify(server.requests[0]?.body?.messages);
    expect(first).toMatch(/JSON Schema/);
    expect(first).toMatch(/users/);
  });

  it("refuses a schema file that is not JSON, with exit 2", async () => {
    writeFileSync(join(root, "bad.schema.json"), "{ not json");
    const result = await rlm([
      "run",
      "--context",
      "small.txt",
      "--query",
      "q",
      ...local,
      "--schema",
      "bad.schema.json",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--schema bad\.schema\.json: cannot read it as JSON/);
  });
});
