/**
 * What a job's run spent, for its key's ledger, even when the job ended without a result. A job that is
 * cancelled (or fails because its result is too large to keep) has no `result`, yet its run spent money until
 * then: booking nothing would let a key cancel each run just before its end and never pay.
 * - In this process (the in-process queue of `openJobQueue`) the executor's own result is seen as it returns,
 *   kept or not by the queue: `RunSpendLog`, read through `RunSpendSource.runSpend`.
 * - Elsewhere (workers), the job's stored events are summed (`spendOfEvents`): each root call's
 *   `iteration-end` and each sub-call's `subcall-end` carries its usage. Calls still in flight when the job was
 *   cancelled have no event yet, so this is a lower bound; and when events were dropped (a marker in their
 *   place) it is marked incomplete, which the caller books as the run's whole reservation.
 */
import type { UsageTotals } from "../models/usage.ts";
import { emptyUsageTotals } from "../models/usage.ts";
import type { JobQueue } from "../spec/job-queue.ts";

/** A queue whose executors run in this process and can say what each run spent (see openJobQueue). */
export interface RunSpendSource {
  /**
   * The usage of job `id`'s run once its executor has returned (null when it threw before running); waits up
   * to `waitMs` (undefined after that, or when `signal` aborts). Each job's usage is given once.
   */
  runSpend(id: string, waitMs: number, signal?: AbortSignal): Promise<UsageTotals | null | undefined>;
}

export function isRunSpendSource(queue: JobQueue): queue is JobQueue & RunSpendSource {
  return typeof (queue as Partial<RunSpendSource>).runSpend === "function";
}

/** Runs' usage by job id, as their executors return; bounded (the oldest unread are forgotten). */
export class RunSpendLog {
  private readonly spent = new Map<string, UsageTotals | null>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly capacity: number;

  constructor(capacity = 10_000) {
    this.capacity = capacity;
  }

  /** The run of job `id` returned `result` (a RunResultJson), or threw (undefined). */
  record(id: string, result: unknown): void {
    const total = (result as { usage?: { total?: UsageTotals } } | undefined)?.usage?.total;
    this.spent.delete(id);
    this.spent.set(id, total ?? null);
    for (const oldest of this.spent.keys()) {
      if (this.spent.size <= this.capacity) break;
      this.spent.delete(oldest);
    }
    for (const wake of this.waiters.get(id) ?? []) wake();
  }

  async runSpend(id: string, waitMs: number, signal?: AbortSignal): Promise<UsageTotals | null | undefined> {
    if (!this.spent.has(id) && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const waiting = this.waiters.get(id) ?? new Set<() => void>();
        this.waiters.set(id, waiting);
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          waiting.delete(done);
          if (waiting.size === 0) this.waiters.delete(id);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        signal?.addEventListener("abort", done, { once: true });
        waiting.add(done);
      });
    }
    if (!this.spent.has(id)) return undefined;
    const usage = this.spent.get(id) ?? null;
    this.spent.delete(id);
    return usage;
  }
}

interface EventUsage {
  inputTokens?: unknown;
  outputTokens?: unknown;
  cachedInputTokens?: unknown;
  costUsd?: unknown;
}

const count = (value: unknown) =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0;

/** Folds a job's stored events into what their model calls spent. */
export class EventSpend {
  readonly usage: UsageTotals = emptyUsageTotals();
  /** False once an event was dropped or replaced by a marker: the sum may miss calls. */
  complete = true;
  /** rlm_query calls whose child run is in the events: the child's own calls count instead. */
  private readonly childOf = new Set<string>();
  private readonly rlmQueries = new Map<string, EventUsage>();

  add(value: unknown): void {
    const event = value as { type?: unknown; usage?: EventUsage; kind?: unknown; callId?: unknown } | null;
    const type = event?.type;
    if (type === "event-too-large" || type === "events-dropped" || type === "event-not-json") {
      this.complete = false;
      return;
    }
    if (type === "run-start") {
      const parent = (value as { parentCallId?: unknown }).parentCallId;
      if (typeof parent === "string") {
        this.childOf.add(parent);
        this.rlmQueries.delete(parent);
      }
      return;
    }
    if (type === "iteration-end" || (type === "subcall-end" && event?.kind === "llm_query")) {
      this.addCall(event?.usage);
    } else if (type === "subcall-end" && event?.kind === "rlm_query" && typeof event.callId === "string") {
      // Counted at the end, if no child run of this call showed up.
      if (!this.childOf.has(event.callId)) this.rlmQueries.set(event.callId, event.usage ?? {});
    }
  }

  /** The total, rlm_query calls without their child run's events included. */
  total(): UsageTotals {
    for (const usage of this.rlmQueries.values()) this.addCall(usage);
    this.rlmQueries.clear();
    return this.usage;
  }

  private addCall(usage: EventUsage | undefined): void {
    const totals = this.usage;
    totals.calls += 1;
    totals.inputTokens += count(usage?.inputTokens);
    totals.outputTokens += count(usage?.outputTokens);
    totals.cachedInputTokens += count(usage?.cachedInputTokens);
    if (typeof usage?.costUsd === "number" && Number.isFinite(usage.costUsd)) {
      totals.costUsd = (totals.costUsd ?? 0) + Math.max(0, usage.costUsd);
    } else totals.unpricedCalls += 1;
  }
}
