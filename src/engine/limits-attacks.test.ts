/**
 * Attacks on the run's limits and on secrets: batches that would spend past a token or cost limit before any usage
 * returns, sub-calls left in flight by FINAL, cost limits over unpriced models, invalid limits, hostile batch
 * arrays, and a base URL that would carry one provider's key to another host. Each failed on the code before it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../errors/config-error.ts";
import { UsageError } from "../errors/usage-error.ts";
import { createMapReduceStrategy } from "../strategies/mapreduce.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ServerReply,
  startScriptedServer,
} from "../test/scripted-server.ts";
import { createRLM, type RLMOptions } from "./rlm.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

const servers: ScriptedServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** Root and sub-model over real HTTP; the root plays `rootReplies` in order, the sub-model answers with `sub`. */
async function httpModels(rootReplies: string[], sub: (request: RecordedRequest) => ServerReply) {
  let rootCalls = 0;
  const server = await startScriptedServer({
    replies: (request) =>
      request.body?.model === "root" ? { text: rootReplies[rootCalls++] ?? "no more" } : sub(request),
  });
  servers.push(server);
  return {
    server,
    options: {
      model: "openai-compatible:root",
      subModel: "openai-compatible:sub",
      settings: { baseUrl: server.url, env: {} },
    } satisfies Partial<RLMOptions>,
  };
}

const tokensOf = (usage: { inputTokens: number; outputTokens: number }) =>
  usage.inputTokens + usage.outputTokens;

describe("token and cost limits hold with calls in flight", () => {
  it("a batch of 32 prompts never passes --max-tokens 5000", async () => {
    const { options } = await httpModels(
      [
        repl(
          `const r = llm_query_batched(Array.from({ length: 32 }, (_, i) => "summarise part " + i + " " + "words ".repeat(60)))\nFINAL(String(r.length))`,
        ),
      ],
      () => ({ text: "a long answer ".repeat(400) }),
    );
    const result = await createRLM({ ...options, limits: { maxTokens: 5000 } }).run({
      context: "ctx",
      query: "q",
    });
    expect(tokensOf(result.usage.total)).toBeLessThanOrEqual(5000);
    expect(result.warnings ?? []).toEqual([]);
  });

  it("a batch never passes --max-cost 0.01", async () => {
    const { options } = await httpModels(
      [
        repl(
          `const r = llm_query_batched(Array.from({ length: 32 }, (_, i) => "part " + i + " " + "words ".repeat(200)))\nFINAL(String(r.length))`,
        ),
      ],
      () => ({ text: "answer ".repeat(2000) }),
    );
    const prices = {
      "openai-compatible:root": { input: 1, output: 1 },
      "openai-compatible:sub": { input: 10, output: 40 },
    };
    const result = await createRLM({ ...options, prices, limits: { maxCostUsd: 0.01 } }).run({
      context: "ctx",
      query: "q",
    });
    expect(result.usage.total.costUsd ?? 0).toBeLessThanOrEqual(0.01);
  });

  it("mapreduce never passes --max-tokens", async () => {
    const server = await startScriptedServer({ replies: () => ({ text: "partial finding ".repeat(500) }) });
    servers.push(server);
    const strategy = createMapReduceStrategy({
      model: "openai-compatible:m",
      settings: { baseUrl: server.url, env: {} },
      limits: { maxTokens: 20_000 },
    });
    const context = "a line of the log with some words in it\n".repeat(40_000);
    const result = await strategy.run({ context, query: "what happened?" });
    expect(tokensOf(result.usage.total)).toBeLessThanOrEqual(20_000);
    expect(result.status).toBe("budget_exceeded");
  });

  it("reports when a server counts more tokens than were reserved", async () => {
    const { options } = await httpModels([repl(`FINAL(llm_query("hi"))`)], () => ({
      text: "ok",
      usage: { promptTokens: 50_000 },
    }));
    const result = await createRLM({ ...options, limits: { maxTokens: 100_000 } }).run({
      context: "c",
      query: "q",
    });
    expect(result.warnings?.join(" ")).toMatch(/counted [\d,]+ tokens more than rlmkit reserved/);
  });
});

