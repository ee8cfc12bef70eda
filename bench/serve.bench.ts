import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import OpenAI from "openai";
import { createInProcessQueue } from "../src/jobs/in-process-queue.ts";
import { createServeApp, DEFAULT_MAX_CONCURRENT_RUNS } from "../src/serve/app.ts";
import { startServeServer } from "../src/serve/listen.ts";
import { RunSlots } from "../src/serve/run-slots.ts";
import { createRunExecutor, parseRunSpec, type ServeConfig } from "../src/serve/run-spec.ts";
import { startScriptedServer } from "../src/test/scripted-server.ts";
import type { Benchmark } from "./harness.ts";

const CONCURRENT = 50;
const ROUNDS = Number(process.env.SERVE_BENCH_ROUNDS ?? 5);
/** A pause before heap readings, for sockets and streams to close. */
const SETTLE_MS = 500;

/** Forces a full collection, so heap figures compare what is live, not what awaits collection. */
function collector(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/**
 * `rlm serve` under load on loopback: rounds of 50 concurrent chat completions (half of them streamed) through
 * the official openai client, against a scripted model whose answer is computed from each request's own
 * conversation, so a reply given to the wrong request shows. Heap after the rounds vs before: flat, or runs leak.
 */
export const serveBenchmark: Benchmark = {
  name: "serve",
  async run() {
    const gc = collector();
    const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
    await using model = await startScriptedServer({
      replies: () => ({
        text: repl(
          "const mine = context.filter((d) => d.id.endsWith('-user')).at(-1)\nFINAL('echo ' + mine.text)",
        ),
        delayMs: 20,
      }),
    });
    // The default limits (a 10-minute run, a call timeout): their timers are cleared when a call or run ends,
    // so the heap is compared without waiting for them.
    const config: ServeConfig = {
      models: ["openai-compatible:scripted"],
      settings: { baseUrl: model.url, env: {} },
    };
    const executor = createRunExecutor(config);
    const slots = new RunSlots(DEFAULT_MAX_CONCURRENT_RUNS);
    const jobs = createInProcessQueue({ executor, concurrency: DEFAULT_MAX_CONCURRENT_RUNS });
    const server = await startServeServer(createServeApp({ config, jobs, executor, slots }), {
      host: "127.0.0.1",
      port: 0,
    });
    const client = new OpenAI({ baseURL: `${server.origin}/v1`, apiKey: "open", maxRetries: 0 });
    const ask = async (tag: string, stream: boolean): Promise<{ text: string; ms: number }> => {
      const started = performance.now();
      const messages = [{ role: "user" as const, content: tag }];
      if (!stream) {
        const answer = await client.chat.completions.create({ model: "rlm", messages });
        return { text: answer.choices[0]?.message.content ?? "", ms: performance.now() - started };
      }
      let text = "";
      for await (const chunk of await client.chat.completions.create({
        model: "rlm",
        messages,
        stream: true,
      })) {
        text += chunk.choices[0]?.delta.content ?? "";
      }
      return { text, ms: performance.now() - started };
    };
    try {
      // Two rounds to warm up (compiled code, pools, buffers), then the heap once their timers expired.
      for (let round = 0; round < 2; round++) {
        await Promise.all(
          Array.from({ length: CONCURRENT }, (_, index) => ask(`warm ${index}`, index % 2 === 0)),
        );
      }
      model.requests.length = 0;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      let answered = 0;
      let mixedUp = 0;
      const latencies: number[] = [];
      const roundTimes: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const started = performance.now();
        const replies = await Promise.allSettled(
          Array.from({ length: CONCURRENT }, (_, index) => ask(`r${round}-q${index}`, index % 2 === 1)),
        );
        roundTimes.push(performance.now() - started);
        model.requests.length = 0; // the scripted model keeps every request it got: not the server's memory
        if (process.env.SERVE_BENCH_TRACE) {
          gc();
          process.stderr.write(
            `round ${round}: heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(1)} MiB\n`,
          );
        }
        for (const [index, reply] of replies.entries()) {
          if (reply.status !== "fulfilled") continue;
          answered++;
          latencies.push(reply.value.ms);
          if (reply.value.text !== `echo r${round}-q${index}`) mixedUp++;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      gc();
      const heapAfter = process.memoryUsage().heapUsed;
      // The baseline: the same rounds of 50 runs, given to the executor directly (no HTTP, no client, no SSE).
      const directTimes: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const started = performance.now();
        await Promise.all(
          Array.from({ length: CONCURRENT }, (_, index) =>
            slots.run(new AbortController().signal, () =>
              executor(
                parseRunSpec(
                  { model: "rlm", messages: [{ role: "user", content: `d${round}-q${index}` }] },
                  config,
                ),
                {
                  jobId: `d${round}-${index}`,
                  attempt: 1,
                  signal: new AbortController().signal,
                  emit: () => {},
                },
              ),
            ),
          ),
        );
        directTimes.push(performance.now() - started);
        model.requests.length = 0;
      }
      const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
      latencies.sort((a, b) => a - b);
      const at = (share: number) =>
        latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * share))] ?? 0;
      const total = CONCURRENT * ROUNDS;
      return [
        {
          name: `requests answered of ${total} (${ROUNDS} rounds of ${CONCURRENT} at once)`,
          value: answered,
          unit: "requests",
          goal: `${total}`,
        },
        { name: "answers given to the wrong request", value: mixedUp, unit: "requests", goal: "0" },
        {
          name: `wall time of ${CONCURRENT} concurrent requests (median round)`,
          value: median(roundTimes),
          unit: "ms",
        },
        {
          name: `the same ${CONCURRENT} runs given to the executor directly, in the same slots (median round)`,
          value: median(directTimes),
          unit: "ms",
        },
        {
          name: "server overhead: HTTP round / direct round",
          value: median(roundTimes) / Math.max(1, median(directTimes)),
          unit: "x",
          baseline: "the executor called directly",
        },
        { name: "request latency p50", value: at(0.5), unit: "ms" },
        { name: "request latency p95", value: at(0.95), unit: "ms" },
        {
          name: `heap growth over ${total} requests (after GC; default 10-minute run limits, timers cleared)`,
          value: (heapAfter - heapBefore) / 1024 / 1024,
          unit: "MiB",
          goal: "flat",
        },
      ];
    } finally {
      await server.close();
      await jobs.close();
    }
  },
};
