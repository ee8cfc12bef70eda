import { ConfigError } from "../errors/config-error.ts";
import { environmentOf, type ModelSettings, nonEmpty, ollamaBaseUrl } from "./model-settings.ts";

/** Models a local Ollama server has pulled, or undefined when it does not answer. */
export async function listOllamaModels(
  settings: ModelSettings = {},
  timeoutMs = 800,
): Promise<string[] | undefined> {
  try {
    const response = await fetch(`${ollamaBaseUrl(settings)}/api/tags`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { models?: Array<{ name?: string; model?: string }> };
    return (body.models ?? []).map((entry) => entry.name ?? entry.model ?? "").filter((name) => name !== "");
  } catch {
    return undefined;
  }
}

export const DEFAULT_OPENAI_MODEL = "openai:gpt-5-mini";
export const DEFAULT_ANTHROPIC_MODEL = "anthropic:claude-sonnet-4-5";

/**
 * The model to use when none is given: `RLM_MODEL`, else OpenAI when its key is set, else Anthropic when its key
 * is set, else the first model of a reachable local Ollama. Otherwise a ConfigError explains the ways to set one.
 */
export async function findDefaultModel(settings: ModelSettings = {}): Promise<string> {
  const env = environmentOf(settings);
  const configured = nonEmpty(env.RLM_MODEL);
  if (configured !== undefined) return configured;
  if (nonEmpty(env.OPENAI_API_KEY) !== undefined) return DEFAULT_OPENAI_MODEL;
  if (nonEmpty(env.ANTHROPIC_API_KEY) !== undefined) return DEFAULT_ANTHROPIC_MODEL;
  const ollamaModels = await listOllamaModels(settings);
  const first = ollamaModels?.[0];
  if (first !== undefined) return `ollama:${first}`;
  if (settings.baseUrl !== undefined && settings.baseUrl.trim() !== "") {
    throw new ConfigError({
      message: `--base-url ${settings.baseUrl} names a server but not its model: pass --model openai-compatible:<model-id> (or ollama:<model> for Ollama).`,
    });
  }
  throw new ConfigError({
    message: `No model is configured: pass --model (e.g. openai:gpt-5-mini) or set RLM_MODEL; or set OPENAI_API_KEY or ANTHROPIC_API_KEY; or run a local Ollama with a pulled model at ${ollamaBaseUrl(settings)} (OLLAMA_BASE_URL).`,
  });
}
