import { readFileSync } from "node:fs";
import { ConfigError } from "../errors/config-error.ts";

/** USD per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
  /** Price of input tokens read from the provider's prompt cache; defaults to `input`. */
  cachedInput?: number;
}

/**
 * Keys are `provider:modelId`, a bare `modelId`, or `provider:*` for every model of a provider.
 * A dated model id (`gpt-4o-2024-08-06`, `claude-sonnet-4-5-20250929`) falls back to its undated key.
 */
export type PriceTable = Record<string, ModelPrice>;

/**
 * List prices of common models (USD per 1M tokens, standard tier, short prompts), as published by the providers
 * in 2025. Override or extend them with `prices` in the library or `--prices file.json` in the CLI.
 * Local models cost nothing per token.
 */
export const DEFAULT_PRICES: PriceTable = {
  "openai:gpt-5": { input: 1.25, cachedInput: 0.125, output: 10 },
  "openai:gpt-5-mini": { input: 0.25, cachedInput: 0.025, output: 2 },
  "openai:gpt-5-nano": { input: 0.05, cachedInput: 0.005, output: 0.4 },
  "openai:gpt-4.1": { input: 2, cachedInput: 0.5, output: 8 },
  "openai:gpt-4.1-mini": { input: 0.4, cachedInput: 0.1, output: 1.6 },
  "openai:gpt-4.1-nano": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "openai:gpt-4o": { input: 2.5, cachedInput: 1.25, output: 10 },
  "openai:gpt-4o-mini": { input: 0.15, cachedInput: 0.075, output: 0.6 },
  "anthropic:claude-opus-4-1": { input: 15, cachedInput: 1.5, output: 75 },
  "anthropic:claude-opus-4-5": { input: 5, cachedInput: 0.5, output: 25 },
  "anthropic:claude-sonnet-4-5": { input: 3, cachedInput: 0.3, output: 15 },
  "anthropic:claude-sonnet-4-0": { input: 3, cachedInput: 0.3, output: 15 },
  "anthropic:claude-haiku-4-5": { input: 1, cachedInput: 0.1, output: 5 },
  "anthropic:claude-3-5-haiku-latest": { input: 0.8, cachedInput: 0.08, output: 4 },
  "google:gemini-2.5-pro": { input: 1.25, cachedInput: 0.31, output: 10 },
  "google:gemini-2.5-flash": { input: 0.3, cachedInput: 0.075, output: 2.5 },
  "google:gemini-2.5-flash-lite": { input: 0.1, cachedInput: 0.025, output: 0.4 },
  "ollama:*": { input: 0, output: 0 },
  "llamacpp:*": { input: 0, output: 0 },
};

const DATE_SUFFIX = /-(\d{8}|\d{4}-\d{2}-\d{2})$/;

/** Finds the price of a model, or undefined when it is not known. */
export function findPrice(table: PriceTable, provider: string, modelId: string): ModelPrice | undefined {
  const ids = [modelId];
  if (DATE_SUFFIX.test(modelId)) ids.push(modelId.replace(DATE_SUFFIX, ""));
  for (const id of ids) {
    const price = table[`${provider}:${id}`] ?? table[id];
    if (price !== undefined) return price;
  }
  return table[`${provider}:*`];
}

/** Cost of one call in USD. */
export function priceCall(
  price: ModelPrice,
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number },
): number {
  const uncached = usage.inputTokens - usage.cachedInputTokens;
  const cachedPrice = price.cachedInput ?? price.input;
  return (
    (uncached * price.input + usage.cachedInputTokens * cachedPrice + usage.outputTokens * price.output) / 1e6
  );
}

function isModelPrice(value: unknown): value is ModelPrice {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  const isPrice = (field: unknown) => typeof field === "number" && Number.isFinite(field) && field >= 0;
  return (
    isPrice(record.input) &&
    isPrice(record.output) &&
    (record.cachedInput === undefined || isPrice(record.cachedInput))
  );
}

/** Reads a JSON price table: `{"openai-compatible:my-model": {"input": 0.2, "output": 0.6}}`. */
export function loadPriceTable(path: string): PriceTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError({
      message: `Cannot read the price table ${path}: ${(error as Error).message}. It must be a JSON object of {"provider:model": {"input": usdPerMTok, "output": usdPerMTok}}.`,
    });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError({
      message: `The price table ${path} must be a JSON object keyed by provider:model.`,
    });
  }
  for (const [key, value] of Object.entries(parsed)) {
    if (!isModelPrice(value)) {
      throw new ConfigError({
        message: `The price of "${key}" in ${path} must be {"input": number, "output": number, "cachedInput"?: number} in USD per million tokens.`,
      });
    }
  }
  return parsed as PriceTable;
}
