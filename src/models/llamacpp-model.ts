import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4StreamPart,
} from "@ai-sdk/provider";
import { ConfigError } from "../errors/config-error.ts";
import { Semaphore } from "../shared/semaphore.ts";
import { promptToTextMessages, usageFromCounts } from "./prompt-text.ts";

type NodeLlamaCpp = typeof import("node-llama-cpp");
type LlamaModel = Awaited<ReturnType<Awaited<ReturnType<NodeLlamaCpp["getLlama"]>>["loadModel"]>>;

export interface LlamaCppModelOptions {
  modelPath: string;
  /** Context size per call; defaults to the model's training context, capped at 4,096. */
  contextSize?: number;
  /** Use a GPU when llama.cpp finds one (default false: CPU, the same everywhere). */
  gpu?: boolean;
}

async function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  try {
    return await import("node-llama-cpp");
  } catch (error) {
    throw new ConfigError({
      message:
        "The llamacpp provider needs the optional package node-llama-cpp: install it with `npm install node-llama-cpp@3`.",
      cause: error,
    });
  }
}

/**
 * An AI SDK language model that runs a GGUF file in-process through node-llama-cpp.
 * The package and the weights load lazily, on the first call; calls run one at a time.
 */
export function createLlamaCppModel(options: LlamaCppModelOptions): LanguageModelV4 {
  let loaded: Promise<LlamaModel> | undefined;
  const oneAtATime = new Semaphore(1);

  const load = (): Promise<LlamaModel> => {
    loaded ??= (async () => {
      const { getLlama } = await importNodeLlamaCpp();
      const llama = await getLlama({ gpu: options.gpu ? "auto" : false, build: "never" });
      return llama.loadModel({ modelPath: options.modelPath });
    })();
    return loaded;
  };

  const generate = async (
    callOptions: LanguageModelV4CallOptions,
    onText?: (delta: string) => void,
  ): Promise<{ text: string; input: number; output: number; stoppedByLength: boolean }> => {
    const { LlamaChatSession } = await importNodeLlamaCpp();
    const model = await load();
    const contextSize = options.contextSize ?? Math.min(model.trainContextSize, 4096);
    const context = await model.createContext({ contextSize });
    try {
      const sequence = context.getSequence();
      const messages = promptToTextMessages(callOptions.prompt);
      const last = messages.at(-1);
      const question = last?.role === "user" ? last.text : "";
      const history = (last?.role === "user" ? messages.slice(0, -1) : messages).map((message) =>
        message.role === "assistant"
          ? { type: "model" as const, response: [message.text] }
          : { type: message.role === "system" ? ("system" as const) : ("user" as const), text: message.text },
      );
      const session = new LlamaChatSession({ contextSequence: sequence });
      session.setChatHistory(history);
      const maxTokens = callOptions.maxOutputTokens ?? 256;
      const result = await session.promptWithMeta(question, {
        maxTokens,
        temperature: callOptions.temperature ?? 0,
        signal: callOptions.abortSignal,
        onTextChunk: onText,
      });
      const text = result.responseText;
      return {
        text,
        input: sequence.tokenMeter.usedInputTokens,
        output: sequence.tokenMeter.usedOutputTokens,
        stoppedByLength: result.stopReason === "maxTokens",
      };
    } finally {
      await context.dispose();
    }
  };

  return {
    specificationVersion: "v4",
    provider: "llamacpp",
    modelId: options.modelPath,
    supportedUrls: {},
    async doGenerate(callOptions) {
      const result = await oneAtATime.run(() => generate(callOptions));
      return {
        content: [{ type: "text", text: result.text }],
        finishReason: { unified: result.stoppedByLength ? "length" : "stop", raw: undefined },
        usage: usageFromCounts(result.input, result.output),
        warnings: [],
      };
    },
    async doStream(callOptions) {
      const stream = new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          controller.enqueue({ type: "stream-start", warnings: [] });
          controller.enqueue({ type: "text-start", id: "0" });
          oneAtATime
            .run(() =>
              generate(callOptions, (delta) => controller.enqueue({ type: "text-delta", id: "0", delta })),
            )
            .then(
              (result) => {
                controller.enqueue({ type: "text-end", id: "0" });
                controller.enqueue({
                  type: "finish",
                  usage: usageFromCounts(result.input, result.output),
                  finishReason: { unified: result.stoppedByLength ? "length" : "stop", raw: undefined },
                });
                controller.close();
              },
              (error: unknown) => {
                controller.enqueue({ type: "error", error });
                controller.close();
              },
            );
        },
      });
      return { stream };
    },
  };
}
