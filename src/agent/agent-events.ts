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
  /** With a planner: the plan, each step's outcome, its revisions (absent for the plain tool loop). */
  plan?: AgentPlanReport;
  /** With `verify`: the claims of the answer checked against the evidence the run gathered. */
  verification?: AgentVerification;
  warnings?: string[];
}

/** One step of a plan as it went. */
export interface AgentPlanStep {
  id: string;
  goal: string;
  /** The tool the planner said the step needs (a name the agent has), if any. */
  tool?: string;
  status: "done" | "failed" | "not-run";
  /** What the executor found (its reply, cut to a few thousand characters). */
  result?: string;
  /** Why the step failed (its tool errors, or no result). */
  error?: string;
}

/** What the planner/executor did: the plan's steps (revisions included), or why it fell back to the plain loop. */
export interface AgentPlanReport {
  steps: AgentPlanStep[];
  /** Revisions of the plan after a failed step. */
  revisions: number;
  /** Set when the planner gave no valid plan and the run went on as the plain tool loop. */
  fallback?: string;
  /** What was repaired in the planner's output (unknown tools dropped, steps past the cap cut). */
  notes: string[];
}

/** One claim of the answer and what the check found. */
export interface CheckedClaim {
  claim: string;
  supported: boolean;
  /** The id of the evidence that supports it (E1, E2, ...: a tool call of the run). */
  evidence?: string;
}

/**
 * What `verify` adds to an agent's result: the answer's claims checked against the evidence the run gathered
 * (tool outputs; ask_llm's answers are not evidence). `status` as the RLM's Verification: confirmed (every claim
 * supported), corrected (unsupported claims removed or marked by a revision), unverified (they were marked
 * without a revision, or the check could not run: `skipped` says why).
 */
export interface AgentVerification {
  status: "confirmed" | "corrected" | "unverified";
  checked: number;
  supported: number;
  unsupported: number;
  claims: CheckedClaim[];
  /** Why the check did not run or did not finish (a limit, a reply that was not valid JSON). */
  skipped?: string;
  /** What the verification's calls cost (also in the run's totals). */
  usage: { inputTokens: number; outputTokens: number; costUsd: number | null; calls: number };
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
