import { ConfigError } from "../errors/config-error.ts";

export const PROVIDER_NAMES = [
  "openai",
  "anthropic",
  "google",
  "ollama",
  "openai-compatible",
  "llamacpp",
] as const;

export type ProviderName = (typeof PROVIDER_NAMES)[number];

export interface ModelSpec {
  provider: ProviderName;
  /** Model id as the provider names it; for `llamacpp` the path to a .gguf file. */
  modelId: string;
}

function isProviderName(value: string): value is ProviderName {
  return (PROVIDER_NAMES as readonly string[]).includes(value);
}

/** Parses `provider:model-id`. The id may itself contain colons (`ollama:llama3:8b`). */
export function parseModelSpec(spec: string): ModelSpec {
  const trimmed = spec.trim();
  const colon = trimmed.indexOf(":");
  if (colon <= 0 || colon === trimmed.length - 1) {
    throw new ConfigError({
      message: `Model spec "${spec}" must look like provider:model-id (for example openai:gpt-5-mini). Known providers: ${PROVIDER_NAMES.join(", ")}.`,
    });
  }
  const provider = trimmed.slice(0, colon);
  const modelId = trimmed.slice(colon + 1);
  if (!isProviderName(provider)) {
    throw new ConfigError({
      message: `Unknown model provider "${provider}" in "${spec}". Known providers: ${PROVIDER_NAMES.join(", ")}.`,
    });
  }
  return { provider, modelId };
}

export function formatModelSpec(spec: ModelSpec): string {
  return `${spec.provider}:${spec.modelId}`;
}
