import { jsonSchema, tool } from "ai";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { UsageError } from "../errors/usage-error.ts";
import { createPythonSandbox } from "../sandboxes/python/python-sandbox.ts";
import type { Tools } from "../spec/tool.ts";
import { type ScriptedCall, ScriptedModel, type ScriptedReply } from "../test/scripted-model.ts";
import { createRLM, type RLMOptions } from "./rlm.ts";
import type { RunEvent, ToolEndEvent, ToolStartEvent } from "./run-events.ts";
import { argumentsOf, MAX_TOOL_RESULT_CHARS, prepareTools, toolSignature } from "./user-tools.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

const PRICES: Record<string, number> = { A1: 10, B2: 20 };

/** A tool with a zod schema that records what it was given. */
function priceTool(seen: unknown[] = []) {
  return {
    description: "Looks up the price of a product by its SKU.",
    parameters: z.object({ sku: z.string(), currency: z.enum(["USD", "EUR"]).optional() }),
    execute: (args: { sku: string; currency?: string }) => {
      seen.push(args);
      const price = PRICES[args.sku];
      if (price === undefined) throw new Error(`no product ${args.sku} in /srv/secret/prices.db`);
      return { sku: args.sku, price, currency: args.currency ?? "USD" };
    },
  };
}

/** Runs one cell of code with `tools`, then answers; resolves to what the root model saw after the cell. */
async function runCell(code: string, options: Partial<RLMOptions> = {}) {
  const root = new ScriptedModel({ replies: [repl(code), repl("FINAL('done')")] });
  const result = await createRLM({ model: root, ...options }).run({ context: "ctx", query: "q" });
  return { result, root, seen: root.calls[1]?.lastUserText ?? "" };
}

const toolEvents = (trace: RunEvent[]) =>
  trace.filter((event): event is ToolStartEvent | ToolEndEvent => event.type.startsWith("tool-"));

