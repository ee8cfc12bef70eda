import type { CallUsage } from "../models/usage.ts";
import type { AgentStatus } from "./agent-events.ts";

/** A limit or cancellation that ends the run now. */
export interface RunStop {
  status: AgentStatus;
  message: string;
}

/** One model call without tools (planner, synthesis, verification), as a step of the run's trace. */
export interface HostCallRequest {
  /** What the call is for, shown in the trace (`plan`, `synthesis`, `verification: claims`). */
  label: string;
  system: string;
  prompt: string;
  /** Earlier turns of this call's own conversation (a retry after a malformed reply), before `prompt`. */
  history?: Array<{ role: "user" | "assistant"; content: string }>;
  maxOutputTokens: number;
  /**
   * The run is at a limit (this is why): the call is the one that turns the work into an answer, sent on top of the
   * limit as the plain agent's last call is, with its own time limit. Without it the call reserves under the budget
   * and is refused when the budget cannot cover it.
   */
  atLimit?: string;
}

export interface HostCallResult {
  text: string;
  usage: CallUsage;
}

/** One bounded run of the tool loop (an executor step). */
export interface HostLoopRequest {
  /** Shown in the trace on the loop's first step (`step 2 of 4: find the population`). */
  label: string;
  /** What the system prompt restates at every step of this loop: the task, the plan, the step's goal. */
  restate: string;
  /** The loop's first user message. */
  prompt: string;
  /** Model steps this loop may take (the run's own step limit also holds). */
  maxSteps: number;
}

export interface HostLoopResult {
  /** The model's last text (its answer when it stopped calling tools). */
  text: string;
  /** The loop ended with tool calls pending: at its step cap or a limit, so without a result. */
  pendingTools: boolean;
  /** Tool calls of this loop that returned a result, and the errors of those that failed. */
  toolsOk: number;
  toolErrors: string[];
  /** The model call failed (not a limit): the error, one line. */
  error?: string;
}

/**
 * What the planner/executor and the claim verification need of the agent run they work in; RlmAgent implements it
 * over its run scope, so every call they make is a step of the run, under its limits and Budget, in its trace.
 */
export interface AgentRunHost {
  readonly task: string;
  /** The tools the run may call, with their descriptions (for the planner). */
  readonly tools: ReadonlyArray<{ name: string; description: string }>;
  /** The model's context window in tokens (to size what is shown). */
  readonly contextWindow: number;
  /** Model steps left under the step limit. */
  stepsLeft(): number;
  /** The limit that ends the run now (tokens, cost, time, tool calls, cancellation), if any. */
  stopped(): RunStop | undefined;
  /** One model call; throws when it fails or the budget refuses it. */
  call(request: HostCallRequest): Promise<HostCallResult>;
  /** One bounded tool loop; never throws for model or tool failures (see `error`). */
  loop(request: HostLoopRequest): Promise<HostLoopResult>;
  /** A line for the result's warnings. */
  warn(line: string): void;
}

export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

export function errorLine(error: unknown, max = 300): string {
  return oneLine(error instanceof Error ? error.message : String(error), max);
}
