import { contextChunks } from "../context/context-text.ts";
import type { RunRequest } from "../engine/rlm.ts";
import { Bm25Index } from "./bm25.ts";
import type { Strategy } from "./strategy.ts";
import { runStrategy, type StrategyOptions } from "./strategy-session.ts";

export interface RagOptions extends StrategyOptions {
  /** Passage size in tokens (default 1,000; about four characters a token). */
  chunkTokens?: number;
  /** Passages put into the prompt (default 8). */
  topK?: number;
}

/** Retrieval: BM25 over chunks of the context, the best `topK` (in document order) in one prompt. */
export function createRagStrategy(options: RagOptions): Strategy {
  const chunkChars = (options.chunkTokens ?? 1_000) * 4;
  const topK = options.topK ?? 8;
  return {
    name: "rag",
    run: (request: RunRequest) =>
      runStrategy("rag", options, request, async (session) => {
        const passages = [...contextChunks(request.context, chunkChars)];
        const chosen = new Bm25Index(passages)
          .search(request.query, topK)
          .sort((left, right) => left - right);
        session.steps = 1;
        const excerpts = chosen.map(
          (index) => `<passage ${index + 1} of ${passages.length}>\n${passages[index]}\n</passage>`,
        );
        return session.call(
          session.main,
          `These passages were retrieved from a long document because they look relevant to the question.

${excerpts.join("\n\n")}

Question: ${request.query}
Answer from the passages as briefly as the question allows.`,
        );
      }),
  };
}
