import type { CallUsage } from "../models/usage.ts";
import { NO_USAGE } from "../models/usage.ts";
import type { RunEvent, SubcallEndEvent } from "./run-events.ts";

/** What identifies one sub-call in its start and end events. */
export type SubcallIdentity = Pick<
  SubcallEndEvent,
  "runId" | "parentRunId" | "parentCallId" | "depth" | "callId" | "kind" | "model" | "promptChars"
>;

/**
 * Runs one sub-call between its `subcall-start` and `subcall-end` events: the end event carries the usage and
 * latency, or the error (and then the error is thrown on).
 */
export async function withSubcallEvents<T>(
  emit: (event: RunEvent) => void,
  identity: SubcallIdentity,
  work: () => Promise<{ value: T; usage: CallUsage; childRunId?: string }>,
): Promise<T> {
  const started = performance.now();
  emit({ type: "subcall-start", at: Date.now(), ...identity });
  try {
    const { value, usage, childRunId } = await work();
    emit({
      type: "subcall-end",
      at: Date.now(),
      ...identity,
      ok: true,
      cached: false,
      usage,
      latencyMs: performance.now() - started,
      ...(childRunId ? { childRunId } : {}),
    });
    return value;
  } catch (error) {
    emit({
      type: "subcall-end",
      at: Date.now(),
      ...identity,
      ok: false,
      cached: false,
      // A call cancelled in flight carries the usage booked for it (its estimated prompt tokens).
      usage: (error as { usage?: CallUsage } | null)?.usage ?? NO_USAGE,
      latencyMs: performance.now() - started,
      error: error instanceof Error ? error.message : String(error),
    });
    throw error;
  }
}
