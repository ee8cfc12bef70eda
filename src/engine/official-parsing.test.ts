/**
 * Parsing and REPL behaviour as the official RLM implementation has it (issue: runs that never lose their answer).
 */
import { describe, expect, it } from "vitest";
import { ScriptedModel } from "../test/scripted-model.ts";
import { extractCodeBlocks, findProseFinal } from "./parse-reply.ts";
import { createRLM } from "./rlm.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

describe("code blocks close only at a fence at the start of a line", () => {
  it("keeps running after three backticks inside the code", () => {
    const reply = [
      "Let me look.",
      "```repl",
      "# write code in ```repl``` blocks",
      "x = 1",
      "print(x)",
      "```",
      "done",
    ].join("\n");
    expect(extractCodeBlocks(reply, ["repl"])).toEqual([
      { language: "repl", code: "# write code in ```repl``` blocks\nx = 1\nprint(x)\n" },
    ]);
  });

  it("still finds several blocks, and an indented closing fence", () => {
    const reply = "```repl\na = 1\n```\ntext\n  ```python\nb = 2\n  ```\n";
    expect(extractCodeBlocks(reply, ["repl", "python"]).map((block) => block.code)).toEqual([
      "a = 1\n",
      "b = 2\n",
    ]);
  });
});

describe("FINAL in prose", () => {
  it.each([
    ['FINAL("x")', "x"],
    ["FINAL('x')", "x"],
    ["FINAL(x)", "x"],
    [`FINAL("it's")`, "it's"],
    [`FINAL('say "hi"')`, 'say "hi"'],
  ])("%s gives %s", (line, answer) => {
    expect(findProseFinal(`Done.\n${line}`)).toEqual({ kind: "value", text: answer });
  });
});

describe("a model named by position, as the official llm_query(prompt, model) has it", () => {
  it("routes llm_query(prompt, 'other') and llm_query_batched(prompts, 'other'), and refuses an unknown name", async () => {
    const other = new ScriptedModel({ replies: () => "from other", modelId: "other" });
    const root = new ScriptedModel({
      replies: [
        repl(
          [
            "const one = llm_query('hi', 'other')",
            "const many = llm_query_batched(['a', 'b'], 'other')",
            "let refused = ''",
            "try { llm_query('hi', 'nope') } catch (error) { refused = error.message }",
            "FINAL([one, ...many, refused].join(' | '))",
          ].join("\n"),
        ),
      ],
      modelId: "root",
    });
    const result = await createRLM({ model: root, models: { other } }).run({ context: "c", query: "q" });
    expect(result.answer).toMatch(/^from other \| from other \| from other \| .*no model named "nope"/);
  });
});

describe("FINAL without an answer", () => {
  it.each(["FINAL()", "FINAL(undefined)", "FINAL(null)", "FINAL(NaN)"])(
    "%s does not end the run; the model is told and can answer",
    async (call) => {
      const root = new ScriptedModel({ replies: [repl(call), repl("FINAL('real')")], modelId: "root" });
      const result = await createRLM({ model: root }).run({ context: "c", query: "q" });
      expect(result.status).toBe("completed");
      expect(result.answer).toBe("real");
      expect(root.calls[1]?.lastUserText).toMatch(/FINAL was called without an answer/);
    },
  );
});

describe("the REPL's own names are restored after each cell", () => {
  it("in JavaScript", async () => {
    const { createIsolatedVmSandbox } = await import("../sandboxes/isolated-vm/isolated-vm-sandbox.ts");
    const session = await createIsolatedVmSandbox().create({
      globals: { context: "the input" },
      hostFunctions: { llm_query: () => "model says hi" },
      setupCode: ["globalThis.context_0 = context"],
    });
    try {
      const first = await session.execute(
        "context = 'mine'\nllm_query = 5\ncontext_0 = null\nconst mine = 1\nprint('ok')",
      );
      expect(first.output).toMatch(
        /^ok\n\[note: llm_query, context, context_0 are names of the REPL and were restored after this cell/,
      );
      const second = await session.execute("print(context, llm_query('x'), context_0, mine)");
      expect(second.output).toBe("the input model says hi the input 1\n");
      expect((await session.execute("answer.content = 'x'\nprint('quiet')")).output).toBe("quiet\n");
    } finally {
      session.dispose();
    }
  });

  it("in Python", async () => {
    const { createPythonSandbox } = await import("../sandboxes/python/python-sandbox.ts");
    const session = await createPythonSandbox().create({
      globals: { context: "the input" },
      hostFunctions: { llm_query: () => "model says hi" },
    });
    try {
      const first = await session.execute("context = 'mine'\nllm_query = 5\nmine = 1\nprint('ok')");
      expect(first.output).toMatch(/^ok\n\[note: .*restored after this cell/s);
      const second = await session.execute("print(context, llm_query('x'), mine)");
      expect(second.output).toBe("the input model says hi 1\n");
    } finally {
      session.dispose();
    }
  }, 60_000);
});

describe("the nudge after a reply without code", () => {
  it("names the sandbox's language", async () => {
    const { createPythonSandbox } = await import("../sandboxes/python/python-sandbox.ts");
    const root = new ScriptedModel({ replies: ["Let me think.", repl("FINAL('done')")], modelId: "root" });
    const result = await createRLM({ model: root, sandbox: createPythonSandbox() }).run({
      context: "c",
      query: "q",
    });
    expect(result.answer).toBe("done");
    expect(root.calls[1]?.lastUserText).toMatch(/Write Python in a ```repl block/);
  }, 60_000);
});
