/**
 * A stored trace (`rlm run --trace`, or an official RLM log read through readJsonlTrace) sent to a collector as
 * the same spans a live run makes: the events carry their own times, so the spans keep the run's real timing.
 * What `rlm trace export run.jsonl --otel URL` needs.
 */
import type { RunEvent } from "../engine/run-events.ts";
import { createOtelSink, type OtelSinkOptions } from "./otel-sink.ts";

/** Sends the events and waits (bounded) for the collector; resolves to the failure line, if any. */
export async function exportTraceEvents(
  events: readonly RunEvent[],
  options: OtelSinkOptions = {},
): Promise<{ failure?: string }> {
  const sink = createOtelSink(options);
  for (const event of events) sink.write(event);
  await sink.close();
  return sink.failure === undefined ? {} : { failure: sink.failure };
}
