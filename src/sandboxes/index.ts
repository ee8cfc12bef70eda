export { ASYNC_PREFIX, type TransformedCell, transformCell } from "./cell-transform.ts";
export {
  type ChunkOptions,
  chunk,
  countTokens,
  createClosableHostHelpers,
  createHostHelpers,
  type Document,
  type GrepMatch,
  type GrepOptions,
  grep,
  type HostHelperOptions,
} from "./host-helpers.ts";
export { createIsolatedVmSandbox, DEFAULT_LIMITS } from "./isolated-vm/isolated-vm-sandbox.ts";
export { limitOutput } from "./output-limit.ts";
export {
  createPythonSandbox,
  type PythonSandboxOptions,
  warmPythonSandbox,
} from "./python/python-sandbox.ts";
export type { SandboxChoice } from "./resolve-sandbox.ts";
export { resolveSandbox, SANDBOX_NAMES } from "./resolve-sandbox.ts";
