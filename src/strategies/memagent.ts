import { contextChunks } from "../context/context-text.ts";
import type { RunRequest } from "../engine/rlm.ts";
import type { Strategy } from "./strategy.ts";
import { runStrategy, type StrategyOptions } from "./strategy-session.ts";

export interface MemAgentOptions extends StrategyOptions {
  /** Chunk size in tokens (default 5,000; about four characters a token). */
  chunkTokens?: number;
  /** Memory cap in tokens (default 1,024). */
  memoryTokens?: number;
}

const NO_MEMORY = "No notes yet.";

/**
 * MemAgent-style streaming reading: the context is read chunk by chunk; for each chunk one fresh call sees the
 * question, the current notes (capped) and the chunk, and writes new notes that replace the old. A last call
 * answers from the question and the notes alone. Files are streamed, so memory stays flat as the input grows.
 */
export function createMemAgentStrategy(options: MemAgentOptions): Strategy {
  const chunkChars = (options.chunkTokens ?? 5_000) * 4;
  const memoryTokens = options.memoryTokens ?? 1_024;
  const memoryChars = memoryTokens * 4;
  return {
    name: "memagent",
    run: (request: RunRequest) =>
      runStrategy("memagent", options, request, async (session) => {
        let memory = NO_MEMORY;
        for (const chunk of contextChunks(request.context, chunkChars)) {
          session.steps++;
          const updated = await session.call(
            session.sub,
            `You are reading a long document one piece at a time, to answer a question at the end. You cannot see earlier pieces; you only have your notes.

Question: ${request.query}

Your notes so far:
${memory}

Next piece of the document:
<piece>
${chunk}
</piece>

Write your updated notes: keep every detail from the old notes that may help answer the question, add what this piece contributes (exact names, numbers, dates), and drop the rest. At most ${memoryTokens} tokens. Reply with the notes only.`,
            memoryTokens,
          );
          memory = updated.trim().slice(0, memoryChars) || memory;
        }
        session.steps++;
        return session.call(
          session.main,
          `You read a long document and kept these notes:
${memory}

Question: ${request.query}
Answer from the notes as briefly as the question allows.`,
        );
      }),
  };
}
