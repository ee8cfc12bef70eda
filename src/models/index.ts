export { CONTEXT_WINDOWS, contextWindowOf, DEFAULT_CONTEXT_WINDOW } from "./context-windows.ts";
export {
  DEFAULT_ANTHROPIC_MODEL,
  DEFAULT_OPENAI_MODEL,
  findDefaultModel,
  listOllamaModels,
} from "./default-model.ts";
export { createLlamaCppModel, type LlamaCppModelOptions } from "./llamacpp-model.ts";
export {
  createModelClient,
  ModelClient,
  type ModelClientOptions,
  type ModelRequest,
  type ModelResponse,
} from "./model-client.ts";
export type {
  CallEndEvent,
  CallRetryEvent,
  CallStartEvent,
  ModelCallEvent,
  ModelCallListener,
} from "./model-events.ts";
export { API_KEY_VARIABLES, DEFAULT_OLLAMA_BASE_URL, type ModelSettings } from "./model-settings.ts";
export {
  formatModelSpec,
  type ModelSpec,
  PROVIDER_NAMES,
  type ProviderName,
  parseModelSpec,
} from "./model-spec.ts";
export {
  DEFAULT_PRICES,
  findPrice,
  loadPriceTable,
  type ModelPrice,
  type PriceTable,
  priceCall,
} from "./prices.ts";
export { describeProviders, type ProviderStatus, type ProvidersReport } from "./provider-status.ts";
export { collectSecrets, redactSecrets } from "./redact-secrets.ts";
export { type ResolvedEmbeddingModel, resolveEmbeddingModel } from "./resolve-embedding-model.ts";
export { type LanguageModelInstance, type ResolvedModel, resolveModel } from "./resolve-model.ts";
export {
  type CachedResponse,
  DiskResponseCache,
  type ResponseCache,
  requestCacheKey,
} from "./response-cache.ts";
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry-policy.ts";
export { addCallUsage, type CallUsage, emptyUsageTotals, formatCost, type UsageTotals } from "./usage.ts";
