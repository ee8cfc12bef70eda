import type { CallUsage, UsageTotals } from "../models/usage.ts";
import { addCallUsage, emptyUsageTotals } from "../models/usage.ts";
import type { RunLimits } from "./run-limits.ts";

export type BudgetStop = "budget_exceeded" | "timeout" | "cancelled";

/**
 * What the whole run tree has spent, against its limits. Parent and children share one Budget, so a child can
 * spend only what its parent has left. `stopReason` answers whether another request may be sent.
 */
export class Budget {
  readonly limits: RunLimits;
  readonly signal: AbortSignal;
  private readonly deadline: number | undefined;
  private readonly timeoutSignal: AbortSignal | undefined;
  private readonly userSignal: AbortSignal | undefined;
  total: UsageTotals = emptyUsageTotals();
  readonly byModel = new Map<string, UsageTotals>();
  subcalls = 0;
  deepestDepth = 0;
  /** Set when a limit was hit; the run ends after the current step. */
  exhausted: string | undefined;

  constructor(limits: RunLimits, signal?: AbortSignal) {
    this.limits = limits;
    this.userSignal = signal;
    this.deadline = limits.timeoutMs === undefined ? undefined : performance.now() + limits.timeoutMs;
    this.timeoutSignal = limits.timeoutMs === undefined ? undefined : AbortSignal.timeout(limits.timeoutMs);
    const signals = [signal, this.timeoutSignal].filter((item): item is AbortSignal => item !== undefined);
    this.signal = signals.length === 0 ? new AbortController().signal : AbortSignal.any(signals);
  }

  record(model: string, usage: CallUsage): void {
    this.total = addCallUsage(this.total, usage);
    this.byModel.set(model, addCallUsage(this.byModel.get(model) ?? emptyUsageTotals(), usage));
  }

  /** Why no further request may be sent, or undefined when one may. */
  stopReason(): { status: BudgetStop; message: string } | undefined {
    if (this.userSignal?.aborted) return { status: "cancelled", message: "the run was cancelled" };
    if (this.timeoutSignal?.aborted || (this.deadline !== undefined && performance.now() >= this.deadline)) {
      return {
        status: "timeout",
        message: `the run's time limit of ${(this.limits.timeoutMs ?? 0) / 1000} s is up`,
      };
    }
    const tokens = this.total.inputTokens + this.total.outputTokens;
    if (this.limits.maxTokens !== undefined && tokens >= this.limits.maxTokens) {
      return { status: "budget_exceeded", message: `the token budget of ${this.limits.maxTokens} is spent` };
    }
    if (this.limits.maxCostUsd !== undefined && (this.total.costUsd ?? 0) >= this.limits.maxCostUsd) {
      return { status: "budget_exceeded", message: `the cost budget of $${this.limits.maxCostUsd} is spent` };
    }
    if (this.exhausted !== undefined) return { status: "budget_exceeded", message: this.exhausted };
    return undefined;
  }

  /** Reserves one sub-call, or says why it may not be made. */
  reserveSubcall(): string | undefined {
    const stop = this.stopReason();
    if (stop !== undefined) return stop.message;
    if (this.limits.maxSubcalls !== undefined && this.subcalls >= this.limits.maxSubcalls) {
      this.exhausted = `the sub-call limit of ${this.limits.maxSubcalls} is reached`;
      return this.exhausted;
    }
    this.subcalls++;
    return undefined;
  }
}