describe("sub-calls left in flight when FINAL ends the run", () => {
  it("are cancelled, appear in the trace, and their cost is counted", async () => {
    const { server, options } = await httpModels(
      [
        repl(
          `for (let i = 0; i < 10; i++) (async () => await llm_query("slow " + i))();\nconst quick = llm_query("quick")\nFINAL("done")`,
        ),
      ],
      (request) =>
        JSON.stringify(request.body).includes("quick") ? { text: "now" } : { text: "late", delayMs: 5_000 },
    );
    const result = await createRLM(options).run({ context: "c", query: "q" });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("done");
    const starts = result.trace.filter((event) => event.type === "subcall-start");
    const ends = result.trace.filter((event) => event.type === "subcall-end");
    expect(starts.length).toBeGreaterThan(0);
    expect(ends.length).toBe(starts.length);
    const sent = server.requests.filter((request) => request.body?.model === "sub").length;
    // Every request that reached the server is booked (at its estimated prompt tokens).
    expect(result.usage.byModel["openai-compatible:sub"]?.calls ?? 0).toBeGreaterThanOrEqual(sent);
    expect(result.usage.byModel["openai-compatible:sub"]?.inputTokens ?? 0).toBeGreaterThan(0);
    // The run end comes after every sub-call end.
    const runEnd = result.trace.findIndex((event) => event.type === "run-end" && event.depth === 0);
    expect(result.trace.findLastIndex((event) => event.type === "subcall-end")).toBeLessThan(runEnd);
  });
});

describe("limits are validated in one place", () => {
  const model = new ScriptedModel({ replies: ["FINAL(1)"] });
  it.each([
    [{ maxIterations: -5 }, /limits\.maxIterations must be a whole number/],
    [{ timeoutMs: -1 }, /limits\.timeoutMs must be a number/],
    [{ timeoutMs: 5_000_000_000 }, /limits\.timeoutMs must be a number from 1 to 2147483647/],
    [{ maxTokens: Number.NaN }, /limits\.maxTokens/],
    [{ concurrency: 0 }, /limits\.concurrency/],
    [{ maxDepth: 1.5 }, /limits\.maxDepth/],
    [{ maxCostUsd: Number.POSITIVE_INFINITY }, /limits\.maxCostUsd/],
    [{ maxIterationz: 3 }, /limits\.maxIterationz is not a limit/],
  ])("refuses %o when the RLM is created", (limits, message) => {
    expect(() => createRLM({ model, limits: limits as RLMOptions["limits"] })).toThrow(message);
    expect(() => createRLM({ model, limits: limits as RLMOptions["limits"] })).toThrow(UsageError);
  });

  it("refuses invalid sandbox limits", () => {
    expect(() => createRLM({ model, sandboxLimits: { cellTimeoutMs: -1 } })).toThrow(
      /sandboxLimits\.cellTimeoutMs/,
    );
    expect(() => createRLM({ model, sandboxLimits: { memoryLimitMb: 1e12 } })).toThrow(
      /sandboxLimits\.memoryLimitMb/,
    );
  });

  it("refuses a cost limit over a model of unknown price, naming it and the price table", () => {
    const create = () =>
      createRLM({
        model: "openai-compatible:mystery",
        settings: { baseUrl: "http://127.0.0.1:9/v1", env: {} },
        limits: { maxCostUsd: 1 },
      });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(/openai-compatible:mystery.*--prices/);
  });

  it("run() resolves even when something unexpected throws", async () => {
    const broken = new ScriptedModel({ replies: [repl("FINAL(1)")] });
    const rlm = createRLM({ model: broken });
    const result = await rlm.run({
      context: "c",
      query: "q",
      signal: "not a signal" as unknown as AbortSignal,
    });
    expect(["failed", "completed"]).toContain(result.status);
  });
});

describe("hostile batch arrays are refused before any work", () => {
  it.each([
    ["a sparse array of length 2^32-1", "new Array(2 ** 32 - 1)"],
    ["an array over the batch limit", "Array.from({ length: 20_000 }, () => 'p')"],
  ])("llm_query_batched refuses %s", async (_name, array) => {
    const { server, options } = await httpModels(
      [
        repl(
          `let message = "none"\ntry { message = JSON.stringify(llm_query_batched(${array})) } catch (error) { message = error.message }\nFINAL(message)`,
        ),
      ],
      () => ({ text: "unused" }),
    );
    const result = await createRLM(options).run({ context: "c", query: "q" });
    expect(result.status).toBe("completed");
    // The sandbox refuses what it cannot pass on; the engine refuses batches over its limit or with holes.
    expect(String(result.answer)).toMatch(/at most 10,000 items|at most 1000000|missing/);
    expect(server.requests.filter((request) => request.body?.model === "sub")).toHaveLength(0);
    expect(result.subcalls).toBe(0);
  });
});

