import { describe, expect, it } from "vitest";
import { ScriptedModel } from "../test/scripted-model.ts";
import { createAgent } from "./agent.ts";
import { createCalculatorTool } from "./tools/index.ts";

const echo = {
  description: "returns its text",
  parameters: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  execute: ({ text }: { text: string }) => text,
};

describe("createAgent", () => {
  it("calls a tool, reads its result and answers", async () => {
    const model = new ScriptedModel({
      replies: [{ toolCalls: [{ name: "calculator", input: { expression: "6*7" } }] }, "The answer is 42."],
    });
    const agent = createAgent({ model, tools: { calculator: createCalculatorTool() } });
    const result = await agent.run({ task: "What is 6 times 7?" });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("The answer is 42.");
    expect(result.steps).toBe(2);
    expect(result.toolCalls).toBe(1);
    const end = result.trace.find((event) => event.type === "tool-end");
    expect(end).toMatchObject({ tool: "calculator", ok: true });
    expect(JSON.stringify(model.calls[1]?.options.prompt)).toContain("42");
    // The task is restated at every step.
    expect(model.calls[1]?.system).toContain("What is 6 times 7?");
    expect(result.trace.map((event) => event.type)).toEqual([
      "run-start",
      "iteration-start",
      "tool-start",
      "tool-end",
      "iteration-end",
      "iteration-start",
      "iteration-end",
      "run-end",
    ]);
  });

  it("gives a failing tool's error to the model as a result, and the run completes", async () => {
    const model = new ScriptedModel({
      replies: [{ toolCalls: [{ name: "broken", input: {} }] }, "It failed, so: unknown."],
    });
    const broken = { description: "fails", execute: () => Promise.reject(new Error("disk on fire")) };
    const result = await createAgent({ model, tools: { broken } }).run({ task: "try" });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("It failed, so: unknown.");
    expect(JSON.stringify(model.calls[1]?.options.prompt)).toContain("Error: disk on fire");
    expect(result.trace.find((event) => event.type === "tool-end")).toMatchObject({
      ok: false,
      error: "disk on fire",
    });
  });

  it("at the step limit ends with one last call that answers, with status and stopReason", async () => {
    const model = new ScriptedModel({
      replies: (call) =>
        call.system.includes("no more tools") || call.lastUserText.includes("reached a limit")
          ? "Best so far: 3."
          : { toolCalls: [{ name: "echo", input: { text: "again" } }] },
    });
    const result = await createAgent({ model, tools: { echo }, limits: { maxSteps: 2 } }).run({
      task: "loop",
    });
    expect(result.status).toBe("max_steps");
    expect(result.stopReason).toContain("step limit of 2");
    expect(result.answer).toBe("Best so far: 3.");
    expect(result.steps).toBe(3);
    expect(model.calls).toHaveLength(3);
  });

  it("stops at the tool call limit", async () => {
    const model = new ScriptedModel({
      replies: (call) =>
        call.lastUserText.includes("reached a limit")
          ? "done"
          : {
              toolCalls: [
                { name: "echo", input: { text: "a" } },
                { name: "echo", input: { text: "b" } },
              ],
            },
    });
    const result = await createAgent({ model, tools: { echo }, limits: { maxToolCalls: 3 } }).run({
      task: "t",
    });
    expect(result.status).toBe("max_tool_calls");
    expect(result.answer).toBe("done");
    expect(result.toolCalls).toBe(3);
  });

  it("stops before a step the token budget cannot cover, not one step past it", async () => {
    const model = new ScriptedModel({
      replies: (call) =>
        call.lastUserText.includes("reached a limit")
          ? { text: "partial", usage: { input: 20, output: 5 } }
          : { toolCalls: [{ name: "echo", input: { text: "a" } }], usage: { input: 600, output: 10 } },
    });
    const result = await createAgent({ model, tools: { echo }, limits: { maxTokens: 1000 } }).run({
      task: "t",
    });
    expect(result.status).toBe("budget_exceeded");
    expect(result.stopReason).toContain("cannot cover another step");
    expect(result.answer).toBe("partial");
    // One step (610 tokens) and the last call: a second step would have taken the loop to 1,220 of 1,000.
    expect(model.calls).toHaveLength(2);
    expect(result.steps).toBe(2);
    expect(result.usage.total.inputTokens + result.usage.total.outputTokens).toBe(635);
    // The step went out with an output cap that fits the budget.
    expect(model.calls[0]?.options.maxOutputTokens).toBeLessThanOrEqual(1000);
  });

  it("cuts a long tool output for the model and keeps the whole of it in the trace", async () => {
    const long = `${"a".repeat(5_000)}MIDDLE${"z".repeat(5_000)}`;
    const model = new ScriptedModel({
      replies: [{ toolCalls: [{ name: "echo", input: { text: long } }] }, "ok"],
    });
    const result = await createAgent({ model, tools: { echo }, limits: { maxToolOutputChars: 1_000 } }).run({
      task: "t",
    });
    const seen = JSON.stringify(model.calls[1]?.options.prompt.filter((message) => message.role === "tool"));
    expect(seen).not.toContain("MIDDLE");
    expect(seen).toContain("characters cut here");
    const end = result.trace.find((event) => event.type === "tool-end");
    expect(end?.type === "tool-end" && end.output).toBe(long);
  });

  it("never writes a key of the environment into its events", async () => {
    const secret = "sk-test-0123456789abcdef";
    const leaky = { description: "leaks", execute: () => `the key is ${secret}` };
    const model = new ScriptedModel({ replies: [{ toolCalls: [{ name: "leaky", input: {} }] }, "fine"] });
    const result = await createAgent({ model, tools: { leaky }, env: { SEARCH_API_KEY: secret } }).run({
      task: "t",
    });
    expect(JSON.stringify(result.trace)).not.toContain(secret);
  });

  it("refuses bad planner, verify and limit options with the field named", () => {
    const model = new ScriptedModel({ replies: ["x"] });
    expect(() => createAgent({ model, tools: {}, planner: { maxPlanSteps: 9 } })).toThrow(
      /planner\.maxPlanSteps/,
    );
    expect(() => createAgent({ model, tools: {}, verify: { maxClaims: 0 } })).toThrow(/verify\.maxClaims/);
    expect(() => createAgent({ model, tools: {}, limits: { maxSteps: 0 } })).toThrow(/maxSteps/);
  });
});