describe("user tools: checked at createRLM", () => {
  const ok = { description: "d", execute: () => 1 };
  const model = new ScriptedModel({ replies: [] });

  it.each([
    ["llm_query", /name of the REPL's own/],
    ["FINAL", /name of the REPL's own/],
    ["context_3", /name of the REPL's own/],
    ["grep", /name of the REPL's own/],
    ["class", /reserved word or built-in of JavaScript/],
    ["Object", /reserved word or built-in of JavaScript/],
    ["bad-name", /must be an identifier/],
    ["_private", /must be an identifier/],
  ])("refuses the tool name %s", (name, message) => {
    expect(() => createRLM({ model, tools: { [name]: ok } })).toThrow(message);
    expect(() => createRLM({ model, tools: { [name]: ok } })).toThrow(UsageError);
  });

  it("refuses Python's built-ins only with the Python sandbox", () => {
    expect(() => createRLM({ model, tools: { len: ok } })).not.toThrow();
    expect(() => createRLM({ model, sandbox: createPythonSandbox(), tools: { len: ok } })).toThrow(
      /built-in of Python/,
    );
  });

  it("refuses a tool without execute, a bad schema and bad options", () => {
    expect(() => createRLM({ model, tools: { x: { description: "d" } as never } })).toThrow(
      /tools.x needs an execute function/,
    );
    expect(() =>
      createRLM({ model, tools: { x: { ...ok, parameters: { type: "nonsense-type" } } } }),
    ).toThrow(/tools.x.parameters: not a JSON Schema/);
    expect(() => createRLM({ model, tools: { x: ok }, toolTimeoutMs: 0 })).toThrow(/toolTimeoutMs/);
    expect(() => createRLM({ model, subTools: { x: ok }, subToolSteps: 0 })).toThrow(/subToolSteps/);
    expect(() => createRLM({ model, limits: { maxToolCalls: -1 } })).toThrow(/maxToolCalls/);
  });

  it("maps positional and named arguments onto the declared parameters", () => {
    const [price] = prepareTools({ lookup_price: priceTool() }, "javascript");
    const [free] = prepareTools({ echo: ok }, "javascript");
    if (price === undefined || free === undefined) throw new Error("not prepared");
    expect(argumentsOf(price, [])).toEqual({});
    expect(argumentsOf(price, [{ sku: "A1" }])).toEqual({ sku: "A1" });
    expect(argumentsOf(price, ["A1"])).toEqual({ sku: "A1" });
    expect(argumentsOf(price, ["A1", "EUR"])).toEqual({ sku: "A1", currency: "EUR" });
    // Python's keyword arguments arrive as a trailing object.
    expect(argumentsOf(price, ["A1", { currency: "EUR" }])).toEqual({ sku: "A1", currency: "EUR" });
    expect(() => argumentsOf(price, ["A1", "EUR", "x"])).toThrow(/at most 2 positional arguments/);
    expect(() => argumentsOf(price, ["A1", { sku: "B2" }])).toThrow(/got sku twice/);
    expect(argumentsOf(free, ["text"])).toBe("text");
    expect(() => argumentsOf(free, ["a", "b"])).toThrow(/one object of named arguments/);
  });

  it("writes each tool's call in the REPL's language", () => {
    const [price] = prepareTools({ lookup_price: priceTool() }, "javascript");
    if (price === undefined) throw new Error("not prepared");
    expect(toolSignature(price, "javascript")).toBe(
      'lookup_price({ sku: string, currency?: "USD" | "EUR" })',
    );
    expect(toolSignature(price, "python")).toBe('lookup_price(sku: str, currency: "USD" | "EUR" = None)');
  });
});

describe("user tools in the JavaScript REPL", () => {
  it("lists the tools in the system prompt, runs them with copies, and traces each call", async () => {
    const calls: unknown[] = [];
    const { result, root, seen } = await runCell(
      [
        "const a = lookup_price({ sku: 'A1' })",
        "a.price = 999",
        "const b = await lookup_price('B2', { currency: 'EUR' })",
        "print(JSON.stringify([a, b]))",
      ].join("\n"),
      { tools: { lookup_price: priceTool(calls) } },
    );
    expect(result.status).toBe("completed");
    expect(root.calls[0]?.system).toContain(
      '`lookup_price({ sku: string, currency?: "USD" | "EUR" })`: Looks up the price of a product by its SKU.',
    );
    expect(seen).toContain(
      '[{"sku":"A1","price":999,"currency":"USD"},{"sku":"B2","price":20,"currency":"EUR"}]',
    );
    expect(calls).toEqual([{ sku: "A1" }, { sku: "B2", currency: "EUR" }]);
    const events = toolEvents(result.trace);
    expect(events.map((event) => event.type)).toEqual(["tool-start", "tool-end", "tool-start", "tool-end"]);
    expect(events[0]).toMatchObject({ tool: "lookup_price", args: '{"sku":"A1"}', depth: 0 });
    expect(events[1]).toMatchObject({ tool: "lookup_price", ok: true, resultChars: 40 });
  });

  it("gives the code one-line errors: bad arguments, failures, limits, results too large or not data", async () => {
    const { result, seen } = await runCell(
      [
        "const tries = [",
        "  () => lookup_price({ sku: 5 }),",
        "  () => lookup_price({ sku: 'ZZ' }),",
        "  () => big(),",
        "  () => odd(),",
        "]",
        "for (const attempt of tries) {",
        "  try { attempt(); print('no error') } catch (e) { print(e.name + ' | ' + e.message + ' | ' + String(e.stack).includes('/srv')) }",
        "}",
      ].join("\n"),
      {
        tools: {
          lookup_price: priceTool(),
          big: { description: "too much", execute: () => "x".repeat(MAX_TOOL_RESULT_CHARS + 1) },
          odd: { description: "not data", execute: () => ({ n: 1n }) },
        },
        limits: { maxToolCalls: 3 },
      },
    );
    expect(result.status).toBe("completed");
    const lines = seen.split("\n").filter((line) => line.includes(" | "));
    expect(lines[0]).toMatch(/^TypeError \| lookup_price: invalid arguments: sku: .*string.* \| false$/);
    expect(lines[1]).toBe("ToolError | lookup_price failed: no product ZZ in <host path> | false");
    expect(lines[2]).toMatch(
      /^ToolError \| big returned 1,048,57\d characters of JSON, more than the 1,048,576/,
    );
    expect(lines[3]).toMatch(/^ToolError \| odd was not called: this run's limit of 3 tool calls is reached/);
    const ends = toolEvents(result.trace).filter((event) => event.type === "tool-end");
    expect(ends.map((event) => (event as ToolEndEvent).ok)).toEqual([false, false, false]);
  });

  it("stops a call at its time limit and when its cell ends, with the signal passed to execute", async () => {
    const aborted: string[] = [];
    const hang = {
      description: "never answers",
      execute: (args: { id: string }, { signal }: { signal: AbortSignal }) =>
        new Promise((resolve) => signal.addEventListener("abort", () => aborted.push(args.id) && resolve(0))),
    };
    const { result, seen } = await runCell(
      [
        "try { hang({ id: 'timed' }) } catch (e) { print(e.message) }",
        "const left = (async () => await hang({ id: 'left' }))()",
        "print('cell ends')",
      ].join("\n"),
      { tools: { hang }, toolTimeoutMs: 100 },
    );
    expect(result.status).toBe("completed");
    expect(seen).toContain("hang timed out after 0.1 s");
    expect(aborted).toEqual(["timed", "left"]);
    const ends = toolEvents(result.trace).filter((event): event is ToolEndEvent => event.type === "tool-end");
    expect(ends.map((event) => event.error)).toEqual([
      "hang timed out after 0.1 s",
      "hang was cancelled: its cell, sub-call or run ended",
    ]);
  });

  it("holds a slot until a tool that ignores its signal really ends, so at most `concurrency` run", async () => {
    let running = 0;
    let most = 0;
    const stubborn = {
      description: "ignores its signal",
      execute: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 300));
        running--;
        return "late";
      },
    };
    const { seen } = await runCell(
      [
        "const calls = Array.from({ length: 8 }, async () => { try { await stubborn() } catch (e) { return e.message } })",
        "const messages = await Promise.all(calls)",
        "print(messages.filter((m) => /timed out/.test(m)).length)",
      ].join("\n"),
      { tools: { stubborn }, toolTimeoutMs: 50, limits: { concurrency: 2 } },
    );
    expect(seen).toContain("8");
    expect(most).toBeLessThanOrEqual(2);
  });

  it("takes AI SDK tools as they are (zod and JSON Schema inputs)", async () => {
    const weather = tool({
      description: "The weather in a city.",
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }, { abortSignal }) => ({
        city,
        celsius: 21,
        live: abortSignal?.aborted === false,
      }),
    });
    const add = tool({
      description: "Adds two numbers.",
      inputSchema: jsonSchema<{ a: number; b: number }>({
        type: "object",
        properties: { a: { type: "number" }, b: { type: "number" } },
        required: ["a", "b"],
      }),
      execute: async ({ a, b }) => a + b,
    });
    const { root, seen } = await runCell("print(JSON.stringify(weather('Oslo')), add(2, 3))", {
      tools: { weather, add } satisfies Tools,
    });
    expect(root.calls[0]?.system).toContain("`weather({ city: string })`: The weather in a city.");
    expect(root.calls[0]?.system).toContain("`add({ a: number, b: number })`: Adds two numbers.");
    expect(seen).toContain('{"city":"Oslo","celsius":21,"live":true} 5');
  });
});

