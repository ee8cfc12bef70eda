/**
 * One writer process of the case bank's concurrency test: `node case-bank-writer.ts DB TAG COUNT SEED_QUERY`
 * runs COUNT learning rounds against one store: each round retrieves cases for SEED_QUERY (so it is shown the
 * seed case and logs that), records its own run as a case (its task does not match SEED_QUERY), and gives that
 * run an outcome (good on even rounds, bad on odd ones), which rewards the seed case.
 */
import { createCaseBank } from "../src/learning/case-bank.ts";
import { openMemoryStore } from "../src/memory/open-memory-store.ts";

const [location = "", tag = "w", countText = "0", seedQuery = ""] = process.argv.slice(2);
const store = await openMemoryStore(location);
const bank = createCaseBank({ store, k: 1, temperature: 0 });
try {
  for (let i = 0; i < Number(countText); i++) {
    const runId = `${tag}-${i}`;
    await bank.prepare({ runId, query: seedQuery });
    const warning = await bank.finish({
      runId,
      query: `writer ${tag} round ${i}`,
      answer: `answer ${i}`,
      status: "completed",
      iterations: 1,
      usage: {
        calls: 1,
        inputTokens: 1,
        outputTokens: 1,
        cachedInputTokens: 0,
        costUsd: 0,
        unpricedCalls: 0,
      },
      model: "scripted:root",
      events: [],
    });
    if (warning) throw new Error(warning);
    await bank.feedback(runId, i % 2 === 0 ? "good" : "bad");
  }
} finally {
  await store.close();
}
