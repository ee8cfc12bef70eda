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
