export { Budget } from "./budget.ts";
export { extractCodeBlocks, findProseFinal, proseOf } from "./parse-reply.ts";
export { type AuditLog, openAuditLog } from "./privacy/audit-log.ts";
export {
  LOCAL_PROVIDERS,
  type PrivacyAuditEntry,
  type PrivacyOptions,
  PrivacyPolicy,
  PrivacySession,
} from "./privacy/privacy.ts";
export {
  createRedactor,
  REDACTION_KINDS,
  type RedactionCounts,
  type RedactionKind,
  Redactor,
  type RedactorOptions,
} from "./privacy/redact.ts";
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
export { type AskRequest, RLMSession, type SessionOptions, type SessionTurn } from "./rlm-session.ts";
export type {
  CompactionEvent,
  IterationEndEvent,
  IterationStartEvent,
  MemoryEvent,
  PrivacyAuditEvent,
  RunEndEvent,
  RunEvent,
  RunEventListener,
  RunStartEvent,
  SubcallEndEvent,
  SubcallStartEvent,
  ToolEndEvent,
  ToolStartEvent,
  VerificationEvent,
} from "./run-events.ts";
export type { FinishedRun, RunLearner } from "./run-learner.ts";
export { DEFAULT_RUN_LIMITS, type RunLimits } from "./run-limits.ts";
export { DEFAULT_SUB_TOOL_STEPS } from "./sub-tools.ts";
export type { CompactionMode } from "./summary-compaction.ts";
export {
  DEFAULT_MAX_TOOL_CALLS,
  DEFAULT_TOOL_TIMEOUT_MS,
  MAX_TOOL_RESULT_CHARS,
  ToolError,
} from "./user-tools.ts";
export type { Verification } from "./verification.ts";
