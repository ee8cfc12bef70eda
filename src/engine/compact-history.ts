import type { ModelMessage } from "ai";

/** What a shortened cell output keeps of its beginning and of its end. */
const KEEP_CHARS = 600;

function textOf(message: ModelMessage): string {
  return typeof message.content === "string" ? message.content : JSON.stringify(message.content);
}

function shorten(text: string): string {
  if (text.length <= 2 * KEEP_CHARS + 100) return text;
  const cut = text.length - 2 * KEEP_CHARS;
  return `${text.slice(0, KEEP_CHARS)}\n... [${cut} characters of this earlier output dropped to fit the model's window] ...\n${text.slice(-KEEP_CHARS)}`;
}

/**
 * Keeps the root conversation under `maxChars` by shortening the REPL outputs of the oldest turns first
 * (the question, the model's own code and the latest turns stay whole). Returns a new list when it changed.
 */
export function compactHistory(messages: ModelMessage[], maxChars: number, keepLatest = 4): ModelMessage[] {
  let total = messages.reduce((sum, message) => sum + textOf(message).length, 0);
  if (total <= maxChars) return messages;
  const compacted = [...messages];
  for (let index = 1; index < compacted.length - keepLatest && total > maxChars; index++) {
    const message = compacted[index] as ModelMessage;
    if (message.role !== "user") continue;
    const before = textOf(message);
    const after = shorten(before);
    if (after.length < before.length) {
      compacted[index] = { role: "user", content: after };
      total -= before.length - after.length;
    }
  }
  return compacted;
}
