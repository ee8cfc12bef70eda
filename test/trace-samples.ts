/**
 * Traces for the trace viewer's tests and bench: a real RLM run through ScriptedModel (child runs, parallel
 * sub-calls, a tool call, a failing cell and sub-call, hostile text in code and output), an agent run with tool
 * calls, and a large crafted trace of many sub-calls.
 */

import { createRLM } from "../src/engine/rlm.ts";
import type { RunEvent } from "../src/engine/run-events.ts";
import { ScriptedModel } from "../src/test/scripted-model.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

/** What a cell prints and its code holds: markup that runs script if a page ever parses it as HTML. */
export const HOSTILE_TEXT = `</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">`;

/**
 * A real run of the RLM (depth 2) through ScriptedModel. Iteration 1: a cell that prints hostile markup and
 * calls a tool, a cell that throws. Iteration 2: three llm_query sub-calls at once (one fails), and an
 * rlm_query whose child run finds "code 7781"; the answer quotes the child's answer and one sub-call's.
 */
export async function recordRlmRun(): Promise<RunEvent[]> {
  let subcalls = 0;
  let rootTurns = 0;
  const model = new ScriptedModel({
    modelId: "root",
    replies: (call) => {
      if (call.lastUserText.includes("Which code is in the text?")) {
        return repl("FINAL(context.match(/code (\\d+)/)[1])");
      }
      if (rootTurns++ === 0) {
        return `${repl(
          `// look around\nprint(${JSON.stringify(HOSTILE_TEXT)})\nconst price = await lookup_price({ sku: "A-1" })\nprint("price", price)`,
        )}\n${repl('throw new Error("boom in cell")')}`;
      }
      return repl(
        [
          "const parts = ['alpha', 'beta', 'gamma']",
          "const found = await llm_query_batched(parts.map((part) => 'Summarise ' + part))",
          "const code = rlm_query('Which code is in the text?', 'the code 7781 is here')",
          "FINAL('code ' + code + ' and ' + found[0])",
        ].join("\n"),
      );
    },
  });
  const sub = new ScriptedModel({
    modelId: "sub",
    replies: (call) => {
      subcalls++;
      if (call.lastUserText.includes("gamma")) return { error: "rate limited by the scripted model" };
      return {
        text: call.lastUserText.includes("alpha") ? "summary of alpha" : "summary of beta",
        delayMs: 20,
      };
    },
  });
  const result = await createRLM({
    model,
    subModel: sub,
    limits: { maxDepth: 2, maxIterations: 4 },
    tools: {
      lookup_price: {
        description: "the price of a SKU",
        execute: (args: { sku: string }) => ({ sku: args.sku, price: 12.5 }),
      },
    },
  }).run({ context: "the code 7781 is somewhere", query: "Find the code and summarise" });
  if (result.status !== "completed" || subcalls === 0) {
    throw new Error(`the sample run ended ${result.status}: ${result.error ?? ""}`);
  }
  return result.trace;
}

/**
 * A crafted trace of one root run whose iterations make `subcalls` llm_query sub-calls in parallel batches of
 * `batch`, with a child run every 500 calls; the last iteration answers. For the bench and the big-trace test.
 */
export function largeTrace(subcalls: number, batch = 50): RunEvent[] {
  const runId = "root-run";
  const base = { runId, depth: 0 };
  let at = 1_700_000_000_000;
  const usage = (input: number, output: number) => ({
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: 0,
    costUsd: (input + output) * 1e-6,
  });
  const events: RunEvent[] = [
    {
      type: "run-start",
      at,
      ...base,
      query: "count things",
      model: "p:root",
      subModel: "p:sub",
      contextChars: 1e6,
    },
  ];
  const iterations = Math.ceil(subcalls / (batch * 10));
  let made = 0;
  for (let iteration = 1; iteration <= iterations; iteration++) {
    const iterationStart = at;
    events.push({ type: "iteration-start", at, ...base, iteration });
    at += 100;
    const cellStart = at;
    for (let b = 0; b < 10 && made < subcalls; b++) {
      const batchStart = at;
      for (let i = 0; i < batch && made < subcalls; i++, made++) {
        const callId = `call-${made}`;
        const common = { ...base, callId, kind: "llm_query" as const, model: "p:sub", promptChars: 1000 + i };
        events.push({ type: "subcall-start", at: batchStart, ...common });
        events.push({
          type: "subcall-end",
          at: batchStart + 20 + (i % 7) * 5,
          ...common,
          ok: made % 997 !== 13,
          ...(made % 997 === 13 ? { error: "scripted failure" } : {}),
          cached: false,
          usage: usage(250, 10),
          latencyMs: 20 + (i % 7) * 5,
        });
      }
      at = batchStart + 60;
    }
    const last = iteration === iterations;
    events.push({
      type: "iteration-end",
      at,
      ...base,
      iteration,
      reply: repl(last ? "FINAL(total)" : `batch ${iteration}`),
      usage: usage(2000, 100),
      modelLatencyMs: 100,
      cells: [
        {
          code: last ? "FINAL(total)" : `total += count(${iteration})`,
          output: `total ${iteration}`,
          durationMs: at - cellStart,
        },
      ],
      durationMs: at - iterationStart,
    });
  }
  events.push({
    type: "run-end",
    at,
    ...base,
    status: "completed",
    answer: "total 42",
    iterations,
    durationMs: at - 1_700_000_000_000,
  });
  return events;
}
