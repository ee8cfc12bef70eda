import { describe, expect, it } from "vitest";
import { createPythonSandbox } from "../sandboxes/python/python-sandbox.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import { createRLM } from "./rlm.ts";

const fence = (code: string) => `\`\`\`python\n${code}\n\`\`\``;

describe("RLM on the Python sandbox", () => {
  it("runs python blocks, calls sub-models from Python in parallel, and answers", async () => {
    const context = `${"noise\n".repeat(1000)}order 4417 shipped\n${"noise\n".repeat(1000)}`;
    const root = new ScriptedModel({
      modelId: "root",
      replies: [
        fence("hits = grep(r'order (\\d+) shipped')\nprint(len(hits), hits[0]['match'])"),
        fence(
          "answers = llm_query_batched(['a', 'b', 'c'])\nnumber = hits[0]['match'].split()[1]\nFINAL(number + ' ' + ','.join(answers))",
        ),
      ],
    });
    const sub = new ScriptedModel({
      modelId: "sub",
      replies: (call) => call.lastUserText.slice(-1).toUpperCase(),
    });
    const result = await createRLM({ model: root, subModel: sub, sandbox: createPythonSandbox() }).run({
      context,
      query: "Which order shipped?",
    });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("4417 A,B,C");
    expect(root.calls[0]?.system).toContain("Python REPL");
    expect(root.calls[1]?.lastUserText).toContain("1 order 4417 shipped");
    expect(sub.calls).toHaveLength(3);
  });

  it("accepts the official answer dict convention", async () => {
    const root = new ScriptedModel({
      replies: [fence("answer['content'] = 'done by dict'\nanswer['ready'] = True")],
    });
    const result = await createRLM({ model: root, sandbox: createPythonSandbox() }).run({
      context: "x",
      query: "q",
    });
    expect(result).toMatchObject({ status: "completed", answer: "done by dict" });
  });
});
