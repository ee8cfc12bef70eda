import type { ModelPrice } from "../models/prices.ts";
import type { CallUsage, UsageTotals } from "../models/usage.ts";
import { addCallUsage, emptyUsageTotals } from "../models/usage.ts";
import { type TimeoutSignal, timeoutSignal } from "../shared/timeout-signal.ts";
import type { RunLimits } from "./run-limits.ts";

export type BudgetStop = "budget_exceeded" | "timeout" | "cancelled";

/** Output tokens a call may use when the caller names no cap and a token or cost limit is set. */
export const DEFAULT_OUTPUT_RESERVE = 8_192;
/** A call whose output could not get at least this many tokens waits for others to return, or is refused. */
export const MIN_OUTPUT_TOKENS = 256;

/** What one call is expected to take, before it is sent. */
export interface CallEstimate {
  /** `provider:modelId`. */
  model: string;
  /** The model's price; undefined when unknown (refused up front when a cost limit is set). */
  price: ModelPrice | undefined;
  /** Prompt tokens, counted on our side with a margin. */
  inputTokens: number;
  /** The cap the caller asked for, if any. */
  maxOutputTokens?: number;
}

/** Budget held for one call in flight; give it back with `settle` (the call returned) or `release` (it did not). */
export interface Reservation {
  /** The output cap to send with the request: the call can never spend more than was reserved. */
  readonly maxOutputTokens: number | undefined;
  /** Frees the reservation; the caller records the usage. Notes where the server counted more than was held. */
  settle(usage: CallUsage): void;
  /** Frees the reservation of a call that got no reply. */
  release(): void;
}

function tokensOf(usage: Pick<CallUsage, "inputTokens" | "outputTokens">): number {
  return usage.inputTokens + usage.outputTokens;
}

function costOf(price: ModelPrice | undefined, inputTokens: number, outputTokens: number): number {
  if (price === undefined) return 0;
  return (inputTokens * price.input + outputTokens * price.output) / 1e6;
}

/**
 * What the whole run tree has spent, against its limits. Parent and children share one Budget, so a child can
 * spend only what its parent has left. `stopReason` answers whether another request may be sent.
 *
 * Token and cost limits hold with calls in flight: every call reserves its prompt tokens and an output cap before
 * it is sent (`reserve`), and gives back what it did not use when it returns. A call that cannot get room waits
 * for the calls in flight, and is refused when nothing is in flight, so spent + reserved never passes the limit.
 */
export class Budget {
  readonly limits: RunLimits;
  readonly signal: AbortSignal;
  private readonly deadline: number | undefined;
  private readonly timeoutSignal: AbortSignal | undefined;
  private readonly deadlineTimer: TimeoutSignal | undefined;
  private readonly userSignal: AbortSignal | undefined;
  total: UsageTotals = emptyUsageTotals();
  readonly byModel = new Map<string, UsageTotals>();
  subcalls = 0;
  deepestDepth = 0;
  /** Set when a limit was hit; the run ends after the current step. */
  exhausted: string | undefined;
  /** Tokens servers reported beyond what was reserved for their calls (our estimate was low). */
  overrunTokens = 0;
  /** Calls whose usage is our estimate because they were cancelled in flight. */
  estimatedCalls = 0;
  private reservedTokens = 0;
  private reservedCostUsd = 0;
  private reservations = 0;
  private readonly waiters = new Set<() => void>();

  constructor(limits: RunLimits, signal?: AbortSignal) {
    this.limits = limits;
    this.userSignal = signal;
    this.deadline = limits.timeoutMs === undefined ? undefined : performance.now() + limits.timeoutMs;
    this.deadlineTimer = limits.timeoutMs === undefined ? undefined : timeoutSignal(limits.timeoutMs);
    this.timeoutSignal = this.deadlineTimer?.signal;
    const signals = [signal, this.timeoutSignal].filter((item): item is AbortSignal => item !== undefined);
    this.signal = signals.length === 0 ? new AbortController().signal : AbortSignal.any(signals);
  }

  /**
   * The run tree has ended: its time limit's timer is cleared, so a server's finished runs are not kept alive
   * until their limits would have passed. (`stopReason` still compares the clock with the deadline.)
   */
  release(): void {
    this.deadlineTimer?.clear();
  }

