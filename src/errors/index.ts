export { ConfigError } from "./config-error.ts";
export { MemoryError, type MemoryErrorReason } from "./memory-error.ts";
export { ModelCallError, type ModelCallErrorOptions, type ModelCallFailure } from "./model-call-error.ts";
export { RlmError, type RlmErrorOptions } from "./rlm-error.ts";
export { UsageError } from "./usage-error.ts";
