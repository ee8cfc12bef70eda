export {
  MEMORY_KINDS,
  type MemoryAnnotation,
  type MemoryCandidate,
  type MemoryItem,
  type MemoryKind,
  type MemoryListFilter,
  type MemoryQuery,
  type MemoryStore,
  type NewMemoryItem,
} from "./memory-store.ts";
export type {
  CellError,
  CellLimit,
  CellResult,
  HostFunction,
  Sandbox,
  SandboxLimits,
  SandboxOptions,
  SandboxSession,
  VariableInfo,
} from "./sandbox.ts";
export type { StandardSchemaResult, StandardSchemaV1 } from "./standard-schema.ts";
export type { Tool, ToolCallOptions, ToolParameters, Tools } from "./tool.ts";
export type { TraceEvent, TraceSink } from "./trace-sink.ts";
