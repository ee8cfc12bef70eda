import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMemory } from "../src/memory/memory.ts";
import { openMemoryStore } from "../src/memory/open-memory-store.ts";
import { ModelClient } from "../src/models/model-client.ts";
import { mulberry32 } from "../src/shared/random.ts";
import type { MemoryStore, NewMemoryItem } from "../src/spec/memory-store.ts";
import { startScriptedServer } from "../src/test/scripted-server.ts";
import { type Benchmark, type Measurement, timeIt } from "./harness.ts";

const SMALL = 1_000;
const LARGE = 100_000;
const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/**
 * Words with a Zipf-like spread (a few common, many rare), as in notes people write: the common ones appear in
 * a fixed share of items however many there are, the rare ones (names, ids) in a few.
 */
function vocabulary(size: number): string[] {
  const syllables = [
    "ka",
    "lo",
    "mi",
    "ra",
    "te",
    "no",
    "vu",
    "si",
    "de",
    "po",
    "an",
    "el",
    "or",
    "ub",
    "ix",
  ];
  const next = mulberry32(7);
  return Array.from({ length: size }, () => {
    const parts = 2 + Math.floor(next() * 3);
    return Array.from({ length: parts }, () => syllables[Math.floor(next() * syllables.length)]).join("");
  });
}

function episodes(count: number, words: string[], seed: number): NewMemoryItem[] {
  const next = mulberry32(seed);
  const pick = () => words[Math.floor(words.length * next() ** 2.5)] as string;
  return Array.from({ length: count }, (_, i) => ({
    kind: "episode" as const,
    text: `note ${i}: ${Array.from({ length: 24 }, pick).join(" ")}`,
    ...(i % 10 === 0 ? { key: `topic.${i % 500}` } : {}),
  }));
}

/** Queries of three words taken from a random stored item: what a user looking for that note might type. */
function queries(items: NewMemoryItem[], count: number): string[] {
  const next = mulberry32(99);
  return Array.from({ length: count }, () => {
    const words = (items[Math.floor(next() * items.length)]?.text ?? "").split(" ").slice(2);
    return Array.from({ length: 3 }, () => words[Math.floor(next() * words.length)]).join(" ");
  });
}

async function searchTime(store: MemoryStore, asked: string[]): Promise<number> {
  let index = 0;
  return timeIt(() => store.search({ text: asked[index++ % asked.length] as string, k: 10 }), 400, 40);
}

/**
 * The memory store (SQLite) at two sizes in one run: search at 100K items against 1K (the index keeps it near
 * flat), insert throughput (one transaction per item, as `rlm memory add`; and batched), `rlm memory import` of
 * 100K JSONL lines as a process, and how many model calls consolidation makes per 100 episodes.
 */
export const memoryBenchmark: Benchmark = {
  name: "memory",
  async run(): Promise<Measurement[]> {
    const dir = mkdtempSync(join(tmpdir(), "rlm-memory-bench-"));
    try {
      const words = vocabulary(20_000);
      const largeItems = episodes(LARGE, words, 1);
      const small = await openMemoryStore(join(dir, "small.db"));
      const large = await openMemoryStore(join(dir, "large.db"));
      await small.insert(episodes(SMALL, words, 1));
      const batchStart = performance.now();
      await large.insert(largeItems.map((item) => ({ ...item })));
      const batchMs = performance.now() - batchStart;
      const asked = queries(largeItems.slice(0, SMALL), 400);
      const smallMs = await searchTime(small, asked);
      const largeMs = await searchTime(large, asked);

      const singles = await openMemoryStore(join(dir, "singles.db"));
      const singleItems = episodes(2_000, words, 3);
      const singleStart = performance.now();
      for (const item of singleItems) await singles.insert([item]);
      const singleRate = singleItems.length / ((performance.now() - singleStart) / 1000);
      await Promise.all([small.close(), large.close(), singles.close()]);

      const jsonl = join(dir, "import.jsonl");
      writeFileSync(jsonl, `${largeItems.map((item) => JSON.stringify(item)).join("\n")}\n`);
      const importStart = performance.now();
      execFileSync(process.execPath, [MAIN, "memory", "import", jsonl, "--db", join(dir, "imported.db")], {
        stdio: "ignore",
      });
      const importMs = performance.now() - importStart;

      const calls = await consolidationCalls(join(dir, "consolidate.db"));
      return [
        {
          name: `keyword search, ${SMALL.toLocaleString("en-US")} items (median)`,
          value: smallMs,
          unit: "ms",
        },
        {
          name: `keyword search, ${LARGE.toLocaleString("en-US")} items (median)`,
          value: largeMs,
          unit: "ms",
        },
        {
          name: `keyword search at ${LARGE.toLocaleString("en-US")} vs ${SMALL.toLocaleString("en-US")} items`,
          value: largeMs / smallMs,
          unit: "x",
          baseline: `${SMALL.toLocaleString("en-US")} items`,
          goal: "< 3x",
        },
        { name: "insert, one transaction per item (rlm memory add)", value: singleRate, unit: "items/s" },
        {
          name: `insert of ${LARGE.toLocaleString("en-US")} items in one transaction`,
          value: LARGE / (batchMs / 1000),
          unit: "items/s",
        },
        {
          name: `rlm memory import, ${LARGE.toLocaleString("en-US")} JSONL lines (process start included)`,
          value: importMs / 1000,
          unit: "s",
          goal: "well under 60 s",
        },
        { name: "consolidation model calls per 100 episodes (batch size 20)", value: calls, unit: "calls" },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

async function consolidationCalls(path: string): Promise<number> {
  const server = await startScriptedServer({
    replies: () => ({ text: JSON.stringify({ facts: [{ key: "a.b", text: "A fact.", sources: ["E1"] }] }) }),
  });
  const memory = createMemory({ store: await openMemoryStore(path) });
  try {
    for (let i = 0; i < 100; i++) await memory.add(`episode ${i}: something happened`);
    const report = await memory.consolidate({
      model: new ModelClient({ model: "openai-compatible:scripted", settings: { baseUrl: server.url } }),
    });
    return report.calls;
  } finally {
    await memory.close();
    await server.close();
  }
}
