/**
 * Connection settings that a model spec may need. Explicit values win over the environment.
 */
export interface ModelSettings {
  /** Base URL of the API (for `openai-compatible`, `ollama`, or a proxy in front of the others). */
  baseUrl?: string;
  /** API key; otherwise read from the provider's environment variable. */
  apiKey?: string;
  /** Environment to read settings from; defaults to `process.env`. */
  env?: Record<string, string | undefined>;
}

export const DEFAULT_OLLAMA_BASE_URL = "http://127.0.0.1:11434";

/** The environment variable that holds each hosted provider's API key. */
export const API_KEY_VARIABLES = {
  openai: "OPENAI_API_KEY",
  anthropic: "ANTHROPIC_API_KEY",
  google: "GOOGLE_GENERATIVE_AI_API_KEY",
  "openai-compatible": "OPENAI_COMPATIBLE_API_KEY",
} as const;

export function environmentOf(settings: ModelSettings): Record<string, string | undefined> {
  return settings.env ?? process.env;
}

/** A value that is set and not blank. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== "" ? value.trim() : undefined;
}

export function ollamaBaseUrl(settings: ModelSettings): string {
  const env = environmentOf(settings);
  return stripTrailingSlash(
    nonEmpty(settings.baseUrl) ?? nonEmpty(env.OLLAMA_BASE_URL) ?? DEFAULT_OLLAMA_BASE_URL,
  );
}

export function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
