/** Tokens and cost of one model call. `costUsd` is null when the model's price is unknown (never a fake 0). */
export interface CallUsage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (a subset of inputTokens). */
  cachedInputTokens: number;
  costUsd: number | null;
}

/** The usage of a call that got no reply (it is not billed) or was answered from a cache. */
export const NO_USAGE: CallUsage = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  costUsd: 0,
});

/** Usage summed over many calls. */
export interface UsageTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  /** Sum of the priced calls. A lower bound when `unpricedCalls` > 0; null when no call was priced. */
  costUsd: number | null;
  unpricedCalls: number;
}

export function emptyUsageTotals(): UsageTotals {
  return { calls: 0, inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costUsd: null, unpricedCalls: 0 };
}

export function addCallUsage(totals: UsageTotals, usage: CallUsage): UsageTotals {
  return {
    calls: totals.calls + 1,
    inputTokens: totals.inputTokens + usage.inputTokens,
    outputTokens: totals.outputTokens + usage.outputTokens,
    cachedInputTokens: totals.cachedInputTokens + usage.cachedInputTokens,
    costUsd: usage.costUsd === null ? totals.costUsd : (totals.costUsd ?? 0) + usage.costUsd,
    unpricedCalls: totals.unpricedCalls + (usage.costUsd === null ? 1 : 0),
  };
}

/** "$0.0123", "$0.0123+ (2 calls unpriced)" or "unknown". */
export function formatCost(totals: Pick<UsageTotals, "costUsd" | "unpricedCalls">): string {
  if (totals.costUsd === null) return totals.unpricedCalls > 0 ? "unknown" : "$0";
  const amount = `$${totals.costUsd.toFixed(totals.costUsd < 1 ? 4 : 2)}`;
  return totals.unpricedCalls > 0 ? `${amount}+ (${totals.unpricedCalls} calls unpriced)` : amount;
}
