import type { RunEvent } from "../engine/run-events.ts";

/** One progress notification: a number that grows with each one, and a line for people. */
export type SendProgress = (progress: number, message: string) => void;

export interface RunProgressOptions {
  /** With no other news, a notification this often (keeps clients that reset their timeout on progress). */
  heartbeatMs?: number;
  /** Sub-call news at most this often (a batch of a thousand llm_query calls is not a thousand notifications). */
  minGapMs?: number;
}

/**
 * Turns a run's events into MCP progress notifications: one at each root iteration, sub-call news at most every
 * `minGapMs`, and a heartbeat when nothing else was sent for `heartbeatMs`. `stop()` ends the heartbeat.
 */
export function trackRunProgress(send: SendProgress, options: RunProgressOptions = {}) {
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const minGapMs = options.minGapMs ?? 250;
  let count = 0;
  let lastSent = 0;
  let iteration = 0;
  let done = 0;
  let inFlight = 0;
  let tokens = 0;
  const line = () =>
    `iteration ${iteration} · sub-calls ${done} done, ${inFlight} in flight · ${tokens.toLocaleString("en-US")} tokens`;
  const emit = () => {
    lastSent = performance.now();
    send(++count, line());
  };
  const heartbeat = setInterval(() => {
    if (performance.now() - lastSent >= heartbeatMs - 5) emit();
  }, heartbeatMs);
  heartbeat.unref();
  return {
    listener(event: RunEvent) {
      if (event.type === "iteration-start" && event.depth === 0) {
        iteration = event.iteration;
        emit();
      } else if (event.type === "iteration-end") {
        tokens += event.usage.inputTokens + event.usage.outputTokens;
      } else if (event.type === "subcall-start") {
        inFlight++;
      } else if (event.type === "subcall-end") {
        inFlight--;
        done++;
        if (event.kind === "llm_query") tokens += event.usage.inputTokens + event.usage.outputTokens;
        if (performance.now() - lastSent >= minGapMs) emit();
      }
    },
    stop() {
      clearInterval(heartbeat);
    },
  };
}
