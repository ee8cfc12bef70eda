/**
 * The limits of each API key, enforced before a run makes any model call: requests per minute (a sliding
 * window), runs at once, and USD per UTC day. The daily budget holds with runs in flight: each run gets a cost
 * limit (limits.maxCostUsd) of what the key has left, minus what its other runs in flight reserved, so the runs
 * of a day together never spend more than the budget. A run that gives its own smaller maxCostUsd reserves
 * only that, which lets a key run several at once.
 */
import type { UsageTotals } from "../models/usage.ts";
import { ApiError } from "./api-error.ts";
import type { KeyEntry } from "./api-keys.ts";
import type { UsageLedger, UsageRecord } from "./usage-ledger.ts";

const MINUTE_MS = 60_000;

export interface Admission {
  /** The cost limit the run must get (the key's budget left), when the key has a daily budget. */
  costCap?: number;
  /** Once, when the run has ended: frees its place and records what it spent under the key. */
  finish(outcome: Pick<UsageRecord, "kind" | "id" | "model" | "status"> & { usage?: UsageTotals }): void;
  /** Once, instead of finish, when the run never started (refused after admission): frees its place only. */
  abandon(): void;
}

interface KeyState {
  /** Start times of the requests of the last minute, oldest first. */
  recent: number[];
  active: number;
  reserved: number;
}

function tooMany(message: string, code: string, retryAfterSeconds: number, type = "requests"): ApiError {
  return new ApiError({
    status: 429,
    type,
    code,
    message,
    headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  });
}

export class KeyLimiter {
  private readonly ledger: UsageLedger;
  private readonly states = new Map<string, KeyState>();

  constructor(ledger: UsageLedger) {
    this.ledger = ledger;
  }

  /** Runs of `key` in flight now. */
  active(key: string): number {
    return this.states.get(key)?.active ?? 0;
  }

  /**
   * Lets one run of `key` start, or throws a 429 ApiError saying which limit it is over. `askedCostUsd` is the
   * run's own maxCostUsd, if it gave one.
   */
  admit(key: KeyEntry, askedCostUsd?: number, now = Date.now()): Admission {
    let state = this.states.get(key.name);
    if (state === undefined) {
      state = { recent: [], active: 0, reserved: 0 };
      this.states.set(key.name, state);
    }
    while (state.recent.length > 0 && (state.recent[0] as number) <= now - MINUTE_MS) state.recent.shift();
    const perMinute = key.maxRequestsPerMinute;
    if (perMinute !== undefined && state.recent.length >= perMinute) {
      throw tooMany(
        `Rate limit reached for key ${key.name}: ${perMinute} requests per minute.`,
        "rate_limit_exceeded",
        ((state.recent[0] as number) + MINUTE_MS - now) / 1000,
      );
    }
    if (key.maxConcurrent !== undefined && state.active >= key.maxConcurrent) {
      throw tooMany(
        `Key ${key.name} has ${state.active} runs in flight, its limit; try again when one ends.`,
        "concurrency_limit_exceeded",
        1,
      );
    }
    let costCap: number | undefined;
    if (key.maxCostPerDay !== undefined) {
      const left = key.maxCostPerDay - this.ledger.today(key.name, now).costUsd - state.reserved;
      if (left <= 0) {
        const reason =
          state.reserved > 0 ? "is spent or held by its runs in flight" : "is spent; it renews at 00:00 UTC";
        const midnight = new Date(now).setUTCHours(24, 0, 0, 0);
        throw tooMany(
          `The daily budget of key ${key.name} ($${key.maxCostPerDay}) ${reason}.`,
          "insufficient_quota",
          state.reserved > 0 ? 5 : (midnight - now) / 1000,
          "insufficient_quota",
        );
      }
      costCap = askedCostUsd === undefined ? left : Math.min(askedCostUsd, left);
    }
    state.recent.push(now);
    state.active += 1;
    state.reserved += costCap ?? 0;
    const held = state;
    let finished = false;
    const free = () => {
      if (finished) return false;
      finished = true;
      held.active -= 1;
      held.reserved -= costCap ?? 0;
      return true;
    };
    return {
      ...(costCap === undefined ? {} : { costCap }),
      abandon: () => {
        if (free()) held.recent.pop();
      },
      finish: (outcome) => {
        if (!free()) return;
        const usage = outcome.usage;
        this.ledger.record({
          key: key.name,
          kind: outcome.kind,
          id: outcome.id,
          model: outcome.model,
          status: outcome.status,
          inputTokens: usage?.inputTokens ?? 0,
          outputTokens: usage?.outputTokens ?? 0,
          costUsd: usage ? usage.costUsd : null,
        });
      },
    };
  }
}
