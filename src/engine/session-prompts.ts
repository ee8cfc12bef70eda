import type { ContextMetadata } from "../context/context-input.ts";
import { answerShape, describe } from "./prompts.ts";

/** A context of a session as the first message of a turn describes it. */
export interface SessionContextInfo {
  /** Its REPL name: `context` (the first, also `context_0`), `context_1`, `context_2`... */
  name: string;
  metadata: ContextMetadata;
}

/** Characters of preview per context: the first gets the most, later ones share what is left. */
const FIRST_PREVIEW = 300;
const LATER_PREVIEW = 200;
const PREVIEW_BUDGET = 2_000;

/**
 * The first user message of a session's turn: the question, every context (REPL name, type, size, a preview) and
 * how many earlier turns `history` holds.
 */
export function sessionFirstMessage(
  query: string,
  contexts: SessionContextInfo[],
  earlierTurns: number,
  language: "javascript" | "python",
  answerSchema?: string,
  recalled = "",
): string {
  const shape = answerShape(answerSchema);
  const past =
    earlierTurns === 0
      ? "This is the first question of a conversation: the REPL stays alive for later questions."
      : `This is question ${earlierTurns + 1} of a conversation. \`history\` holds the ${earlierTurns} earlier turn${earlierTurns === 1 ? "" : "s"} as {query, answer, status} (oldest first; also history_0${earlierTurns > 1 ? ` ... history_${earlierTurns - 1}` : ""}), and the variables you defined in earlier turns are still there.`;
  let budget = PREVIEW_BUDGET;
  const described = contexts.map((context, index) => {
    const size = Math.max(0, Math.min(index === 0 ? FIRST_PREVIEW : LATER_PREVIEW, budget));
    budget -= size;
    const alias = index === 0 ? " (also `context_0`)" : "";
    const preview = size === 0 ? "" : `\npreview:\n"""\n${context.metadata.preview.slice(0, size)}\n"""`;
    return `- \`${context.name}\`${alias}:\n${describe(context.metadata)}${preview}`;
  });
  const other = contexts[1]?.name ?? "context_1";
  const helpers =
    contexts.length > 1
      ? `\ngrep(pattern) and chunk() work on \`context\`; for another context pass its text, e.g. grep(pattern, ${language === "python" ? `{"text": ${other}}` : `{text: ${other}}`}) (join a list's documents first).`
      : "";
  return `Question: ${query}
${shape}${recalled}
${past}

The context${contexts.length === 1 ? "" : "s"} (not shown; REPL variables):
${described.join("\n")}${helpers}

Start by exploring in a repl block.`;
}