  record(model: string, usage: CallUsage): void {
    this.total = addCallUsage(this.total, usage);
    this.byModel.set(model, addCallUsage(this.byModel.get(model) ?? emptyUsageTotals(), usage));
  }

  /** Whether calls must reserve before they are sent. */
  get metered(): boolean {
    return this.limits.maxTokens !== undefined || this.limits.maxCostUsd !== undefined;
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
    const tokens = tokensOf(this.total);
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

  /** Output tokens the limits leave for a call of this estimate, and which limit binds. */
  private outputRoom(estimate: CallEstimate): { room: number; binding: "tokens" | "cost" } {
    let byTokens = Number.POSITIVE_INFINITY;
    if (this.limits.maxTokens !== undefined) {
      byTokens = this.limits.maxTokens - tokensOf(this.total) - this.reservedTokens - estimate.inputTokens;
    }
    let byCost = Number.POSITIVE_INFINITY;
    const price = estimate.price;
    if (this.limits.maxCostUsd !== undefined && price !== undefined) {
      const left =
        this.limits.maxCostUsd -
        (this.total.costUsd ?? 0) -
        this.reservedCostUsd -
        costOf(price, estimate.inputTokens, 0);
      byCost = price.output > 0 ? Math.floor((left * 1e6) / price.output) : left >= 0 ? byCost : -1;
    }
    return byCost < byTokens
      ? { room: Math.floor(byCost), binding: "cost" }
      : { room: Math.floor(byTokens), binding: "tokens" };
  }

  /**
   * Holds the prompt tokens and an output cap of one call against the token and cost limits. Waits while other
   * calls hold what is left; resolves to a refusal message when nothing in flight can free enough.
   */
  async reserve(estimate: CallEstimate, signal?: AbortSignal): Promise<Reservation | string> {
    if (!this.metered) {
      return { maxOutputTokens: estimate.maxOutputTokens, settle: () => {}, release: () => {} };
    }
    const wanted = estimate.maxOutputTokens ?? DEFAULT_OUTPUT_RESERVE;
    const least = Math.min(wanted, MIN_OUTPUT_TOKENS);
    for (;;) {
      const stop = this.stopReason();
      if (stop !== undefined) return stop.message;
      if (signal?.aborted) return "the call was cancelled";
      const { room, binding } = this.outputRoom(estimate);
      if (room >= least) return this.hold(estimate, Math.min(wanted, room));
      if (this.reservations === 0) {
        this.exhausted =
          binding === "tokens"
            ? `the token budget of ${this.limits.maxTokens} cannot cover another call (about ${estimate.inputTokens} prompt tokens plus at least ${least} output tokens)`
            : `the cost budget of $${this.limits.maxCostUsd} cannot cover another call to ${estimate.model}`;
        return this.exhausted;
      }
      await this.nextRelease(signal);
    }
  }

  private hold(estimate: CallEstimate, maxOutputTokens: number): Reservation {
    const tokens = estimate.inputTokens + maxOutputTokens;
    const cost = costOf(estimate.price, estimate.inputTokens, maxOutputTokens);
    this.reservedTokens += tokens;
    this.reservedCostUsd += cost;
    this.reservations++;
    let open = true;
    const free = () => {
      if (!open) return false;
      open = false;
      this.reservedTokens -= tokens;
      this.reservedCostUsd -= cost;
      this.reservations--;
      for (const wake of [...this.waiters]) wake();
      return true;
    };
    return {
      maxOutputTokens,
      settle: (usage) => {
        if (!free()) return;
        this.overrunTokens += Math.max(0, tokensOf(usage) - tokens);
      },
      release: () => {
        free();
      },
    };
  }

  private nextRelease(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        this.signal.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
      this.signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Honest notes on the totals: where servers counted more than we reserved, and estimated calls. */
  notes(): string[] {
    const notes: string[] = [];
    if (this.overrunTokens > 0) {
      notes.push(
        `the servers counted ${this.overrunTokens.toLocaleString("en-US")} tokens more than rlmkit reserved for those calls, so the totals may pass the token or cost limit by that much`,
      );
    }
    if (this.estimatedCalls > 0) {
      notes.push(
        `${this.estimatedCalls} call(s) were cancelled in flight; their prompt tokens are counted at rlmkit's estimate (the provider may have billed them)`,
      );
    }
    return notes;
  }
}
