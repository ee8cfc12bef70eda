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
