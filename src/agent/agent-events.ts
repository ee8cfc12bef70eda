import type { Tool as AiTool } from "ai";
import type { Budget } from "../engine/budget.ts";
import type { RunEvent } from "../engine/run-events.ts";
import type { CallUsage, UsageTotals } from "../models/usage.ts";
import type { Tool } from "../spec/tool.ts";

/**
 * An agent's trace is made of the RLM's run events, so `rlm trace show` renders it: run-start, one
 * iteration-start / iteration-end per model step, tool-start / tool-end per tool call (tool-end carries the full
 * output, and `unverified` for ask_llm), memory, compaction, run-end.
 */
export type AgentEvent = RunEvent;

/** How an agent run ended: completed, or the limit or failure that ended it. */
export type AgentStatus =
  | "completed"
  | "max_steps"
  | "max_tool_calls"
  | "budget_exceeded"
  | "timeout"
  | "cancelled"
  | "failed";

/** An answer of a model asked for a fact or a guess (ask_llm): not checked, so the result says so. */
export interface UnverifiedAnswer {
  callId: string;
  question: string;
  answer: string;
  model: string;
}

export interface AgentResult {
  /** The answer; at a limit, what the last call made of the work so far; null when there was none. */
  answer: string | null;
  status: AgentStatus;
  /** Why the run ended before the model was done (the limit, the failure), when it did. */
  stopReason?: string;
  runId: string;
  /** Model steps, the last call at a limit included. */
  steps: number;
  toolCalls: number;
  usage: { total: UsageTotals; byModel: Record<string, UsageTotals> };
  durationMs: number;
  trace: AgentEvent[];
  /** Answers of ask_llm the run used: unverified. */
  unverified: UnverifiedAnswer[];
  warnings?: string[];
}

/** What a built-in tool may use of the run it is called in. */
export interface AgentToolScope {
  readonly runId: string;
  readonly task: string;
  /** The run's budget: a tool's own model calls reserve and book against it (meteredGenerate). */
  readonly budget: Budget;
  /** Aborts when the run ends (cancelled, timed out). */
  readonly signal: AbortSignal;
  /** Books a model call a tool made outside meteredGenerate (an RLM run) against the run's budget. */
  record(model: string, usage: CallUsage): void;
  /** The full output of an earlier tool call of this run, by its call id. */
  output(callId: string): string | undefined;
  /** Adds an event to the run's trace (runId, depth and time are filled in). */
  emit(event: AgentEventInput): void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type AgentEventInput = DistributiveOmit<RunEvent, "runId" | "depth" | "at">;

/**
 * A tool that needs the run it is called in (ask_llm, rlm_query, memory tools): made once with a getter of the
 * current run's scope.
 */
export type AgentToolFactory = (scope: () => AgentToolScope) => Tool;

/** What an agent takes as a tool: ours, an AI SDK `tool()` (web_search, MCP tools), or a factory of the run. */
export type AgentToolInput = Tool | AiTool | AgentToolFactory;

/** A tool that holds something per run (run_code's sandbox session): the agent calls `closeRun` when a run ends. */
export interface RunScopedTool extends Tool {
  closeRun(): void | Promise<void>;
}
