import { describe, expect, it } from "vitest";
import { createPythonSandbox } from "../sandboxes/python/python-sandbox.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import { findProseFinal } from "./parse-reply.ts";
import { createRLM } from "./rlm.ts";

const js = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const py = (code: string) => `\`\`\`python\n${code}\n\`\`\``;

describe("paper-era FINAL in prose", () => {
  it("takes FINAL only on its own line, outside code, with balanced parentheses", () => {
    expect(findProseFinal("Done.\nFINAL(42 (approximately))\n")).toEqual({
      kind: "value",
      text: "42 (approximately)",
    });
    expect(findProseFinal("I will call FINAL(x) when ready.")).toBeUndefined();
    expect(findProseFinal("```repl\nFINAL(1)\n```")).toBeUndefined();
    expect(findProseFinal("FINAL(unbalanced")).toBeUndefined();
    expect(findProseFinal("FINAL_VAR(result)")).toEqual({ kind: "variable", name: "result" });
    expect(findProseFinal('FINAL_VAR("result")')).toEqual({ kind: "variable", name: "result" });
    expect(findProseFinal("FINAL(a\nb)")).toEqual({ kind: "value", text: "a\nb" });
  });

  it("looks the FINAL_VAR variable up in the REPL and reports a missing one instead of returning its name", async () => {
    const root = new ScriptedModel({
      replies: ["FINAL_VAR(total)", js("const total = 12"), "FINAL_VAR(total)"],
    });
    const result = await createRLM({ model: root }).run({ context: "x", query: "q" });
    expect(result).toMatchObject({ status: "completed", answer: 12 });
    expect(root.calls[1]?.lastUserText).toContain('no variable named "total"');
  });
});

describe("the official answer convention", () => {
  it("ends the run when JavaScript sets answer.ready", async () => {
    const root = new ScriptedModel({
      replies: [js("answer.content = 'from the object'\nanswer.ready = true")],
    });
    expect((await createRLM({ model: root }).run({ context: "x", query: "q" })).answer).toBe(
      "from the object",
    );
  });

  it("ends the run when Python sets answer['ready']", async () => {
    const root = new ScriptedModel({
      replies: [py("answer['content'] = 'from the dict'\nanswer['ready'] = True")],
    });
    const result = await createRLM({ model: root, sandbox: createPythonSandbox() }).run({
      context: "x",
      query: "q",
    });
    expect(result.answer).toBe("from the dict");
  });
});

describe("context_0 and friends", () => {
  it("aliases context as context_0, and each document as context_i (JavaScript)", async () => {
    const root = new ScriptedModel({ replies: [js("FINAL([context_0, context_1].join('|'))")] });
    const result = await createRLM({ model: root }).run({
      context: [{ id: "a", text: "first" }, "second"],
      query: "q",
    });
    expect(result.answer).toBe("first|second");
    const single = new ScriptedModel({ replies: [js("FINAL(context_0 === context)")] });
    expect((await createRLM({ model: single }).run({ context: "text", query: "q" })).answer).toBe(true);
  });

  it("aliases them in Python too", async () => {
    const root = new ScriptedModel({ replies: [py("FINAL(context_0 + '|' + context_1)")] });
    const result = await createRLM({ model: root, sandbox: createPythonSandbox() }).run({
      context: [{ id: "a", text: "first" }, "second"],
      query: "q",
    });
    expect(result.answer).toBe("first|second");
  });
});

describe("--prompt-style", () => {
  it("teaches the chosen way of finishing, in our words", async () => {
    const { systemPrompt } = await import("./prompts.ts");
    const base = { recursive: false, outputLimitChars: 20_000 };
    expect(systemPrompt({ ...base, style: "paper" })).toContain(
      "on a line of its own in your reply, outside any code block",
    );
    expect(systemPrompt({ ...base, style: "official", language: "python" })).toContain(
      'answer["ready"] = True',
    );
    expect(systemPrompt({ ...base, style: "official" })).toContain("answer.ready = true");
    expect(systemPrompt(base)).toContain("FINAL(value)");
  });
});
