import { findDefaultModel, listOllamaModels } from "./default-model.ts";
import {
  API_KEY_VARIABLES,
  environmentOf,
  type ModelSettings,
  nonEmpty,
  ollamaBaseUrl,
  stripTrailingSlash,
} from "./model-settings.ts";
import type { ProviderName } from "./model-spec.ts";

export interface ProviderStatus {
  provider: ProviderName;
  /** Has what it needs to be called (a key, a base URL, an installed package). */
  configured: boolean;
  /** For local servers: whether they answered now. Undefined where not checked. */
  reachable?: boolean;
  /** Where the configuration came from, or where the server was looked for. */
  detail: string;
  /** Model specs that can be used right away, when the provider lists them. */
  models: string[];
  /** What to do to configure it, when it is not. */
  hint?: string;
}

export interface ProvidersReport {
  providers: ProviderStatus[];
  /** The model used when none is given, or null with the reason. */
  defaultModel: string | null;
  defaultModelError?: string;
}

async function listCompatibleModels(
  baseUrl: string,
  apiKey: string | undefined,
): Promise<string[] | undefined> {
  try {
    const response = await fetch(`${stripTrailingSlash(baseUrl)}/models`, {
      headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      signal: AbortSignal.timeout(1500),
    });
    if (!response.ok) return undefined;
    const body = (await response.json()) as { data?: Array<{ id?: string }> };
    return (body.data ?? []).map((entry) => entry.id ?? "").filter((id) => id !== "");
  } catch {
    return undefined;
  }
}

function hostedStatus(
  provider: "openai" | "anthropic" | "google",
  settings: ModelSettings,
  example: string,
): ProviderStatus {
  const variable = API_KEY_VARIABLES[provider];
  const configured = nonEmpty(environmentOf(settings)[variable]) !== undefined;
  return {
    provider,
    configured,
    detail: configured ? `key from ${variable}` : `no ${variable}`,
    models: [],
    ...(configured ? {} : { hint: `set ${variable} to use ${provider}:${example}` }),
  };
}

async function nodeLlamaCppInstalled(): Promise<boolean> {
  try {
    import.meta.resolve("node-llama-cpp");
    return true;
  } catch {
    return false;
  }
}

/** Which providers are configured and which local servers answer; probes run in parallel. */
export async function describeProviders(settings: ModelSettings = {}): Promise<ProvidersReport> {
  const env = environmentOf(settings);
  const compatibleUrl = nonEmpty(settings.baseUrl) ?? nonEmpty(env.OPENAI_COMPATIBLE_BASE_URL);
  const ollamaUrl = ollamaBaseUrl({ env });
  const [ollamaModels, compatibleModels, llamaInstalled, defaultModel] = await Promise.all([
    listOllamaModels({ env }),
    compatibleUrl === undefined
      ? Promise.resolve(undefined)
      : listCompatibleModels(
          compatibleUrl,
          nonEmpty(settings.apiKey) ?? nonEmpty(env.OPENAI_COMPATIBLE_API_KEY),
        ),
    nodeLlamaCppInstalled(),
    findDefaultModel({ env }).then(
      (model) => ({ model, error: undefined }),
      (error: Error) => ({ model: null, error: error.message }),
    ),
  ]);
  const providers: ProviderStatus[] = [
    hostedStatus("openai", settings, "gpt-5-mini"),
    hostedStatus("anthropic", settings, "claude-sonnet-4-5"),
    hostedStatus("google", settings, "gemini-2.5-flash"),
    {
      provider: "ollama",
      configured: ollamaModels !== undefined,
      reachable: ollamaModels !== undefined,
      detail: `${ollamaModels === undefined ? "no answer at" : "answering at"} ${ollamaUrl}`,
      models: (ollamaModels ?? []).map((name) => `ollama:${name}`),
      ...(ollamaModels === undefined ? { hint: "start `ollama serve`, or set OLLAMA_BASE_URL" } : {}),
    },
    {
      provider: "openai-compatible",
      configured: compatibleUrl !== undefined,
      ...(compatibleUrl === undefined ? {} : { reachable: compatibleModels !== undefined }),
      detail:
        compatibleUrl === undefined
          ? "no base URL"
          : `${compatibleModels === undefined ? "no answer at" : "answering at"} ${compatibleUrl}`,
      models: (compatibleModels ?? []).map((id) => `openai-compatible:${id}`),
      ...(compatibleUrl === undefined
        ? {
            hint: "pass --base-url or set OPENAI_COMPATIBLE_BASE_URL (vLLM, llama.cpp server, LM Studio, ...)",
          }
        : {}),
    },
    {
      provider: "llamacpp",
      configured: llamaInstalled,
      detail: llamaInstalled ? "node-llama-cpp installed" : "node-llama-cpp not installed",
      models: [],
      hint: llamaInstalled ? "use llamacpp:<path-to.gguf>" : "npm install node-llama-cpp@3",
    },
  ];
  return {
    providers,
    defaultModel: defaultModel.model,
    ...(defaultModel.error === undefined ? {} : { defaultModelError: defaultModel.error }),
  };
}
