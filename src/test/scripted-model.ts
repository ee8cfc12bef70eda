import { setTimeout as sleep } from "node:timers/promises";
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4GenerateResult,
  LanguageModelV4StreamPart,
} from "@ai-sdk/provider";
import { promptToTextMessages, type TextMessage, usageFromCounts } from "../models/prompt-text.ts";

/** One scripted reply: plain text, or text with usage, a delay, or an error to throw. */
export type ScriptedReply =
  | string
  | {
      text?: string;
      /** Token counts to report; by default about one token per four characters. */
      usage?: { input?: number; output?: number; cachedInput?: number };
      /** Wait this long before replying (the call's AbortSignal cuts it short). */
      delayMs?: number;
      /** Throw this instead of replying. */
      error?: Error | string;
      /** Tool calls to ask for (their input as a value); the reply's finish reason is then "tool-calls". */
      toolCalls?: Array<{ name: string; input: unknown }>;
    };

/** What the scripted model saw in one call. */
export interface ScriptedCall {
  index: number;
  system: string;
  messages: TextMessage[];
  /** Text of the last user message: usually what a script reacts to. */
  lastUserText: string;
  options: LanguageModelV4CallOptions;
}

export type ScriptedReplies =
  | ScriptedReply[]
  | ((call: ScriptedCall) => ScriptedReply | Promise<ScriptedReply>);

export interface ScriptedModelOptions {
  replies: ScriptedReplies;
  modelId?: string;
  provider?: string;
}

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * A test double for any AI SDK language model: replies come from a list (in order) or from a function of the call,
 * and every call is recorded in `calls`. It is no model: use it to test code around models.
 */
export class ScriptedModel implements LanguageModelV4 {
  readonly specificationVersion = "v4";
  readonly provider: string;
  readonly modelId: string;
  readonly supportedUrls = {};
  readonly calls: ScriptedCall[] = [];
  private readonly replies: ScriptedReplies;

  constructor(options: ScriptedModelOptions) {
    this.replies = options.replies;
    this.modelId = options.modelId ?? "scripted";
    this.provider = options.provider ?? "scripted";
  }

  private async reply(options: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
    const messages = promptToTextMessages(options.prompt);
    const call: ScriptedCall = {
      index: this.calls.length,
      system: messages
        .filter((message) => message.role === "system")
        .map((message) => message.text)
        .join("\n"),
      messages,
      lastUserText: messages.findLast((message) => message.role === "user")?.text ?? "",
      options,
    };
    this.calls.push(call);
    let scripted: ScriptedReply | undefined;
    if (typeof this.replies === "function") scripted = await this.replies(call);
    else scripted = this.replies[call.index];
    if (scripted === undefined) {
      throw new Error(
        `ScriptedModel has no reply for call ${call.index + 1}: the script holds ${(this.replies as ScriptedReply[]).length}.`,
      );
    }
    const reply = typeof scripted === "string" ? { text: scripted } : scripted;
    if (reply.delayMs !== undefined) await sleep(reply.delayMs, undefined, { signal: options.abortSignal });
    options.abortSignal?.throwIfAborted();
    if (reply.error !== undefined)
      throw typeof reply.error === "string" ? new Error(reply.error) : reply.error;
    const text = reply.text ?? "";
    const promptChars = messages.reduce((sum, message) => sum + message.text.length, 0);
    const toolCalls = (reply.toolCalls ?? []).map((toolCall, index) => ({
      type: "tool-call" as const,
      toolCallId: `call-${call.index}-${index}`,
      toolName: toolCall.name,
      input: JSON.stringify(toolCall.input ?? {}),
    }));
    return {
      content: [
        ...(text === "" && toolCalls.length > 0 ? [] : [{ type: "text" as const, text }]),
        ...toolCalls,
      ],
      finishReason:
        toolCalls.length > 0
          ? { unified: "tool-calls", raw: "tool_calls" }
          : { unified: "stop", raw: "stop" },
      usage: usageFromCounts(
        reply.usage?.input ?? Math.ceil(promptChars / 4),
        reply.usage?.output ?? estimateTokens(text),
        reply.usage?.cachedInput ?? 0,
      ),
      warnings: [],
    };
  }

  async doGenerate(options: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
    return this.reply(options);
  }

  async doStream(options: LanguageModelV4CallOptions) {
    const result = await this.reply(options);
    const text = result.content.map((part) => (part.type === "text" ? part.text : "")).join("");
    const parts: LanguageModelV4StreamPart[] = [
      { type: "stream-start", warnings: [] },
      { type: "text-start", id: "0" },
      ...[...chunks(text, 16)].map((delta) => ({ type: "text-delta" as const, id: "0", delta })),
      { type: "text-end", id: "0" },
      { type: "finish", usage: result.usage, finishReason: result.finishReason },
    ];
    return {
      stream: new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      }),
    };
  }
}

function* chunks(text: string, size: number): Generator<string> {
  for (let start = 0; start < text.length; start += size) yield text.slice(start, start + size);
}
