import { createRequire } from "node:module";
import { countTokens, createClosableHostHelpers, grep } from "../src/sandboxes/host-helpers.ts";
import { type Benchmark, type Measurement, timeIt } from "./harness.ts";

const CONTEXT_MB = 20;

/** About 20 MB of log lines with a few needles. */
function makeContext(): string {
  const line = "2024-05-01T12:00:00Z INFO service=api request served status=200 latency_ms=12 user=alice\n";
  const body = line.repeat(Math.floor((CONTEXT_MB * 1e6) / line.length));
  const third = Math.floor(body.length / 3);
  return `${body.slice(0, third)}ERROR code=17\n${body.slice(third, 2 * third)}ERROR code=42\n${body.slice(2 * third)}`;
}

function english(chars: number): string {
  const sentence = "The quick brown fox reads the server log, finds the failing request and reports its id. ";
  return sentence.repeat(Math.ceil(chars / sentence.length)).slice(0, chars);
}

/**
 * The host helpers under their budgets against the plain calls they replace, in the same process: grep in its
 * worker thread (deadline, heap limit) vs grep on the calling thread; countTokens (bounded) vs gpt-tokenizer.
 * Also the pathological inputs that used to block the host, as absolute times.
 */
export const hostHelpersBenchmark: Benchmark = {
  name: "host-helpers",
  async run(): Promise<Measurement[]> {
    const context = makeContext();
    const helpers = createClosableHostHelpers(() => context);
    const workerGrep = helpers.functions.grep as (pattern: string) => Promise<unknown[]>;
    const first = performance.now();
    await workerGrep("ERROR code=(\\d+)");
    const firstCall = performance.now() - first;
    const inWorker = await timeIt(() => workerGrep("ERROR code=(\\d+)"), 20, 3);
    const inline = await timeIt(() => grep(context, "ERROR code=(\\d+)"), 20, 3);
    const noNewlines = "word ".repeat(4_000_000);
    const started = performance.now();
    await (helpers.functions.grep as (p: string, o: unknown) => Promise<unknown>)("word", {
      text: noNewlines,
      maxMatches: 10_000,
    });
    const noNewlinesMs = performance.now() - started;
    helpers.close();

    const tokenizer = createRequire(import.meta.url)("gpt-tokenizer") as typeof import("gpt-tokenizer");
    const text = english(1_000_000);
    const plain = await timeIt(() => tokenizer.countTokens(text), 5, 1);
    const bounded = await timeIt(() => countTokens(text), 5, 1);
    const pathological = await timeIt(() => countTokens("a".repeat(600_000)), 5, 1);

    return [
      {
        name: `grep over ${CONTEXT_MB} MB, first call (starts the worker, copies the context)`,
        value: firstCall,
        unit: "ms",
      },
      { name: `grep over ${CONTEXT_MB} MB in the worker, warm`, value: inWorker, unit: "ms" },
      { name: `grep over ${CONTEXT_MB} MB on the calling thread (no budget)`, value: inline, unit: "ms" },
      {
        name: "grep in the worker vs on the calling thread",
        value: inWorker / inline,
        unit: "x",
        baseline: "grep on the calling thread",
      },
      {
        name: "grep 'word' over 20 MB without newlines, 10,000 matches",
        value: noNewlinesMs,
        unit: "ms",
        goal: "was 38 s",
      },
      { name: "count_tokens of 1 MB of English", value: bounded, unit: "ms" },
      {
        name: "count_tokens vs gpt-tokenizer on 1 MB of English",
        value: bounded / plain,
        unit: "x",
        baseline: "gpt-tokenizer countTokens",
      },
      {
        name: "count_tokens of 600,000 copies of one character",
        value: pathological,
        unit: "ms",
        goal: "was > 300 s",
      },
    ];
  },
};
