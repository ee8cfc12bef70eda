import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { type ScriptedCall, ScriptedModel, type ScriptedReply } from "../test/scripted-model.ts";
import { type ScriptedServer, type ServerReply, startScriptedServer } from "../test/scripted-server.ts";
import { createRLM, type RLMOptions } from "./rlm.ts";

const NEEDLE_CONTEXT = `${"filler line about nothing\n".repeat(20_000)}The secret code is 7781234.\n${"more filler\n".repeat(20_000)}`;

/** A root model that plays a script of replies, one per turn. */
function rootModel(replies: ScriptedReply[] | ((call: ScriptedCall) => ScriptedReply)) {
  return new ScriptedModel({ replies, modelId: "root" });
}

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Root and sub-model both served over real HTTP by one scripted server, told apart by model id. */
async function httpModels(
  root: (text: string, index: number) => ServerReply,
  sub: (text: string) => ServerReply,
) {
  let rootCalls = 0;
  server = await startScriptedServer({
    replies: (request) => {
      const messages = request.body?.messages ?? [];
      const last = messages.at(-1);
      const text = typeof last?.content === "string" ? last.content : JSON.stringify(last?.content ?? "");
      return request.body?.model === "root" ? root(text, rootCalls++) : sub(text);
    },
  });
  const settings = { baseUrl: server.url, env: {} };
  return {
    model: "openai-compatible:root",
    subModel: "openai-compatible:sub",
    settings,
  } satisfies Partial<RLMOptions>;
}

describe("RLM over the scripted OpenAI-compatible server", () => {
  it("finds a needle by code and never sends the context to the root model", async () => {
    const models = await httpModels(
      (_text, index) =>
        [
          {
            text: `Let me search.\n${repl("const hits = grep('secret code is (\\\\d+)')\nprint(hits.length, hits[0].match)")}`,
          },
          { text: repl("const code = hits[0].match.match(/\\d+/)[0]\nFINAL(code)") },
        ][index] ?? { text: "no more" },
      () => ({ text: "unused" }),
    );
    const result = await createRLM(models).run({
      context: NEEDLE_CONTEXT,
      query: "What is the secret code?",
    });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("7781234");
    expect(result.iterations).toBe(2);
    expect(result.subcalls).toBe(0);
    const sent = server?.requests.map((request) => JSON.stringify(request.body)).join("") ?? "";
    expect(sent).not.toContain("7781234.");
    expect(sent.length).toBeLessThan(NEEDLE_CONTEXT.length / 10);
    expect(result.usage.total.calls).toBe(2);
    expect(result.usage.byModel["openai-compatible:root"]?.calls).toBe(2);
    expect(result.trace.map((event) => event.type)).toEqual([
      "run-start",
      "iteration-start",
      "iteration-end",
      "iteration-start",
      "iteration-end",
      "run-end",
    ]);
  });

  it("keeps variables across iterations and feeds outputs back", async () => {
    const seen: string[] = [];
    const models = await httpModels(
      (text, index) => {
        seen.push(text);
        return (
          [
            { text: repl("const lines = context.split('\\n').length\nprint('lines', lines)") },
            { text: repl("FINAL(String(lines))") },
          ][index] ?? { text: "done" }
        );
      },
      () => ({ text: "unused" }),
    );
    const result = await createRLM(models).run({ context: "a\nb\nc", query: "How many lines?" });
    expect(result.answer).toBe("3");
    expect(seen[1]).toContain("lines 3");
  });

  it("runs a batch of sub-calls in parallel and sends each the goal header", async () => {
    const models = await httpModels(
      (_text, index) =>
        [
          {
            text: repl(
              "const parts = chunk(context, { size: 10 })\nconst answers = llm_query_batched(parts.map((p) => 'Count the x in: ' + p))\nFINAL(answers.join('|'))",
            ),
          },
        ][index] ?? { text: "done" },
      (text) => ({ text: `seen ${text.length}`, delayMs: 200 }),
    );
    const context = Array.from({ length: 8 }, (_, index) => `${index}`.padEnd(10, "x")).join("");
    const result = await createRLM({ ...models, limits: { concurrency: 8 } }).run({
      context,
      query: "Count x",
    });
    expect(result.status).toBe("completed");
    expect(String(result.answer).split("|")).toHaveLength(8);
    expect(result.subcalls).toBe(8);
    const subRequests = server?.requests.filter((request) => request.body?.model === "sub") ?? [];
    expect(subRequests).toHaveLength(8);
    for (const request of subRequests) expect(JSON.stringify(request.body)).toContain("Count x");
    const starts = result.trace.filter((event) => event.type === "subcall-start").map((event) => event.at);
    const ends = result.trace.filter((event) => event.type === "subcall-end").map((event) => event.at);
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
  });

  it("returns an error marker for a failing sub-model and goes on", async () => {
    const models = await httpModels(
      (_text, index) =>
        [
          { text: repl("const a = llm_query('first')\nprint(a)") },
          { text: repl("FINAL(a.startsWith('[llm_query error') ? 'marked' : a)") },
        ][index] ?? { text: "done" },
      () => ({ status: 400, error: "the sub-model cannot do this" }),
    );
    const result = await createRLM(models).run({ context: "x", query: "q" });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("marked");
    const end = result.trace.find((event) => event.type === "subcall-end");
    expect(end).toMatchObject({ ok: false });
  });
});

