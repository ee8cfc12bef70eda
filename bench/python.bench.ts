import { createRLM } from "../src/engine/rlm.ts";
import { PythonProcess } from "../src/sandboxes/python/python-process.ts";
import { createPythonSandbox } from "../src/sandboxes/python/python-sandbox.ts";
import { ScriptedModel } from "../src/test/scripted-model.ts";
import type { Benchmark, Measurement } from "./harness.ts";

async function firstCell(): Promise<Measurement[]> {
  const coldStarted = performance.now();
  const cold = new PythonProcess();
  cold.ref();
  await cold.ready;
  const coldMs = performance.now() - coldStarted;
  cold.kill();

  const sandbox = createPythonSandbox();
  const warmup = await sandbox.create();
  await warmup.execute("1");
  warmup.dispose();
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const started = performance.now();
  const session = await sandbox.create();
  await session.execute("x = 1 + 1");
  const warmMs = performance.now() - started;

  const context = "2024-05-01 INFO request served in 12 ms\n".repeat(2_500_000);
  const setStarted = performance.now();
  await session.setVariable("context", context);
  const setMs = performance.now() - setStarted;
  const check = await session.execute("len(context)");
  if (check.output.trim() !== String(context.length)) throw new Error(`Python saw ${check.output}`);
  session.dispose();
  return [
    { name: "first cell, warm pool (session + cell)", value: warmMs, unit: "ms", goal: "< 100 ms" },
    { name: "cold start (process + Pyodide to ready)", value: coldMs, unit: "ms", goal: "< 4,000 ms" },
    {
      name: `${(context.length / 1e6).toFixed(0)} MB context into Python`,
      value: setMs,
      unit: "ms",
      goal: "< 1,000 ms",
    },
  ];
}

async function parallelSubcalls(): Promise<Measurement[]> {
  const sub = new ScriptedModel({ modelId: "sub", replies: () => ({ text: "ok", delayMs: 300 }) });
  const root = new ScriptedModel({
    modelId: "root",
    replies: [
      "```python\nanswers = llm_query_batched(['item %d' % i for i in range(32)])\nFINAL(len(answers))\n```",
    ],
  });
  const result = await createRLM({
    model: root,
    subModel: sub,
    sandbox: createPythonSandbox(),
    limits: { concurrency: 16 },
  }).run({
    context: "x",
    query: "q",
  });
  if (result.answer !== 32) throw new Error(`python batch answered ${String(result.answer)}`);
  const starts = result.trace.filter((event) => event.type === "subcall-start").map((event) => event.at);
  const ends = result.trace.filter((event) => event.type === "subcall-end").map((event) => event.at);
  const span = Math.max(...ends) - Math.min(...starts);
  return [
    { name: "32 sub-calls of 300 ms from llm_query_batched (concurrency 16)", value: span, unit: "ms" },
    {
      name: "the same / ideal 600 ms",
      value: span / 600,
      unit: "x",
      baseline: "ideal 600 ms",
      goal: "<= 1.3x",
    },
  ];
}

export const pythonBenchmark: Benchmark = {
  name: "python",
  async run() {
    return [...(await firstCell()), ...(await parallelSubcalls())];
  },
};
