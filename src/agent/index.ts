export { type AgentOptions, type AgentRunRequest, createAgent, RlmAgent, truncateForModel } from "./agent.ts";
export type {
  AgentEvent,
  AgentPlanReport,
  AgentPlanStep,
  AgentResult,
  AgentStatus,
  AgentToolFactory,
  AgentToolInput,
  AgentToolScope,
  AgentVerification,
  CheckedClaim,
  RunScopedTool,
  UnverifiedAnswer,
} from "./agent-events.ts";
export { type AgentLimits, DEFAULT_AGENT_LIMITS, validateAgentLimits } from "./agent-limits.ts";
export {
  AGENT_TOOL_NAMES,
  type AgentToolName,
  type AgentToolsOptions,
  createAgentTools,
  parseToolNames,
} from "./agent-tools.ts";
export { createAskLlmTool } from "./ask-llm-tool.ts";
export type { VerifyOptions } from "./claim-verification.ts";
export { createMemoryTools } from "./memory-tools.ts";
export { MAX_PLAN_STEPS } from "./plan-schema.ts";
export type { PlannerOptions } from "./planner.ts";
export { createRlmQueryTool, type RlmQueryToolOptions } from "./rlm-query-tool.ts";
export { createRunCodeTool, type RunCodeToolOptions } from "./run-code-tool.ts";
export * from "./tools/index.ts";
