/** `rlm agent` end to end against the scripted server, which answers with tool calls. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-agent-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("rlm agent", () => {
  it("calls a tool, answers with --json, and its trace shows the tool call as a node", async () => {
    const secret = "brave-secret-key-0123456789";
    let calls = 0;
    await using server = await startScriptedServer({
      replies: () =>
        calls++ === 0
          ? { toolCalls: [{ name: "calculator", arguments: { expression: "12*12" } }] }
          : { text: "It is 144." },
    });
    const trace = join(root, "agent.jsonl");
    const args = ["agent", "--task", "What is 12 squared?", "--model", "openai-compatible:scripted"];
    const outcome = await runRlm(
      [...args, "--base-url", server.url, "--tools", "calculator", "--trace", trace, "--json"],
      { env: { BRAVE_API_KEY: secret } },
    );
    expect(outcome.stderr).toBe("");
    expect(outcome.code).toBe(0);
    const result = JSON.parse(outcome.stdout);
    expect(result).toMatchObject({
      answer: "It is 144.",
      status: "completed",
      stopReason: null,
      steps: 2,
      toolCalls: 1,
    });
    for (const field of ["runId", "usage", "verification", "durationMs"])
      expect(result).toHaveProperty(field);
    const written = readFileSync(trace, "utf8");
    expect(written).toContain('"tool":"calculator","ok":true');
    expect(written).toMatch(/"output":"[^\n]*144/);
    expect(written).not.toContain(secret);
    const shown = await runRlm(["trace", "show", trace]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("tool calculator");
    expect(shown.stdout).toContain("answer: It is 144.");
  });

  it("uses the tools of an MCP server given with --mcp, and stops the server with the run", async () => {
    const serverScript = fileURLToPath(new URL("../../test/mcp-test-server.ts", import.meta.url));
    const config = join(root, "servers.json");
    writeFileSync(
      config,
      JSON.stringify({ mcpServers: { calc: { command: process.execPath, args: [serverScript] } } }),
    );
    let calls = 0;
    await using server = await startScriptedServer({
      replies: () =>
        calls++ === 0
          ? { toolCalls: [{ name: "add", arguments: { a: 2, b: 3 } }] }
          : { text: "The sum is 5." },
    });
    const outcome = await runRlm([
      "agent",
      "--task",
      "Add 2 and 3 with the add tool.",
      "--model",
      "openai-compatible:scripted",
      "--base-url",
      server.url,
      "--tools",
      "calculator",
      "--mcp",
      config,
      "--json",
    ]);
    expect(outcome.code, outcome.stderr).toBe(0);
    expect(JSON.parse(outcome.stdout)).toMatchObject({
      answer: "The sum is 5.",
      status: "completed",
      toolCalls: 1,
    });
    const toolResult = JSON.stringify(server.requests[1]?.body?.messages);
    expect(toolResult).toContain("5");
    const broken = join(root, "broken.json");
    writeFileSync(broken, "{ not json");
    const refused = await runRlm([
      "agent",
      "--task",
      "x",
      "--model",
      "openai-compatible:m",
      "--base-url",
      server.url,
      "--mcp",
      broken,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/--mcp .*broken\.json: not valid JSON/);
  });

  it("ends at --max-steps with status 1 and the last call's answer", async () => {
    await using server = await startScriptedServer({
      replies: (request) =>
        JSON.stringify(request.body?.messages).includes("reached a limit")
          ? { text: "partial answer" }
          : { toolCalls: [{ name: "calculator", arguments: { expression: "1+1" } }] },
    });
    const outcome = await runRlm([
      "agent",
      "--task",
      "loop",
      "--model",
      "openai-compatible:scripted",
      "--base-url",
      server.url,
      "--tools",
      "calculator",
      "--max-steps",
      "2",
      "--json",
    ]);
    expect(outcome.code).toBe(1);
    const result = JSON.parse(outcome.stdout);
    expect(result).toMatchObject({ status: "max_steps", answer: "partial answer", steps: 3 });
    expect(result.stopReason).toContain("step limit");
  });

  it("exits 2 with one line for an unknown tool, and for --plan (not built yet)", async () => {
    const unknown = await runRlm([
      "agent",
      "--task",
      "x",
      "--model",
      "openai:gpt-5-mini",
      "--tools",
      "calculator,teleport",
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);
    expect(unknown.stderr).toContain('Unknown tool "teleport"');
    const plan = await runRlm(["agent", "--task", "x", "--plan"]);
    expect(plan.code).toBe(2);
    expect(plan.stderr).toContain("not built yet");
  });
});
