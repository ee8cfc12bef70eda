import type { EmbeddingModelV4 } from "@ai-sdk/provider";
import { embedMany } from "ai";
import type { ModelSettings } from "../models/model-settings.ts";
import { resolveEmbeddingModel } from "../models/resolve-embedding-model.ts";

/** Turns texts into vectors for memory search. */
export interface Embedder {
  /** `provider:modelId`. */
  readonly label: string;
  embed(texts: string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
}

export interface EmbedderOptions {
  settings?: ModelSettings;
  /** Texts per request (default 64); requests in flight at once (default 2). */
  batchSize?: number;
  maxParallelCalls?: number;
  /** Characters kept of each text (default 8,000): embedding models take a few thousand tokens at most. */
  maxChars?: number;
}

/**
 * An Embedder over any AI SDK embedding model or spec string (`openai:text-embedding-3-small`,
 * `ollama:nomic-embed-text`), through the AI SDK's `embedMany` (its retries and batching).
 */
export function createEmbedder(model: string | EmbeddingModelV4, options: EmbedderOptions = {}): Embedder {
  const resolved =
    typeof model === "string"
      ? resolveEmbeddingModel(model, options.settings)
      : { label: `${model.provider}:${model.modelId}`, model };
  const batchSize = options.batchSize ?? 64;
  const maxChars = options.maxChars ?? 8000;
  return {
    label: resolved.label,
    async embed(texts, { signal } = {}) {
      const vectors: number[][] = [];
      for (let start = 0; start < texts.length; start += batchSize) {
        const values = texts.slice(start, start + batchSize).map((text) => text.slice(0, maxChars) || " ");
        const result = await embedMany({
          model: resolved.model,
          values,
          maxParallelCalls: options.maxParallelCalls ?? 2,
          ...(signal ? { abortSignal: signal } : {}),
        });
        vectors.push(...result.embeddings.map((vector) => Array.from(vector)));
      }
      return vectors;
    },
  };
}
