import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSize } from "../src/bench/sizes.ts";
import { sniahSuite } from "../src/bench/suites/sniah.ts";
import { FileText } from "../src/context/file-text.ts";
import { createMemAgentStrategy } from "../src/strategies/memagent.ts";
import { resolveStrategy } from "../src/strategies/resolve-strategy.ts";
import { createNeedleRegexModel } from "../src/test/needle-regex-model.ts";
import type { Benchmark, Measurement } from "./harness.ts";

const SIZES = ["8k", "32k", "128k", "512k", "2m"];
const STRATEGIES = ["direct", "rlm", "memagent", "mapreduce", "rag"];

/** Tokens sent to models per task as the input grows, per strategy (scripted needle model: plumbing, not quality). */
async function tokenGrowth(): Promise<Measurement[]> {
  const rows: Measurement[] = [];
  for (const name of STRATEGIES) {
    for (const size of SIZES) {
      const task = sniahSuite.generate(parseSize(size), 1, 0);
      const model = createNeedleRegexModel();
      const strategy = resolveStrategy(name, { model, contextWindows: { "needle-regex": 400_000 } });
      const result = await strategy.run({ context: task.context, query: task.query });
      const score = result.answer === null ? 0 : task.score(result.answer);
      rows.push({
        name: `${name} at ${size}: input tokens (root + sub-calls), score ${score}`,
        value: result.usage.total.inputTokens,
        unit: "tokens",
        ...(name === "rlm" ? { goal: "flat" } : {}),
      });
    }
  }
  return rows;
}

/** MemAgent streaming a 2 GB file: peak host memory must not grow with the file. */
async function memAgentOnLargeFile(): Promise<Measurement[]> {
  const directory = mkdtempSync(join(tmpdir(), "rlmkit-memagent-"));
  try {
    const path = join(directory, "two-gigabytes.log");
    const line = "2024-05-01T12:00:00Z INFO service=api request served status=200 latency_ms=12 user=alice\n";
    const block = Buffer.from(line.repeat(Math.floor((16 * 1024 * 1024) / line.length)));
    const fd = openSync(path, "w");
    const blocks = Math.ceil((2 * 1024 ** 3) / block.length);
    for (let index = 0; index < blocks; index++) {
      writeSync(fd, block);
      if (index === Math.floor(blocks / 2))
        writeSync(fd, "The special magic number for quiet-otter is 4417002.\n");
    }
    closeSync(fd);
    const file = new FileText(path);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const started = performance.now();
    const model = createNeedleRegexModel();
    const result = await createMemAgentStrategy({ model, chunkTokens: 250_000 }).run({
      context: file,
      query: "What is the special magic number for quiet-otter mentioned in the text?",
    });
    clearInterval(sampler);
    const elapsed = performance.now() - started;
    file.close();
    if (!String(result.answer).includes("4417002"))
      throw new Error(`memagent answered ${String(result.answer)}`);
    return [
      { name: "memagent over a 2 GiB file: chunks read", value: result.subcalls - 1, unit: "calls" },
      { name: "memagent over a 2 GiB file: wall time", value: elapsed / 1000, unit: "s" },
      {
        name: "memagent over a 2 GiB file: peak RSS added",
        value: (peak - before) / 2 ** 20,
        unit: "MiB",
        goal: "flat (not 2 GiB)",
      },
    ];
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export const strategiesBenchmark: Benchmark = {
  name: "strategies",
  async run() {
    return [...(await tokenGrowth()), ...(await memAgentOnLargeFile())];
  },
};
