/**
 * The trace sink extension point: where a run's events go as they happen (a JSONL file, an OpenTelemetry
 * collector, ...). One conformance suite (test/trace-sink-conformance.ts) for all. Nothing here imports anything
 * else of rlmkit, so an event is typed by the fields every run event has; a sink that reads more narrows it.
 *
 * Rules every sink keeps:
 * - `write` never throws into the run and never waits on I/O: a destination that fails (a full disk, a
 *   collector that is down) stops the sink or costs what it could not deliver, and `failure` says why, once,
 *   in one line; the run goes on and the caller shows that line as one warning beside the answer.
 * - Secrets never reach the destination: a sink redacts API keys and tokens from everything it writes.
 * - `close` delivers what was written, or gives it up, within a bounded time (a dead destination must not
 *   hang the caller); a second `close`, and a `write` after `close`, do nothing.
 * - `write` is a plain function (no `this`): `onEvent: sink.write` works.
 */

/** One run event (run-start, iteration-end, subcall-end, tool-start, ...): JSON, nothing live in it. */
export interface TraceEvent {
  /** The event's name, noun-verb: `run-start`, `iteration-end`, ... */
  readonly type: string;
  /** The run it belongs to (a child run has its own). */
  readonly runId: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

export interface TraceSink {
  /** Takes one event; returns at once. */
  write(event: TraceEvent): void;
  /** Delivers what was written so far (bounded in time); the sink stays open. */
  flush?(): Promise<void>;
  /** Delivers what is left (bounded in time) and ends the sink. Idempotent. */
  close(): void | Promise<void>;
  /** Why events were lost, when they were: one line for a warning; undefined while all is well. */
  readonly failure: string | undefined;
}
