import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { EmbeddingModelV4 } from "@ai-sdk/provider";
import { ConfigError } from "../errors/config-error.ts";
import { type ModelSettings, ollamaBaseUrl } from "./model-settings.ts";
import { type ProviderName, parseModelSpec } from "./model-spec.ts";
import { checkedUrl, openAiCompatibleProvider, optionalBaseUrl, requireApiKey } from "./resolve-model.ts";

/** An embedding model plus its `provider:modelId` label (never a key). */
export interface ResolvedEmbeddingModel {
  label: string;
  model: EmbeddingModelV4;
}

type EmbeddingFactory = (modelId: string, settings: ModelSettings) => EmbeddingModelV4;

const factories: Partial<Record<ProviderName, EmbeddingFactory>> = {
  openai: (modelId, settings) =>
    createOpenAI({ apiKey: requireApiKey("openai", settings), baseURL: optionalBaseUrl(settings) }).embedding(
      modelId,
    ),
  google: (modelId, settings) =>
    createGoogleGenerativeAI({
      apiKey: requireApiKey("google", settings),
      baseURL: optionalBaseUrl(settings),
    }).embedding(modelId),
  ollama: (modelId, settings) =>
    createOpenAICompatible({
      name: "ollama",
      baseURL: `${checkedUrl(ollamaBaseUrl(settings))}/v1`,
    }).embeddingModel(modelId),
  "openai-compatible": (modelId, settings) => openAiCompatibleProvider(settings).embeddingModel(modelId),
};

/** The one place an embedding spec (`openai:text-embedding-3-small`, `ollama:nomic-embed-text`) becomes a model. */
export function resolveEmbeddingModel(spec: string, settings: ModelSettings = {}): ResolvedEmbeddingModel {
  const parsed = parseModelSpec(spec);
  const factory = factories[parsed.provider];
  if (!factory) {
    throw new ConfigError({
      message: `The ${parsed.provider} provider has no embedding models here: use openai:, google:, ollama: or openai-compatible: with --embed-model.`,
    });
  }
  return { label: `${parsed.provider}:${parsed.modelId}`, model: factory(parsed.modelId, settings) };
}
