/** What the model reads of tool outputs: long ones cut (whole in the trace), old ones compacted near the window. */
import type { ModelMessage } from "ai";

/** The most recent tool results kept whole when compacting. */
const KEEP_RECENT_TOOL_MESSAGES = 2;

/** A tool output as the model reads it: head and tail of a long one, with where the rest is. */
export function truncateForModel(text: string, max: number, callId: string): string {
  if (text.length <= max) return text;
  const head = Math.floor(max * 0.7);
  const tail = max - head;
  return `${text.slice(0, head)}\n[... ${text.length - max} of ${text.length} characters cut here; the full output is in the trace, and rlm_query can read it with toolOutput: "${callId}" ...]\n${text.slice(text.length - tail)}`;
}

/** Size of a conversation as sent (JSON characters), to compare with the model's window. */
export function messagesChars(messages: ModelMessage[]): number {
  return JSON.stringify(messages).length;
}

/** Old tool outputs replaced by a note, the most recent ones kept: undefined when nothing could be cut. */
export function compactToolOutputs(messages: ModelMessage[]): ModelMessage[] | undefined {
  const toolIndexes = messages.flatMap((message, index) => (message.role === "tool" ? [index] : []));
  const old = new Set(toolIndexes.slice(0, Math.max(0, toolIndexes.length - KEEP_RECENT_TOOL_MESSAGES)));
  let changed = false;
  const compacted = messages.map((message, index) => {
    if (!old.has(index) || message.role !== "tool") return message;
    return {
      ...message,
      content: message.content.map((part) => {
        if (part.type !== "tool-result") return part;
        const size = JSON.stringify(part.output).length;
        if (size < 400) return part;
        changed = true;
        return {
          ...part,
          output: {
            type: "text" as const,
            value: `[compacted: an earlier ${part.toolName} output of ${size} characters; the full text is in the trace, and rlm_query can read it with toolOutput: "${part.toolCallId}"]`,
          },
        };
      }),
    };
  });
  return changed ? compacted : undefined;
}
