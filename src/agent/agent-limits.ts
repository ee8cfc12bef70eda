import { type LimitLabel, MAX_TIMER_MS, validateLimits } from "../engine/run-limits.ts";
import { UsageError } from "../errors/usage-error.ts";

/** Hard limits of one agent run; at any of them the run ends with one last call that turns what it has into an answer. */
export interface AgentLimits {
  /** Model steps of the tool loop (default 20); the last call at a limit comes on top. */
  maxSteps?: number;
  /** Tool calls over the run (default 100); past it a call is an error result and the run ends after the step. */
  maxToolCalls?: number;
  /** Input plus output tokens over all calls (default none), tools' own model calls included. */
  maxTokens?: number;
  /** Spend in USD over all calls (default none); every model needs a known price. */
  maxCostUsd?: number;
  /** Wall time of the run in ms (default none). */
  timeoutMs?: number;
  /** Tool calls of one step run at once (default 4). */
  toolConcurrency?: number;
  /** Time one tool call may take, in ms (default 60,000). */
  toolTimeoutMs?: number;
  /** Characters of one tool output the model reads (default 20,000); the full text stays in the trace. */
  maxToolOutputChars?: number;
}

export const DEFAULT_AGENT_LIMITS = {
  maxSteps: 20,
  maxToolCalls: 100,
  toolConcurrency: 4,
  toolTimeoutMs: 60_000,
  maxToolOutputChars: 20_000,
} as const satisfies AgentLimits;

export type ResolvedAgentLimits = AgentLimits &
  Required<
    Pick<
      AgentLimits,
      "maxSteps" | "maxToolCalls" | "toolConcurrency" | "toolTimeoutMs" | "maxToolOutputChars"
    >
  >;

const OWN_BOUNDS: Record<string, { min: number; max: number }> = {
  maxSteps: { min: 1, max: 10_000 },
  toolConcurrency: { min: 1, max: 256 },
  toolTimeoutMs: { min: 1, max: MAX_TIMER_MS },
  maxToolOutputChars: { min: 200, max: 100_000_000 },
};

/** Checks an agent's limits (the shared ones through the RLM's validator); throws a UsageError naming the field. */
export function validateAgentLimits(
  limits: AgentLimits | undefined,
  label: LimitLabel = (field) => `limits.${field}`,
): ResolvedAgentLimits {
  const given = limits ?? {};
  const { maxSteps, toolConcurrency, toolTimeoutMs, maxToolOutputChars, ...shared } = given;
  validateLimits({ run: shared }, label);
  for (const [field, value] of Object.entries({
    maxSteps,
    toolConcurrency,
    toolTimeoutMs,
    maxToolOutputChars,
  })) {
    if (value === undefined) continue;
    const bound = OWN_BOUNDS[field] as { min: number; max: number };
    if (typeof value !== "number" || !Number.isInteger(value) || value < bound.min || value > bound.max) {
      throw new UsageError({
        message: `${label(field)} must be a whole number from ${bound.min} to ${bound.max}, got ${String(value)}.`,
      });
    }
  }
  return { ...DEFAULT_AGENT_LIMITS, ...given };
}