describe("RLM with scripted models", () => {
  it("answers with FINAL_VAR and reports a missing variable to the model", async () => {
    const root = rootModel([
      repl("FINAL_VAR('summary')"),
      repl("const summary = { count: 2 }\nFINAL_VAR('summary')"),
    ]);
    const result = await createRLM({ model: root }).run({ context: "x", query: "q" });
    expect(result.answer).toEqual({ count: 2 });
    expect(root.calls[1]?.lastUserText).toContain('no variable named "summary"');
  });

  it("accepts FINAL on its own line in prose", async () => {
    const root = rootModel(["I checked everything.\nFINAL(the answer is (really) 42)"]);
    const result = await createRLM({ model: root }).run({ context: "x", query: "q" });
    expect(result).toMatchObject({ status: "completed", answer: "the answer is (really) 42" });
  });

  it("nudges a reply without code and stops at the iteration limit with a last call", async () => {
    const root = rootModel(["I am thinking.", "Still thinking.", "My best guess is 7."]);
    const result = await createRLM({ model: root, limits: { maxIterations: 2 } }).run({
      context: "x",
      query: "q",
    });
    expect(result.status).toBe("max_iterations");
    expect(result.answer).toBe("My best guess is 7.");
    expect(root.calls[1]?.lastUserText).toContain("no repl block");
    expect(root.calls[2]?.lastUserText).toContain("out of turns");
    expect(root.calls).toHaveLength(3);
  });

  it("tells the model when its code is in the wrong language", async () => {
    const root = rootModel(["```python\nprint(len(context))\n```", repl("FINAL('ok')")]);
    const result = await createRLM({ model: root }).run({ context: "x", query: "q" });
    expect(result.answer).toBe("ok");
    expect(root.calls[1]?.lastUserText).toContain("this REPL runs JavaScript");
  });

  it("with compaction: trim, shortens old cell outputs when the conversation nears the root model's window", async () => {
    const root = rootModel((call) =>
      call.messages.filter((message) => message.role === "assistant").length < 6
        ? repl("print('y'.repeat(5000))")
        : repl("FINAL('done')"),
    );
    const result = await createRLM({ model: root, contextWindows: { root: 10_000 }, compaction: "trim" }).run(
      {
        context: "x",
        query: "q",
      },
    );
    expect(result.status).toBe("completed");
    const last = root.calls.at(-1);
    const size = last?.messages.reduce((sum, message) => sum + message.text.length, 0) ?? 0;
    expect(size).toBeLessThan(10_000 * 3 * 0.75);
    expect(last?.messages.map((message) => message.text).join("")).toContain(
      "dropped to fit the model's window",
    );
    expect(last?.messages.at(-1)?.text).toContain("y".repeat(5000));
  });

  it("validates the answer against a schema and lets the model retry", async () => {
    const root = rootModel([repl("FINAL({ total: 'three' })"), repl("FINAL({ total: 3 })")]);
    const schema = z.object({ total: z.number() });
    const result = await createRLM({ model: root }).run({ context: "x", query: "q", schema });
    expect(result).toMatchObject({ status: "completed", answer: { total: 3 }, iterations: 2 });
    expect(root.calls[1]?.lastUserText).toContain("does not match the required schema");
    expect(root.calls[1]?.lastUserText).toContain("total");
  });

  it("refuses a sub-call larger than the sub-model's window, without sending it", async () => {
    const sub = new ScriptedModel({ replies: () => "fine", modelId: "small" });
    const root = rootModel([
      repl("try { llm_query(context) } catch (e) { print(e.message) }"),
      repl("FINAL('ok')"),
    ]);
    const rlm = createRLM({ model: root, subModel: sub, contextWindows: { small: 1000 } });
    const result = await rlm.run({ context: "word ".repeat(20_000), query: "q" });
    expect(result.status).toBe("completed");
    expect(sub.calls).toHaveLength(0);
    const feedback = root.calls[1]?.lastUserText ?? "";
    expect(feedback).toContain("window of 1,000 tokens");
    expect(feedback).toContain("Split it");
  });

  it("answers identical sub-calls from the run's cache", async () => {
    const sub = new ScriptedModel({ replies: () => "same", modelId: "sub" });
    const root = rootModel([
      repl(
        "const a = llm_query('q1')\nconst b = llm_query('q1')\nconst c = llm_query_batched(['q1', 'q2'])\nFINAL([a, b, ...c].join())",
      ),
    ]);
    const result = await createRLM({ model: root, subModel: sub }).run({ context: "x", query: "q" });
    expect(result.answer).toBe("same,same,same,same");
    expect(sub.calls).toHaveLength(2);
  });

  it("routes a sub-call to another configured model", async () => {
    const cheap = new ScriptedModel({ replies: () => "from cheap", modelId: "cheap" });
    const root = rootModel([repl("FINAL(llm_query('hi', { model: 'cheap' }))")]);
    const result = await createRLM({ model: root, models: { cheap } }).run({ context: "x", query: "q" });
    expect(result.answer).toBe("from cheap");
    expect(cheap.calls).toHaveLength(1);
  });

  describe("limits", () => {
    it("stops sub-calls at the sub-call limit and ends with budget_exceeded", async () => {
      const sub = new ScriptedModel({ replies: () => "r", modelId: "sub" });
      const root = rootModel([
        repl("const out = llm_query_batched(['a', 'b', 'c', 'd', 'e'])\nprint(out)"),
        repl("FINAL('late')"),
      ]);
      const result = await createRLM({ model: root, subModel: sub, limits: { maxSubcalls: 3 } }).run({
        context: "x",
        query: "q",
      });
      expect(result.status).toBe("budget_exceeded");
      expect(sub.calls).toHaveLength(3);
      expect(result.subcalls).toBe(3);
      expect(root.calls).toHaveLength(1);
      expect(result.error).toContain("sub-call limit of 3");
    });

    it("stops when the token budget is spent, before the next request", async () => {
      const root = rootModel(() => ({ text: repl("print('working')"), usage: { input: 600, output: 100 } }));
      const result = await createRLM({ model: root, limits: { maxTokens: 1500 } }).run({
        context: "x",
        query: "q",
      });
      expect(result.status).toBe("budget_exceeded");
      // Each call reserves its prompt and an output cap first: the total stays under the limit (it was 2,100).
      expect(root.calls.length).toBeGreaterThanOrEqual(1);
      expect(result.usage.total.inputTokens + result.usage.total.outputTokens).toBeLessThanOrEqual(1500);
    });

    it("stops when the cost budget is spent", async () => {
      const root = rootModel(() => ({ text: repl("print(1)"), usage: { input: 1_000_000, output: 0 } }));
      const result = await createRLM({
        model: root,
        prices: { "scripted:root": { input: 1, output: 1 } },
        limits: { maxCostUsd: 2.5 },
      }).run({ context: "x", query: "q" });
      expect(result.status).toBe("budget_exceeded");
      expect(result.usage.total.costUsd).toBe(3);
      expect(root.calls).toHaveLength(3);
    });

    it("stops at the wall-time limit and cancels the call in flight", async () => {
      const root = rootModel([repl("print(1)"), { text: "slow", delayMs: 10_000 }]);
      const result = await createRLM({ model: root, limits: { timeoutMs: 300 } }).run({
        context: "x",
        query: "q",
      });
      expect(result.status).toBe("timeout");
      expect(result.durationMs).toBeLessThan(5_000);
    });

    it("is cancelled through its AbortSignal, keeping what was spent", async () => {
      const controller = new AbortController();
      const root = rootModel([repl("print(1)"), { text: "slow", delayMs: 10_000 }]);
      setTimeout(() => controller.abort(), 200);
      const result = await createRLM({ model: root }).run({
        context: "x",
        query: "q",
        signal: controller.signal,
      });
      expect(result.status).toBe("cancelled");
      // The call cancelled in flight is booked too, at its estimated prompt tokens, and the result says so.
      expect(result.usage.total.calls).toBe(2);
      expect(result.warnings?.join(" ")).toMatch(/cancelled in flight/);
    });

    it("reports a root model failure as failed", async () => {
      const root = rootModel([{ error: "model exploded" }]);
      const result = await createRLM({ model: root }).run({ context: "x", query: "q" });
      expect(result.status).toBe("failed");
      expect(result.error).toContain("model exploded");
    });
  });

  describe("depth", () => {
    it("at depth 1 rlm_query falls back to a plain sub-call", async () => {
      const sub = new ScriptedModel({ replies: () => "plain", modelId: "sub" });
      const root = rootModel([repl("FINAL(rlm_query('what?'))")]);
      const result = await createRLM({ model: root, subModel: sub }).run({ context: "x", query: "q" });
      expect(result.answer).toBe("plain");
      expect(result.depth).toBe(0);
    });

    it("at depth 2 rlm_query runs a child RLM over its own context, sharing the budget", async () => {
      const model = new ScriptedModel({
        modelId: "both",
        replies: (call) => {
          if (call.lastUserText.includes("Question: Find the code")) {
            return repl("FINAL(context.match(/code (\\d+)/)[1])");
          }
          return repl(
            "const parts = ['code 11', 'code 22']\nconst found = rlm_query_batched(parts.map(() => 'Find the code'), parts)\nFINAL(found.join('+'))",
          );
        },
      });
      const result = await createRLM({ model, limits: { maxDepth: 2 } }).run({
        context: "unused",
        query: "Sum codes",
      });
      expect(result.status).toBe("completed");
      expect(result.answer).toBe("11+22");
      expect(result.depth).toBe(1);
      expect(result.subcalls).toBe(2);
      expect(model.calls).toHaveLength(3);
      const childStarts = result.trace.filter((event) => event.type === "run-start" && event.depth === 1);
      expect(childStarts).toHaveLength(2);
      expect(childStarts[0]?.parentCallId).toBeDefined();
    });
  });

  it("streams the same run as events", async () => {
    const root = rootModel([repl("FINAL('streamed')")]);
    const stream = createRLM({ model: root }).stream({ context: "x", query: "q" });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const result = await stream.result;
    expect(result.answer).toBe("streamed");
    expect(types[0]).toBe("run-start");
    expect(types.at(-1)).toBe("run-end");
  });
});
