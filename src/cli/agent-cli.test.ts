/** `rlm agent` end to end against the scripted server, which answers with tool calls. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { startOtlpReceiver } from "../../test/otlp-receiver.ts";
import { runRlm, runRlmHere } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-agent-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The agent on the scripted server's model, with the calculator among its tools. */
const calculatorAgent = (url: string) => [
  ...["--model", "openai-compatible:scripted", "--base-url", url],
  ...["--tools", "calculator"],
];

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
      ...calculatorAgent(server.url),
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
      ...calculatorAgent(server.url),
      "--max-steps",
      "2",
      "--json",
    ]);
    expect(outcome.code).toBe(1);
    const result = JSON.parse(outcome.stdout);
    expect(result).toMatchObject({ status: "max_steps", answer: "partial answer", steps: 3 });
    expect(result.stopReason).toContain("step limit");
  });

  it("--plan runs planner, step and synthesis, verifies the claims, and prints verification in --json", async () => {
    const roleOf = (messages: Array<{ role: string; content: unknown }> = []) => {
      const system = JSON.stringify(messages.filter((message) => message.role === "system"));
      if (system.includes("You plan the work")) return "planner";
      if (system.includes("You write the final answer")) return "synthesis";
      if (system.includes("You list the checkable claims")) return "claims";
      if (system.includes("You check claims against evidence")) return "check";
      return messages.some((message) => message.role === "tool") ? "step-done" : "step";
    };
    const replies = {
      planner: { text: JSON.stringify({ steps: [{ id: "1", goal: "Compute 12*12", tool: "calculator" }] }) },
      step: { toolCalls: [{ name: "calculator", arguments: { expression: "12*12" } }] },
      "step-done": { text: "12*12 = 144" },
      synthesis: { text: "It is 144." },
      claims: { text: '{"claims": ["12 squared is 144"]}' },
      check: { text: '{"results": [{"claim": 1, "supported": true, "evidence": "E1"}]}' },
    };
    await using server = await startScriptedServer({
      replies: (request) => replies[roleOf(request.body?.messages)],
    });
    const trace = join(root, "plan.jsonl");
    await using collector = await startOtlpReceiver();
    const outcome = await runRlmHere(
      [
        "agent",
        "--task",
        "What is 12 squared?",
        ...calculatorAgent(server.url),
        "--plan",
        "--trace",
        trace,
        "--otel",
        collector.url,
        "--json",
      ],
      root,
    );
    expect(outcome.code, outcome.stderr).toBe(0);
    // The same run went to the OpenTelemetry collector: the agent as invoke_agent, the calculator as execute_tool.
    const names = collector.spans.map((span) => span.name);
    expect(names).toContain("invoke_agent rlm-agent");
    expect(names).toContain("execute_tool calculator");
    const result = JSON.parse(outcome.stdout);
    expect(result).toMatchObject({
      answer: "It is 144.",
      status: "completed",
      stopReason: null,
      steps: 6,
      toolCalls: 1,
      verification: { status: "confirmed", checked: 1, supported: 1, unsupported: 0 },
      plan: { steps: [{ goal: "Compute 12*12", tool: "calculator", status: "done" }], revisions: 0 },
    });
    const shown = await runRlmHere(["trace", "show", trace], root);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/\bplan\b/);
    expect(shown.stdout).toContain("step 1 of 1: Compute 12*12");
    expect(shown.stdout).toContain("tool calculator");
    expect(shown.stdout).toContain("verification: confirmed");
    expect(shown.stdout).toContain("answer: It is 144.");
  });

  it("exits 2 with one line for an unknown tool, and for --verify with --no-verify", async () => {
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
    const both = await runRlmHere(["agent", "--task", "x", "--plan", "--verify", "--no-verify"], root);
    expect(both.code).toBe(2);
    expect(both.stderr.trim().split("\n")).toHaveLength(1);
    expect(both.stderr).toContain("--verify or --no-verify, not both");
  });
});
