import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { EmbeddingModelV4 } from "@ai-sdk/provider";
import { ConfigError } from "../errors/config-error.ts";
import {
  API_KEY_VARIABLES,
  environmentOf,
  type ModelSettings,
  nonEmpty,
  ollamaBaseUrl,
} from "./model-settings.ts";
import { type ProviderName, parseModelSpec } from "./model-spec.ts";
import { checkedUrl, optionalBaseUrl, requireApiKey } from "./resolve-model.ts";

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
  "openai-compatible": (modelId, settings) => {
    const env = environmentOf(settings);
    const baseUrl = nonEmpty(settings.baseUrl) ?? nonEmpty(env.OPENAI_COMPATIBLE_BASE_URL);
    if (baseUrl === undefined) {
      throw new ConfigError({
        message:
          "The openai-compatible embedding model needs the server's base URL: pass --base-url or set OPENAI_COMPATIBLE_BASE_URL.",
      });
    }
    const apiKey = nonEmpty(settings.apiKey) ?? nonEmpty(env[API_KEY_VARIABLES["openai-compatible"]]);
    return createOpenAICompatible({
      name: "openai-compatible",
      baseURL: checkedUrl(baseUrl),
      apiKey,
    }).embeddingModel(modelId);
  },
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
