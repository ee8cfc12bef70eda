/** The planner/executor (`planner`) with real tools (calculator, run_code) and a scripted model. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { callsOf, scriptedAgentModel } from "../../test/agent-script.ts";
import type { IterationEndEvent } from "../engine/run-events.ts";
import { createCaseBank } from "../learning/case-bank.ts";
import { createMemory } from "../memory/memory.ts";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import { createAgent } from "./agent.ts";
import { createRunCodeTool } from "./run-code-tool.ts";
import { createCalculatorTool } from "./tools/index.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-planner-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const labels = (events: readonly { type: string }[]) =>
  events
    .filter((event): event is IterationEndEvent => event.type === "iteration-end")
    .flatMap((event) => event.cells.map((cell) => cell.code));

describe("the planner/executor", () => {
  it("plans, runs each step with real tools, synthesises, and verifies the claims", async () => {
    const plan = {
      steps: [
        { id: "a", goal: "Compute 17 times 23", tool: "calculator" },
        { id: "b", goal: "Reverse the digits of that product with code", tool: "RUN-CODE" },
      ],
    };
    const model = scriptedAgentModel({
      planner: () => `Here is the plan:\n\`\`\`json\n${JSON.stringify(plan)}\n\`\`\``,
      executor: (call) => {
        const second = call.system.includes("This step's goal: Reverse the digits");
        const toolDone = call.messages.some((message) => message.role === "tool");
        if (!second)
          return toolDone
            ? "17 times 23 is 391."
            : { toolCalls: [{ name: "calculator", input: { expression: "17*23" } }] };
        return toolDone
          ? "Reversed, 391 is 193."
          : {
              toolCalls: [{ name: "run_code", input: { code: "String(391).split('').reverse().join('')" } }],
            };
      },
      synthesis: () => "17 x 23 = 391, and its digits reversed are 193.",
      claims: () => JSON.stringify({ claims: ["17 x 23 = 391", "391 reversed is 193"] }),
      check: () =>
        JSON.stringify({
          results: [
            { claim: 1, supported: true, evidence: "E1" },
            { claim: 2, supported: true, evidence: "e2" },
          ],
        }),
    });
    const agent = createAgent({
      model,
      tools: { calculator: createCalculatorTool(), run_code: createRunCodeTool() },
      planner: true,
    });
    const result = await agent.run({ task: "Multiply 17 by 23, then reverse the digits." });

    expect(result.status).toBe("completed");
    expect(result.answer).toBe("17 x 23 = 391, and its digits reversed are 193.");
    expect(result.plan?.steps.map((step) => [step.goal, step.tool, step.status])).toEqual([
      ["Compute 17 times 23", "calculator", "done"],
      ["Reverse the digits of that product with code", "run_code", "done"],
    ]);
    expect(result.plan?.steps[1]?.result).toBe("Reversed, 391 is 193.");
    expect(result.verification).toMatchObject({
      status: "confirmed",
      checked: 2,
      supported: 2,
      unsupported: 0,
    });
    expect(result.verification?.claims.map((claim) => claim.evidence)).toEqual(["E1", "E2"]);
    expect(result.toolCalls).toBe(2);
    // plan 1 + two executor steps of 2 + synthesis 1 + claims and check 2
    expect(result.steps).toBe(8);

    // The planner saw the tools; each executor step restated the task, the plan and what earlier steps found.
    expect(callsOf(model, "planner")[0]?.lastUserText).toContain("- calculator:");
    const secondStep = callsOf(model, "executor")[2];
    expect(secondStep?.system).toContain("Multiply 17 by 23, then reverse the digits.");
    expect(secondStep?.system).toContain("17 times 23 is 391.");
    expect(secondStep?.system).toMatch(/Step \d+ of at most 20/);
    // The synthesis read the steps' results; the check read the real tools' outputs as evidence.
    expect(callsOf(model, "synthesis")[0]?.lastUserText).toContain("Reversed, 391 is 193.");
    const check = callsOf(model, "check")[0]?.lastUserText ?? "";
    expect(check).toMatch(/\[E1 · calculator [^\]]*17\*23[^\]]*\]\n\{"result":"391"/);
    expect(check).toMatch(/\[E2 · run_code [^\]]*\]\n193/);

    // The trace: each step labelled, tool calls inside their steps, the verification as an event.
    expect(labels(result.trace)).toEqual([
      "plan",
      "step 1 of 2: Compute 17 times 23",
      "step 2 of 2: Reverse the digits of that product with code",
      "synthesis",
      "verification: claims",
      "verification: check",
    ]);
    const verification = result.trace.find((event) => event.type === "verification");
    expect(verification).toMatchObject({ status: "confirmed" });
    expect(verification?.type === "verification" && verification.evidence).toContain(
      "2 claims checked: 2 supported, 0 unsupported",
    );
    const totals = result.trace
      .filter((event): event is IterationEndEvent => event.type === "iteration-end")
      .reduce((sum, event) => sum + event.usage.inputTokens + event.usage.outputTokens, 0);
    expect(totals).toBe(result.usage.total.inputTokens + result.usage.total.outputTokens);
  });

  it("revises the plan after a step whose tool calls all fail", async () => {
    const broken = {
      description: "looks a number up (down today)",
      execute: () => Promise.reject(new Error("lookup service unavailable")),
    };
    const model = scriptedAgentModel({
      planner: (call) =>
        call.lastUserText.includes("failed. Write a new plan")
          ? JSON.stringify({ steps: [{ goal: "Compute 2 to the 10th power", tool: "calculator" }] })
          : JSON.stringify({ steps: [{ goal: "Look up 2 to the 10th power", tool: "lookup" }] }),
      executor: (call) => {
        const toolDone = call.messages.some((message) => message.role === "tool");
        if (call.system.includes("This step's goal: Look up")) {
          return toolDone
            ? "The lookup failed."
            : { toolCalls: [{ name: "lookup", input: { key: "2^10" } }] };
        }
        return toolDone
          ? "2^10 = 1024."
          : { toolCalls: [{ name: "calculator", input: { expression: "2^10" } }] };
      },
      synthesis: () => "2 to the 10th is 1024.",
    });
    const result = await createAgent({
      model,
      tools: { lookup: broken, calculator: createCalculatorTool() },
      planner: { maxRevisions: 1 },
      verify: false,
    }).run({ task: "What is 2 to the 10th power?" });

    expect(result.status).toBe("completed");
    expect(result.answer).toBe("2 to the 10th is 1024.");
    expect(result.plan?.revisions).toBe(1);
    expect(result.plan?.steps.map((step) => step.status)).toEqual(["failed", "done"]);
    expect(result.plan?.steps[0]?.error).toContain("lookup service unavailable");
    // The revision call was told what failed and why.
    const revision = callsOf(model, "planner")[1]?.lastUserText ?? "";
    expect(revision).toContain("(failed)");
    expect(revision).toContain("lookup service unavailable");
    expect(labels(result.trace)).toContain("revise plan after step 1");
    expect(result.verification).toBeUndefined();
  });

  it("retries a malformed plan once, then falls back to the plain tool loop and says so", async () => {
    const model = scriptedAgentModel({
      planner: () => "I would first think about it, then answer.",
      loop: (call) =>
        call.messages.some((message) => message.role === "tool")
          ? "It is 12."
          : { toolCalls: [{ name: "calculator", input: { expression: "3*4" } }] },
    });
    const result = await createAgent({
      model,
      tools: { calculator: createCalculatorTool() },
      planner: true,
      verify: false,
    }).run({ task: "What is 3 times 4?" });

    expect(result.status).toBe("completed");
    expect(result.answer).toBe("It is 12.");
    expect(callsOf(model, "planner")).toHaveLength(2);
    expect(callsOf(model, "planner")[1]?.lastUserText).toContain("not a usable plan");
    expect(result.plan?.fallback).toContain("no usable plan");
    expect(result.warnings?.join("\n")).toContain("plain tool loop");
    expect(labels(result.trace)[1]).toMatch(/^plan \(retry: no JSON object/);
    // planner twice, then the loop's two steps
    expect(result.steps).toBe(4);
  });

  it("drops a tool the agent does not have, and cuts a plan past its cap", async () => {
    const steps = Array.from({ length: 5 }, (_, index) => ({ goal: `part ${index + 1}`, tool: "teleport" }));
    const model = scriptedAgentModel({
      planner: () => JSON.stringify({ steps }),
      executor: (call) => `done: ${/This step's goal: (.*)/.exec(call.system)?.[1]}`,
      synthesis: () => "all parts done",
    });
    const result = await createAgent({
      model,
      tools: { calculator: createCalculatorTool() },
      planner: { maxPlanSteps: 3 },
      verify: false,
    }).run({ task: "Do the parts." });
    expect(result.plan?.steps.map((step) => [step.goal, step.tool])).toEqual([
      ["part 1", undefined],
      ["part 2", undefined],
      ["part 3", undefined],
    ]);
    expect(result.plan?.notes.join("\n")).toContain('unknown tool "teleport"');
    expect(result.plan?.notes.join("\n")).toContain("more than 3 steps");
    expect(result.plan?.steps[2]?.result).toBe("done: part 3");
  });

  it("at the step limit during the plan still ends with an answer, status and stopReason", async () => {
    const model = scriptedAgentModel({
      planner: () => JSON.stringify({ steps: [{ goal: "one" }, { goal: "two" }] }),
      executor: () => "one is done",
      synthesis: (call) => (call.lastUserText.includes("stopped early") ? "only part one: 1" : "full"),
    });
    const result = await createAgent({
      model,
      tools: {},
      planner: true,
      verify: false,
      limits: { maxSteps: 2 },
    }).run({ task: "Do one, then two." });
    expect(result.status).toBe("max_steps");
    expect(result.stopReason).toContain("step limit");
    expect(result.answer).toBe("only part one: 1");
    expect(result.plan?.steps.map((step) => step.status)).toEqual(["done", "not-run"]);
    expect(result.steps).toBe(3);
  });

  it("at the token limit before the planner can be called still ends with an answer", async () => {
    const model = scriptedAgentModel({
      synthesis: () => ({ text: "nothing found yet", usage: { input: 50, output: 5 } }),
    });
    const result = await createAgent({
      model,
      tools: { calculator: createCalculatorTool() },
      planner: true,
      limits: { maxTokens: 300 },
    }).run({ task: "A task whose plan the budget cannot cover." });
    expect(result.status).toBe("budget_exceeded");
    expect(result.stopReason).toContain("token budget of 300");
    expect(result.answer).toBe("nothing found yet");
    expect(callsOf(model, "planner")).toHaveLength(0);
    // Verification's calls are refused by the spent budget: the answer stands, marked as not checked.
    expect(result.verification).toMatchObject({ status: "unverified", checked: 0 });
    expect(result.verification?.skipped).toContain("budget");
  });

  it("with a memory, records the run as a case and shows it to the next run's planner", async () => {
    const path = join(root, "cases.db");
    const model = scriptedAgentModel({
      planner: () => JSON.stringify({ steps: [{ goal: "Compute the area", tool: "calculator" }] }),
      executor: (call) =>
        call.messages.some((message) => message.role === "tool")
          ? "The area is 12."
          : { toolCalls: [{ name: "calculator", input: { expression: "3*4" } }] },
      synthesis: () => "The area of the 3 by 4 rectangle is 12.",
    });
    const runOnce = async (task: string) => {
      const memory = createMemory({ store: await openMemoryStore(path) });
      try {
        const agent = createAgent({
          model,
          tools: { calculator: createCalculatorTool() },
          memory,
          learners: [createCaseBank({ memory, temperature: 0 })],
          planner: true,
          verify: false,
        });
        return await agent.run({ task });
      } finally {
        await memory.close();
      }
    };
    const first = await runOnce("Find the area of a rectangle 3 by 4");
    expect(first.status).toBe("completed");
    await runOnce("Find the area of a rectangle 5 by 6");

    const plannerPrompts = callsOf(model, "planner").map((call) => call.lastUserText);
    expect(plannerPrompts[0]).not.toContain("<cases>");
    expect(plannerPrompts[1]).toContain("<cases>");
    expect(plannerPrompts[1]).toContain("Find the area of a rectangle 3 by 4");
    expect(plannerPrompts[1]).toContain("plan: 1. Compute the area [tool: calculator] (done)");

    const memory = createMemory({ store: await openMemoryStore(path) });
    try {
      const bank = createCaseBank({ memory });
      const cases = await bank.list();
      expect(cases.map((view) => view.task)).toEqual([
        "Find the area of a rectangle 3 by 4",
        "Find the area of a rectangle 5 by 6",
      ]);
      expect(cases[1]?.shown).toEqual([cases[0]?.id]);
      // `rlm feedback` works on an agent's case: the case shown to the second run gets its reward.
      const feedback = await bank.feedback(cases[1]?.runId ?? "", "good");
      expect(feedback.rewarded).toEqual([cases[0]?.id]);
    } finally {
      await memory.close();
    }
  });
});