describe("sub-tools: llm_query's sub-model calls the user's tools", () => {
  it("runs the tool loop with every step booked, and traces the tools under the sub-call", async () => {
    const root = new ScriptedModel({
      modelId: "root",
      replies: [repl("const answer = llm_query('What does A1 cost?')\nFINAL(answer)")],
    });
    const sub = new ScriptedModel({
      modelId: "sub",
      replies: (call: ScriptedCall): ScriptedReply => {
        const results = call.options.prompt.flatMap((message) =>
          message.role === "tool" ? message.content.filter((part) => part.type === "tool-result") : [],
        );
        if (results.length === 0) return { toolCalls: [{ name: "lookup_price", input: { sku: "A1" } }] };
        return `It costs ${JSON.stringify(results[0]?.output)}`;
      },
    });
    const result = await createRLM({
      model: root,
      subModel: sub,
      subTools: { lookup_price: priceTool() },
    }).run({ context: "ctx", query: "q" });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe('It costs {"type":"json","value":{"sku":"A1","price":10,"currency":"USD"}}');
    expect(sub.calls).toHaveLength(2);
    expect(sub.calls[0]?.options.tools?.map((definition) => definition.name)).toEqual(["lookup_price"]);
    expect(result.usage.byModel["scripted:sub"]?.calls).toBe(2);
    expect(result.subcalls).toBe(1);
    // The REPL does not get sub-tools, and its prompt does not list them.
    expect(root.calls[0]?.system).not.toContain("lookup_price");
    const subcall = result.trace.find((event) => event.type === "subcall-end");
    const tools = toolEvents(result.trace);
    expect(tools).toHaveLength(2);
    expect(tools[1]).toMatchObject({
      ok: true,
      subcallId: subcall?.type === "subcall-end" ? subcall.callId : "",
    });
    if (subcall?.type !== "subcall-end") throw new Error("no sub-call");
    expect(subcall.usage.inputTokens).toBe(result.usage.byModel["scripted:sub"]?.inputTokens ?? 0);
  });

  it("ends the loop after subToolSteps model calls", async () => {
    const root = new ScriptedModel({ replies: [repl("FINAL(llm_query('loop'))")] });
    const sub = new ScriptedModel({
      replies: () => ({ toolCalls: [{ name: "lookup_price", input: { sku: "A1" } }] }),
    });
    const result = await createRLM({
      model: root,
      subModel: sub,
      subTools: { lookup_price: priceTool() },
      subToolSteps: 3,
    }).run({ context: "ctx", query: "q" });
    expect(result.answer).toBe("[llm_query error: the sub-model still asked for tools after 3 steps]");
    expect(sub.calls).toHaveLength(3);
    expect(toolEvents(result.trace).filter((event) => event.type === "tool-end")).toHaveLength(2);
  });
});

