import { existsSync, statSync } from "node:fs";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { LanguageModelV2, LanguageModelV3, LanguageModelV4 } from "@ai-sdk/provider";
import { ConfigError } from "../errors/config-error.ts";
import { createLlamaCppModel } from "./llamacpp-model.ts";
import {
  API_KEY_VARIABLES,
  environmentOf,
  type ModelSettings,
  nonEmpty,
  ollamaBaseUrl,
  stripTrailingSlash,
} from "./model-settings.ts";
import { type ModelSpec, type ProviderName, parseModelSpec } from "./model-spec.ts";

/** Any AI SDK language model instance. */
export type LanguageModelInstance = LanguageModelV4 | LanguageModelV3 | LanguageModelV2;

/** A model instance plus the identity used for pricing, caching and traces. */
export interface ResolvedModel {
  /** `provider:modelId`, e.g. `openai:gpt-5-mini`. Never contains a key. */
  label: string;
  provider: string;
  modelId: string;
  model: LanguageModelInstance;
}

type ProviderFactory = (modelId: string, settings: ModelSettings) => LanguageModelInstance;

export function requireApiKey(provider: keyof typeof API_KEY_VARIABLES, settings: ModelSettings): string {
  const variable = API_KEY_VARIABLES[provider];
  const key = nonEmpty(settings.apiKey) ?? nonEmpty(environmentOf(settings)[variable]);
  if (key === undefined) {
    throw new ConfigError({
      message: `The ${provider} provider needs an API key: set ${variable}, or pass --api-key (apiKey in the library).`,
    });
  }
  return key;
}

/** A base URL must be an http(s) URL; anything else is a ConfigError naming it, before any request. */
export function checkedUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new ConfigError({
      message: `The base URL "${url}" is not an http(s) URL: give one like http://127.0.0.1:8000/v1 (--base-url, baseUrl in the library).`,
    });
  }
  return stripTrailingSlash(url);
}

export function optionalBaseUrl(settings: ModelSettings): string | undefined {
  const url = nonEmpty(settings.baseUrl);
  return url === undefined ? undefined : checkedUrl(url);
}

/** The openai-compatible provider for a server's base URL (option, then OPENAI_COMPATIBLE_BASE_URL) and key. */
export function openAiCompatibleProvider(settings: ModelSettings) {
  const env = environmentOf(settings);
  const baseUrl = nonEmpty(settings.baseUrl) ?? nonEmpty(env.OPENAI_COMPATIBLE_BASE_URL);
  if (baseUrl === undefined) {
    throw new ConfigError({
      message:
        "The openai-compatible provider needs the server's base URL: pass --base-url (baseUrl in the library) or set OPENAI_COMPATIBLE_BASE_URL, e.g. http://127.0.0.1:8000/v1.",
    });
  }
  const apiKey = nonEmpty(settings.apiKey) ?? nonEmpty(env[API_KEY_VARIABLES["openai-compatible"]]);
  return createOpenAICompatible({
    name: "openai-compatible",
    baseURL: checkedUrl(baseUrl),
    apiKey,
    includeUsage: true,
  });
}

const factories: Record<ProviderName, ProviderFactory> = {
  openai: (modelId, settings) =>
    createOpenAI({ apiKey: requireApiKey("openai", settings), baseURL: optionalBaseUrl(settings) })(modelId),
  anthropic: (modelId, settings) =>
    createAnthropic({ apiKey: requireApiKey("anthropic", settings), baseURL: optionalBaseUrl(settings) })(
      modelId,
    ),
  google: (modelId, settings) =>
    createGoogleGenerativeAI({
      apiKey: requireApiKey("google", settings),
      baseURL: optionalBaseUrl(settings),
    })(modelId),
  ollama: (modelId, settings) =>
    createOpenAICompatible({
      name: "ollama",
      baseURL: `${checkedUrl(ollamaBaseUrl(settings))}/v1`,
      includeUsage: true,
    })(modelId),
  "openai-compatible": (modelId, settings) => openAiCompatibleProvider(settings)(modelId),
  llamacpp: (modelPath) => {
    if (!existsSync(modelPath) || !statSync(modelPath).isFile()) {
      throw new ConfigError({
        message: `No GGUF model file at "${modelPath}": give llamacpp:<path-to.gguf> with a path to an existing file.`,
      });
    }
    return createLlamaCppModel({ modelPath });
  },
};

function isModelInstance(value: unknown): value is LanguageModelInstance {
  return (
    typeof value === "object" &&
    value !== null &&
    "specificationVersion" in value &&
    "doGenerate" in value &&
    typeof (value as { doGenerate: unknown }).doGenerate === "function"
  );
}

/**
 * The one place where a model spec string (`openai:gpt-5-mini`) becomes a model.
 * An AI SDK model instance passes through unchanged.
 */
export function resolveModel(
  model: string | LanguageModelInstance,
  settings: ModelSettings = {},
): ResolvedModel {
  if (isModelInstance(model)) {
    return {
      label: `${model.provider}:${model.modelId}`,
      provider: model.provider,
      modelId: model.modelId,
      model,
    };
  }
  if (typeof model !== "string") {
    throw new ConfigError({
      message: "A model must be a spec string like openai:gpt-5-mini or an AI SDK language model instance.",
    });
  }
  const spec: ModelSpec = parseModelSpec(model);
  return {
    label: `${spec.provider}:${spec.modelId}`,
    provider: spec.provider,
    modelId: spec.modelId,
    model: factories[spec.provider](spec.modelId, settings),
  };
}