describe("a base URL and key belong to one model", () => {
  it("never sends the sub-model's provider key to the root model's host", async () => {
    const local = await startScriptedServer({
      replies: [{ text: repl(`FINAL(llm_query("hello"))`) }, { text: "unused" }],
    });
    const hosted = await startScriptedServer({ replies: () => ({ text: "from the hosted provider" }) });
    servers.push(local, hosted);
    const secret = "sk-test-never-leak-0123456789";
    const result = await createRLM({
      model: "openai-compatible:root",
      subModel: "openai:gpt-5-mini",
      settings: { baseUrl: local.url, env: { OPENAI_API_KEY: secret } },
      subModelSettings: { baseUrl: hosted.url },
    }).run({ context: "c", query: "q" });
    // (The scripted server speaks Chat Completions, not OpenAI's Responses API: the call reaches it and fails.)
    expect(result.status).toBe("completed");
    for (const request of local.requests) expect(JSON.stringify(request.headers)).not.toContain(secret);
    expect(hosted.requests.some((request) => JSON.stringify(request.headers).includes(secret))).toBe(true);
  });

  it("gives a model of another provider no shared base URL or key", async () => {
    const { settingsForModel } = await import("../models/model-settings.ts");
    const shared = { baseUrl: "http://127.0.0.1:8000/v1", apiKey: "local-key", env: { A: "1" } };
    expect(settingsForModel("openai:gpt-5-mini", "openai-compatible:root", shared)).toEqual({
      env: { A: "1" },
    });
    expect(settingsForModel("openai-compatible:small", "openai-compatible:root", shared)).toBe(shared);
    expect(settingsForModel("openai:x", "openai-compatible:root", shared, { apiKey: "own" })).toEqual({
      env: { A: "1" },
      apiKey: "own",
    });
  });
});

describe("found by the attack review", () => {
  it("keeps a cell's output and error together within the output limit the root model reads", async () => {
    const { server, options } = await httpModels(
      [repl(`print("A".repeat(1e6))\nthrow new Error("B".repeat(1e6))`), repl(`FINAL("ok")`)],
      () => ({ text: "unused" }),
    );
    await createRLM({ ...options, sandboxLimits: { outputLimitChars: 1000 } }).run({
      context: "c",
      query: "q",
    });
    const second = server.requests.filter((request) => request.body?.model === "root")[1];
    const fed = JSON.stringify(second?.body?.messages?.at(-1)?.content ?? "");
    const guestChars = (fed.match(/[AB]/g) ?? []).length;
    expect(guestChars).toBeGreaterThan(100);
    expect(guestChars).toBeLessThanOrEqual(1000);
  });

  it("runs at most `concurrency` child runs at once", async () => {
    let inFlight = 0;
    let most = 0;
    let rootTurns = 0;
    const server = await startScriptedServer({
      replies: async (request) => {
        const messages = request.body?.messages ?? [];
        const first = JSON.stringify(messages.find((message) => message.role === "user")?.content ?? "");
        if (first.includes("child task")) {
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 150));
          inFlight--;
          return { text: repl(`FINAL("child done")`) };
        }
        return rootTurns++ === 0
          ? {
              text: repl(
                `const r = rlm_query_batched(Array.from({ length: 8 }, (_, i) => "child task " + i))\nFINAL(String(r.length))`,
              ),
            }
          : { text: "no more" };
      },
    });
    servers.push(server);
    const result = await createRLM({
      model: "openai-compatible:root",
      settings: { baseUrl: server.url, env: {} },
      limits: { maxDepth: 2, concurrency: 2 },
    }).run({ context: "c", query: "q" });
    expect(result.answer).toBe("8");
    expect(most).toBeLessThanOrEqual(2);
  });

  it("reserves at least the true token count for a long prompt built to fool a sampled estimate", async () => {
    const { estimateInputTokens } = await import("./metered-call.ts");
    const { countTokensInFull } = await import("../sandboxes/token-count.ts");
    const english = "The quick brown fox reads the log and reports the id. ";
    let dense = "";
    for (let i = 0; dense.length < 400_000; i++) dense += `${"!@#$%^&*()"[i % 10]}${i % 7}`;
    // Plain English where samples might look, dense punctuation and digits in between.
    const prompt = Array.from(
      { length: 8 },
      (_, i) => english.repeat(300) + dense.slice(i * 50_000, (i + 1) * 50_000),
    ).join("");
    expect(estimateInputTokens({ prompt })).toBeGreaterThanOrEqual(countTokensInFull(prompt));
  });
});
