import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileText } from "../context/file-text.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import { Bm25Index } from "./bm25.ts";
import { createDirectStrategy } from "./direct.ts";
import { createMapReduceStrategy } from "./mapreduce.ts";
import { createMemAgentStrategy } from "./memagent.ts";
import { createRagStrategy } from "./rag.ts";
import { resolveStrategy } from "./resolve-strategy.ts";

const NEEDLE = "The vault code is 7781234.";
const context = `${"plain filler words here. ".repeat(4000)}${NEEDLE} ${"more filler text follows. ".repeat(4000)}`;

/** Answers with the vault code when its prompt shows it (in the text or in its notes), else with its notes. */
function readerModel(modelId = "reader") {
  return new ScriptedModel({
    modelId,
    replies: (call) => {
      const code =
        /vault code is (\d+)/.exec(call.lastUserText)?.[1] ?? /code (\d{7})/.exec(call.lastUserText)?.[1];
      return code ? `code ${code}` : "NONE";
    },
  });
}

describe("direct", () => {
  it("puts the whole context in one prompt", async () => {
    const model = readerModel();
    const result = await createDirectStrategy({ model }).run({ context, query: "What is the vault code?" });
    expect(result).toMatchObject({ status: "completed", answer: "code 7781234", subcalls: 1 });
    expect(model.calls[0]?.lastUserText).toContain(NEEDLE);
  });

  it("cuts the context to the window and says so", async () => {
    const model = readerModel();
    const result = await createDirectStrategy({ model, contextWindows: { reader: 10_000 } }).run({
      context,
      query: "q",
    });
    expect(result.answer).toBe("NONE");
    const prompt = model.calls[0]?.lastUserText ?? "";
    expect(prompt).toContain("was cut to its first");
    expect(prompt.length).toBeLessThan(30_000);
  });
});

describe("memagent", () => {
  it("reads chunk by chunk with notes that replace each other, then answers from the notes", async () => {
    const model = readerModel();
    const result = await createMemAgentStrategy({ model, chunkTokens: 2_000 }).run({
      context,
      query: "vault code?",
    });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("code 7781234");
    const chunks = Math.ceil(context.length / 8_000);
    expect(model.calls.length).toBeGreaterThanOrEqual(chunks);
    expect(model.calls.length).toBeLessThanOrEqual(chunks + 2);
    for (const call of model.calls) expect(call.lastUserText.length).toBeLessThan(8_000 + 6_000);
    expect(model.calls.at(-1)?.lastUserText).toContain("kept these notes");
  });

  it("streams a file context block by block", async () => {
    const directory = mkdtempSync(join(tmpdir(), "rlmkit-memagent-"));
    try {
      const path = join(directory, "big.txt");
      writeFileSync(path, context);
      const file = new FileText(path, 10_000);
      const model = readerModel();
      const result = await createMemAgentStrategy({ model, chunkTokens: 1_000 }).run({
        context: file,
        query: "vault code?",
      });
      file.close();
      expect(result.answer).toBe("code 7781234");
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe("mapreduce", () => {
  it("maps chunks in parallel and reduces the findings", async () => {
    const model = readerModel();
    const result = await createMapReduceStrategy({ model, chunkTokens: 5_000 }).run({
      context,
      query: "vault code?",
    });
    expect(result.answer).toBe("code 7781234");
    const last = model.calls.at(-1)?.lastUserText ?? "";
    expect(last).toContain("[1] code 7781234");
    expect(last).not.toContain("NONE");
  });

  it("reduces hierarchically when the findings are too long for one prompt", async () => {
    const model = new ScriptedModel({ modelId: "small", replies: () => "a finding ".repeat(40) });
    const result = await createMapReduceStrategy({
      model,
      chunkTokens: 1_000,
      contextWindows: { small: 1_000 },
    }).run({
      context,
      query: "q",
    });
    expect(result.status).toBe("completed");
    expect(result.iterations).toBeGreaterThan(2);
  });
});

describe("rag", () => {
  it("ranks passages with BM25 and puts the best in one prompt", async () => {
    const index = new Bm25Index(["the cat sat", "vault code here", "dogs bark loudly"]);
    expect(index.search("where is the vault code", 1)).toEqual([1]);
    const model = readerModel();
    const result = await createRagStrategy({ model, topK: 3 }).run({
      context,
      query: "What is the vault code?",
    });
    expect(result.answer).toBe("code 7781234");
    expect(result.subcalls).toBe(1);
  });
});

describe("strategies share limits and accounting", () => {
  it("stops at the sub-call limit with budget_exceeded and reports what was spent", async () => {
    const model = readerModel();
    const result = await createMemAgentStrategy({ model, chunkTokens: 500, limits: { maxSubcalls: 3 } }).run({
      context,
      query: "q",
    });
    expect(result.status).toBe("budget_exceeded");
    expect(model.calls).toHaveLength(3);
    expect(result.usage.total.calls).toBe(3);
    expect(result.trace.at(-1)).toMatchObject({ type: "run-end", status: "budget_exceeded" });
  });

  it("resolves every strategy by name and rejects unknown names", async () => {
    for (const name of ["rlm", "direct", "memagent", "mapreduce", "rag"]) {
      expect(resolveStrategy(name, { model: readerModel() }).name).toBe(name);
    }
    expect(() => resolveStrategy("magic", { model: readerModel() })).toThrow(/Known strategies/);
  });
});

describe("mapreduce over a file", () => {
  it("streams the chunks with a bounded number in flight and stops cleanly at a limit", async () => {
    const directory = mkdtempSync(join(tmpdir(), "rlmkit-mapreduce-"));
    try {
      const path = join(directory, "big.txt");
      writeFileSync(path, context);
      const file = new FileText(path, 10_000);
      let active = 0;
      let peak = 0;
      const model = new ScriptedModel({
        modelId: "m",
        replies: async (call) => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setTimeout(resolve, 5));
          active--;
          const text = call.lastUserText;
          return /vault code is (\d+)/.exec(text)?.[1] ?? /\] (\d{7})/.exec(text)?.[1] ?? "NONE";
        },
      });
      const result = await createMapReduceStrategy({
        model,
        chunkTokens: 1_000,
        limits: { concurrency: 3 },
      }).run({
        context: file,
        query: "vault code?",
      });
      expect(result.answer).toBe("7781234");
      expect(peak).toBeLessThanOrEqual(3);
      const stopped = await createMapReduceStrategy({
        model,
        chunkTokens: 1_000,
        limits: { maxSubcalls: 4 },
      }).run({
        context: file,
        query: "q",
      });
      expect(stopped.status).toBe("budget_exceeded");
      file.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
