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

/** The provider part of a spec string (`openai` of `openai:gpt-5-mini`), or undefined for anything else. */
function providerOf(model: unknown): string | undefined {
  if (typeof model !== "string") return undefined;
  const colon = model.indexOf(":");
  return colon > 0 ? model.slice(0, colon).trim() : undefined;
}

/**
 * The settings one model of a run gets. A base URL and key belong to one model: the shared settings (given for the
 * root model) reach another model only when it is of the root's provider (the same host and key). A model of
 * another provider gets only the environment, unless it has settings of its own, so a provider's key is never
 * sent to another provider's host.
 */
export function settingsForModel(
  model: unknown,
  root: unknown,
  shared: ModelSettings | undefined,
  own?: ModelSettings,
): ModelSettings | undefined {
  if (own !== undefined) return { ...(shared?.env === undefined ? {} : { env: shared.env }), ...own };
  if (shared === undefined || model === root) return shared;
  const provider = providerOf(model);
  if (provider !== undefined && provider === providerOf(root)) return shared;
  return shared.env === undefined ? {} : { env: shared.env };
}
