import type { CallUsage } from "./usage.ts";

export interface CallStartEvent {
  type: "call-start";
  callId: string;
  model: string;
  /** Epoch ms. */
  at: number;
}

export interface CallRetryEvent {
  type: "call-retry";
  callId: string;
  model: string;
  /** The attempt that failed (1 = first). */
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface CallEndEvent {
  type: "call-end";
  callId: string;
  model: string;
  ok: boolean;
  usage: CallUsage;
  latencyMs: number;
  attempts: number;
  /** Answered from the response cache: no request was sent. */
  cached: boolean;
  /** One line, secrets redacted; present when `ok` is false. */
  error?: string;
}

export type ModelCallEvent = CallStartEvent | CallRetryEvent | CallEndEvent;

export type ModelCallListener = (event: ModelCallEvent) => void;
