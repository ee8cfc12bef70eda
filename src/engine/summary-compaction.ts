import type { ModelMessage } from "ai";

/**
 * Compaction that keeps the thread (the official RLM's approach): when the root conversation nears the root
 * model's window, the model writes a summary of what it has learned and what it still must do, the conversation
 * restarts from the question and that summary, and the whole earlier conversation stays in the REPL.
 */

/** The REPL variable that holds every message compacted away, as a list of {role, content}. */
export const COMPACTION_HISTORY = "compaction_history";
/** Summary compaction starts at this share of the room the conversation has (trimming outputs starts at 1). */
export const SUMMARY_AT = 0.8;

export type CompactionMode = "summary" | "trim";

export function conversationChars(messages: ModelMessage[]): number {
  return messages.reduce(
    (sum, message) =>
      sum +
      (typeof message.content === "string" ? message.content.length : JSON.stringify(message.content).length),
    0,
  );
}

/** Asks the model for the summary. Our own words. */
export function summaryRequest(): string {
  return `This conversation is about to be shortened to fit your context window. Write a summary that lets you continue without it: what you have learned so far (facts found, and where), which REPL variables hold your results, what you tried that did not work, and what you still must do to answer the question. Reply with the summary only, no code.`;
}

/** The message the conversation continues from after the summary. */
export function restartMessage(compactions: number): string {
  return `The conversation above was shortened (${compactions === 1 ? "once" : `${compactions} times`}); the summary is your own. Every earlier message is in the REPL variable \`${COMPACTION_HISTORY}\` (a list of {role, content}) and your variables are as you left them. Continue working in repl blocks.`;
}

/** Messages as plain data for the REPL. */
export function messagesAsData(messages: ModelMessage[]): Array<{ role: string; content: string }> {
  return messages.map((message) => ({
    role: message.role,
    content: typeof message.content === "string" ? message.content : JSON.stringify(message.content),
  }));
}