describe("user tools in the Python REPL", () => {
  it("takes keyword and positional arguments, and raises the tool's error as one line", async () => {
    const calls: unknown[] = [];
    const root = new ScriptedModel({
      replies: [
        `\`\`\`python\na = lookup_price(sku="A1")\nb = lookup_price("B2", currency="EUR")\ntry:\n    lookup_price("ZZ")\nexcept Exception as e:\n    print(type(e).__name__, "|", e)\nprint(a["price"], b["currency"])\nFINAL("ok")\n\`\`\``,
      ],
    });
    const result = await createRLM({
      model: root,
      sandbox: createPythonSandbox(),
      tools: { lookup_price: priceTool(calls) },
    }).run({ context: "ctx", query: "q" });
    expect(result.status).toBe("completed");
    expect(root.calls[0]?.system).toContain('`lookup_price(sku: str, currency: "USD" | "EUR" = None)`');
    expect(calls).toEqual([{ sku: "A1" }, { sku: "B2", currency: "EUR" }, { sku: "ZZ" }]);
    const cell = result.trace.find((event) => event.type === "iteration-end");
    expect(cell?.type === "iteration-end" ? cell.cells[0]?.output : "").toMatch(
      /^RuntimeError \| lookup_price failed: no product ZZ in <host path>\n10 EUR\n/,
    );
  }, 60_000);
});
