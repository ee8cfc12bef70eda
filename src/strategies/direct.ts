import { contextLength, contextText } from "../context/context-text.ts";
import type { RunRequest } from "../engine/rlm.ts";
import type { Strategy } from "./strategy.ts";
import { runStrategy, type StrategyOptions } from "./strategy-session.ts";

/** Tokens kept free for the question, the instructions and the answer. */
const RESERVED_TOKENS = 4_096;
/** A conservative characters-per-token ratio for fitting text to a window without tokenizing it all. */
const CHARS_PER_TOKEN = 3.5;

/**
 * The baseline: the whole context in one prompt. When it does not fit the model's window it is cut to fit, and
 * the prompt says so.
 */
export function createDirectStrategy(options: StrategyOptions): Strategy {
  return {
    name: "direct",
    run: (request: RunRequest) =>
      runStrategy("direct", options, request, async (session) => {
        const window = session.windowOf(session.main);
        const maxChars = Math.max(1000, Math.floor((window - RESERVED_TOKENS) * CHARS_PER_TOKEN));
        const total = contextLength(request.context);
        const text = contextText(request.context, maxChars);
        const note =
          total > text.length
            ? `\n[Note: the document was cut to its first ${text.length.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} characters to fit the model's window.]\n`
            : "";
        session.steps = 1;
        return session.call(
          session.main,
          `Read the document and answer the question.\n\n<document>\n${text}\n</document>${note}\n\nQuestion: ${request.query}\nAnswer as briefly as the question allows.`,
        );
      }),
  };
}
