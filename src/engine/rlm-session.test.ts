import { describe, expect, it } from "vitest";
import { createPythonSandbox } from "../sandboxes/python/python-sandbox.ts";
import { type ScriptedCall, ScriptedModel } from "../test/scripted-model.ts";
import { createRLM } from "./rlm.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

/** The first user message of the turn a call belongs to. */
const turnQuestion = (call: ScriptedCall) =>
  /Question: (.*)/.exec(call.messages.find((message) => message.role === "user")?.text ?? "")?.[1];

describe("RLM.session", () => {
  it("survives code that locks the REPL's globals, and keeps history bounded", async () => {
    const model = new ScriptedModel({
      modelId: "root",
      replies: (call) =>
        turnQuestion(call) === "lock"
          ? repl(
              'Object.defineProperty(globalThis, "history_0", { value: 1, configurable: false }); Object.preventExtensions(globalThis); FINAL("z".repeat(100000))',
            )
          : repl("FINAL(String(history[0].answer.length))"),
    });
    await using session = createRLM({ model }).session({ context: "c" });
    expect((await session.ask({ query: "lock" })).status).toBe("completed");
    const second = await session.ask({ query: "again" });
    expect(second.status).toBe("completed");
    expect(Number(second.answer)).toBeLessThanOrEqual(20_010);
    const third = await session.ask({ query: "once more" });
    expect(third.status).toBe("completed");
  });

  it("keeps variables, history and later contexts across turns", async () => {
    const model = new ScriptedModel({
      modelId: "root",
      replies: (call) => {
        const question = turnQuestion(call);
        if (question === "how many documents?")
          return repl("const counted = context.length\nFINAL(String(counted))");
        if (question === "what now?") {
          return repl(
            [
              "const hits = grep('needle', {text: context_1})",
              "FINAL({ counted, history, first: history_0, c0: context_0 === context, c1: context_1, doc1: context[1].text ?? context[1], hit: hits[0].match, main: grep('alpha').length })",
            ].join("\n"),
          );
        }
        return "no script";
      },
    });
    const rlm = createRLM({ model });
    await using session = rlm.session({
      context: [
        { id: "a", text: "alpha doc" },
        { id: "b", text: "beta doc" },
      ],
    });
    const first = await session.ask({ query: "how many documents?" });
    expect(first.status).toBe("completed");
    expect(first.answer).toBe("2");

    const second = await session.ask({ query: "what now?", context: "a haystack with a needle in it" });
    expect(second.status).toBe("completed");
    expect(second.answer).toEqual({
      counted: 2,
      history: [{ query: "how many documents?", answer: "2", status: "completed" }],
      first: { query: "how many documents?", answer: "2", status: "completed" },
      c0: true,
      c1: "a haystack with a needle in it",
      doc1: "beta doc",
      hit: "needle",
      main: 1,
    });
    // The turn's first message names every context and the earlier turns.
    const opening = model.calls.at(-1)?.messages.find((message) => message.role === "user")?.text ?? "";
    expect(opening).toContain("`context` (also `context_0`)");
    expect(opening).toContain("`context_1`");
    expect(opening).toContain("question 2 of a conversation");
    expect(session.history).toHaveLength(2);
    // The session's trace holds both turns.
    expect(session.events.filter((event) => event.type === "run-start")).toHaveLength(2);
  });

  it("needs a context before the first question, and a cancelled turn leaves the session usable", async () => {
    const model = new ScriptedModel({
      modelId: "root",
      replies: (call) =>
        turnQuestion(call) === "slow"
          ? { text: repl("FINAL('late')"), delayMs: 5_000 }
          : repl("FINAL(typeof kept === 'undefined' ? 'fresh' : kept)"),
    });
    const session = createRLM({ model }).session();
    await expect(session.ask({ query: "q" })).rejects.toThrow(/needs a context/);
    const controller = new AbortController();
    const slow = session.ask({ query: "slow", context: "text", signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect((await slow).status).toBe("cancelled");
    const after = await session.ask({ query: "again" });
    expect(after.status).toBe("completed");
    expect(after.answer).toBe("fresh");
    await session.close();
    await expect(session.ask({ query: "more" })).rejects.toThrow(/closed/);
  });

  it("names contexts and history the same way in the Python sandbox", async () => {
    const model = new ScriptedModel({
      modelId: "root",
      replies: (call) =>
        turnQuestion(call) === "one"
          ? repl("kept = len(context)\nFINAL(str(kept))")
          : repl(
              "FINAL(f\"{kept} {history[0]['answer']} {history_0['query']} {context_1} {context_0 == context} {grep('needle', {'text': context_1})[0]['match']}\")",
            ),
    });
    await using session = createRLM({ model, sandbox: createPythonSandbox() }).session({
      context: ["a doc", "b doc"],
    });
    expect((await session.ask({ query: "one" })).answer).toBe("2");
    const second = await session.ask({ query: "two", context: "with needle" });
    expect(second.answer).toBe("2 2 one with needle True needle");
  });
});
