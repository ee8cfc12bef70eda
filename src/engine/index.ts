export { Budget } from "./budget.ts";
export { extractCodeBlocks, findProseFinal, proseOf } from "./parse-reply.ts";
export { firstMessage, PROMPT_STYLES, type PromptStyle, systemPrompt } from "./prompts.ts";
export {
  createRLM,
  type ModelInput,
  RLM,
  type RLMOptions,
  type RunRequest,
  type RunResult,
  type RunStatus,
} from "./rlm.ts";
export type {
  CompactionEvent,
  IterationEndEvent,
  IterationStartEvent,
  MemoryEvent,
  RunEndEvent,
  RunEvent,
  RunEventListener,
  RunStartEvent,
  SubcallEndEvent,
  SubcallStartEvent,
  VerificationEvent,
} from "./run-events.ts";
export { DEFAULT_RUN_LIMITS, type RunLimits } from "./run-limits.ts";
export type { CompactionMode } from "./summary-compaction.ts";
export type { Verification } from "./verification.ts";
