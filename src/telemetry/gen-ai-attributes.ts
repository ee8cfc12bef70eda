/**
 * Attribute names of the OpenTelemetry GenAI semantic conventions, and rlmkit's own. The GenAI names are still
 * "incubating" in @opentelemetry/semantic-conventions, whose advice is to copy them rather than import the
 * incubating entry point (it may change in any minor release), so they are written out here.
 */

export const GEN_AI = {
  operationName: "gen_ai.operation.name",
  providerName: "gen_ai.provider.name",
  requestModel: "gen_ai.request.model",
  agentName: "gen_ai.agent.name",
  usageInputTokens: "gen_ai.usage.input_tokens",
  usageOutputTokens: "gen_ai.usage.output_tokens",
  usageCacheReadInputTokens: "gen_ai.usage.cache_read.input_tokens",
  toolName: "gen_ai.tool.name",
  toolCallId: "gen_ai.tool.call.id",
  toolType: "gen_ai.tool.type",
  /** Opt-in content: the call's arguments and result, as text. */
  toolCallArguments: "gen_ai.tool.call.arguments",
  toolCallResult: "gen_ai.tool.call.result",
  /** Opt-in content: messages as JSON, `[{ role, parts: [{ type: "text", content }] }]`. */
  inputMessages: "gen_ai.input.messages",
  outputMessages: "gen_ai.output.messages",
} as const;

/** Values of gen_ai.operation.name. */
export const OPERATION = {
  invokeAgent: "invoke_agent",
  chat: "chat",
  executeTool: "execute_tool",
} as const;

/** The stable `error.type` attribute (a low-cardinality class of the failure). */
export const ERROR_TYPE = "error.type";

/** rlmkit's own attributes: the run tree, iterations, cost, and what the GenAI conventions do not name. */
export const RLM = {
  runId: "rlm.run_id",
  parentRunId: "rlm.parent_run_id",
  /** The rlm_query sub-call that started a child run (its span's rlm.call_id). */
  parentCallId: "rlm.parent_call_id",
  depth: "rlm.depth",
  iteration: "rlm.iteration",
  iterations: "rlm.iterations",
  status: "rlm.status",
  /** Cost of one model call in USD; only on leaf `chat` spans, and only when the model's price is known. */
  costUsd: "rlm.cost_usd",
  /** The root call's tokens are not known (a converted official log): no usage attributes, not zeros. */
  usageUnknown: "rlm.usage_unknown",
  callId: "rlm.call_id",
  subcallKind: "rlm.subcall.kind",
  promptChars: "rlm.prompt_chars",
  cached: "rlm.cached",
  childRunId: "rlm.child_run_id",
  subModel: "rlm.sub_model",
  contextChars: "rlm.context_chars",
  cells: "rlm.cells",
  resultChars: "rlm.tool.result_chars",
  unverified: "rlm.tool.unverified",
  /** A span the run never closed (its end event never came): ended when the sink closed. */
  unfinished: "rlm.unfinished",
} as const;
