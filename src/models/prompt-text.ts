import type { LanguageModelV4Prompt, LanguageModelV4Usage } from "@ai-sdk/provider";

export interface TextMessage {
  role: "system" | "user" | "assistant" | "tool";
  text: string;
}

/** Flattens an AI SDK prompt to role + text, the form that text-only backends and test doubles need. */
export function promptToTextMessages(prompt: LanguageModelV4Prompt): TextMessage[] {
  return prompt.map((message) => {
    if (message.role === "system") return { role: "system", text: message.content };
    const parts: string[] = [];
    for (const part of message.content) {
      if (part.type === "text" || part.type === "reasoning") parts.push(part.text);
    }
    return { role: message.role, text: parts.join("") };
  });
}

/** Builds the AI SDK usage record from plain counts. */
export function usageFromCounts(input: number, output: number, cachedInput = 0): LanguageModelV4Usage {
  return {
    inputTokens: {
      total: input,
      noCache: input - cachedInput,
      cacheRead: cachedInput,
      cacheWrite: undefined,
    },
    outputTokens: { total: output, text: output, reasoning: undefined },
  };
}
