import type { CallUsage } from "../models/usage.ts";
import { NO_USAGE } from "../models/usage.ts";
import type { RunEvent, SubcallEndEvent } from "./run-events.ts";

/** What identifies one sub-call in its start and end events. */
export type SubcallIdentity = Pick<
  SubcallEndEvent,
  "runId" | "parentRunId" | "parentCallId" | "depth" | "callId" | "kind" | "model" | "promptChars"
>;

/** How much of a sub-call's prompt and of its answer a trace keeps: the first 1,500 and the last 500 characters. */
export const TRACE_TEXT_CHARS = 2_000;
const HEAD_CHARS = 1_500;

/** A prompt or answer as the trace keeps it: whole when short, else its head and tail around a marker. */
export function traceText(text: string): string {
  if (text.length <= TRACE_TEXT_CHARS) return text;
  const cut = text.length - TRACE_TEXT_CHARS;
  return `${text.slice(0, HEAD_CHARS)}\n[... ${cut.toLocaleString("en-US")} characters not kept in the trace ...]\n${text.slice(text.length - (TRACE_TEXT_CHARS - HEAD_CHARS))}`;
}

/**
 * Runs one sub-call between its `subcall-start` and `subcall-end` events: the end event carries the usage and
 * latency, or the error (and then the error is thrown on). With `prompt`, the start event keeps it and the end
 * event the answer (both cut, see traceText), so a trace viewer can show what was asked and answered.
 */
export async function withSubcallEvents<T>(
  emit: (event: RunEvent) => void,
  identity: SubcallIdentity,
  work: () => Promise<{ value: T; usage: CallUsage; childRunId?: string }>,
  prompt?: string,
): Promise<T> {
  const started = performance.now();
  emit({
    type: "subcall-start",
    at: Date.now(),
    ...identity,
    ...(prompt === undefined ? {} : { prompt: traceText(prompt) }),
  });
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
      ...(prompt !== undefined && typeof value === "string" ? { response: traceText(value) } : {}),
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
