export { CONSOLIDATED, type ConsolidateOptions, type ConsolidationReport } from "./consolidate.ts";
export { createEmbedder, type Embedder, type EmbedderOptions } from "./embedder.ts";
export {
  type AddOptions,
  createMemory,
  Memory,
  type MemoryHit,
  type MemoryOptions,
  type RetrieveOptions,
  type ScoreBreakdown,
} from "./memory.ts";
export type { MemoryModel } from "./memory-model.ts";
export {
  defaultMemoryLocation,
  isPostgresLocation,
  type OpenMemoryStoreOptions,
  openMemoryStore,
} from "./open-memory-store.ts";
