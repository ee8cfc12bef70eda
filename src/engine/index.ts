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
  IterationEndEvent,
  IterationStartEvent,
  MemoryEvent,
  RunEndEvent,
  RunEvent,
  RunEventListener,
  RunStartEvent,
  SubcallEndEvent,
  SubcallStartEvent,
} from "./run-events.ts";
export { DEFAULT_RUN_LIMITS, type RunLimits } from "./run-limits.ts";
