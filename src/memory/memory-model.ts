import { asModelClient, type ModelClient, type ModelClientDefaults } from "../models/model-client.ts";
import type { LanguageModelInstance } from "../models/resolve-model.ts";

/** A model for memory work (consolidation): a spec string, an AI SDK model, or a ModelClient. */
export type MemoryModel = string | LanguageModelInstance | ModelClient;

export function memoryModelClient(model: MemoryModel, defaults: ModelClientDefaults = {}): ModelClient {
  return asModelClient(model, defaults);
}
