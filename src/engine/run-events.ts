import type { CallUsage } from "../models/usage.ts";

/** Fields every run event carries: which run (children have their own id) and how deep it is. */
interface RunEventBase {
  runId: string;
  /** The run that started this one (children only). */
  parentRunId?: string;
  /** The rlm_query sub-call that started this run (children only). */
  parentCallId?: string;
  /** 0 for the root run. */
  depth: number;
  /** Epoch ms. */
  at: number;
}

export interface RunStartEvent extends RunEventBase {
  type: "run-start";
  query: string;
  model: string;
  subModel: string;
  contextChars: number;
}

export interface IterationStartEvent extends RunEventBase {
  type: "iteration-start";
  iteration: number;
}

export interface IterationEndEvent extends RunEventBase {
  type: "iteration-end";
  iteration: number;
  /** The root model's reply. */
  reply: string;
  usage: CallUsage;
  /** True when the root call's tokens are not known (a converted log that does not record them): not 0. */
  usageUnknown?: boolean;
  modelLatencyMs: number;
  cells: Array<{ code: string; output: string; error?: string; durationMs: number }>;
  durationMs: number;
}

export interface SubcallStartEvent extends RunEventBase {
  type: "subcall-start";
  callId: string;
  kind: "llm_query" | "rlm_query";
  model: string;
  promptChars: number;
  /** The prompt, cut to its first and last characters (TRACE_TEXT_CHARS in all); absent in older traces. */
  prompt?: string;
}

export interface SubcallEndEvent extends RunEventBase {
  type: "subcall-end";
  callId: string;
  kind: "llm_query" | "rlm_query";
  model: string;
  promptChars: number;
  ok: boolean;
  /** Answered from the run's sub-call cache. */
  cached: boolean;
  usage: CallUsage;
  latencyMs: number;
  error?: string;
  /** For rlm_query: the child run's id. */
  childRunId?: string;
  /** The answer, cut as `prompt` is; absent in older traces and for failed calls. */
  response?: string;
}

export interface RunEndEvent extends RunEventBase {
  type: "run-end";
  status: string;
  answer: unknown;
  iterations: number;
  durationMs: number;
  error?: string;
}

/** The run used its memory: recalled items into the prompt, searched or added from code, or stored itself. */
export interface MemoryEvent extends RunEventBase {
  type: "memory";
  action: "recall" | "search" | "add" | "store";
  /** The items recalled, found or stored. */
  ids: string[];
  /** What was searched for (recall, search). */
  query?: string;
  /** Why the memory could not be used; the run goes on without it. */
  error?: string;
}

/** The root conversation was restarted from the model's own summary (summary compaction). */
export interface CompactionEvent extends RunEventBase {
  type: "compaction";
  iteration: number;
  charsBefore: number;
  charsAfter: number;
}

/** The verification turn ended (`verify`): whether the answer held, the evidence, what it cost. */
export interface VerificationEvent extends RunEventBase {
  type: "verification";
  status: "confirmed" | "corrected" | "unverified";
  evidence: string;
  usage: { inputTokens: number; outputTokens: number; costUsd: number | null; calls: number };
}

/** A user tool was called: by the REPL's code, or (with `subcallId`) by a sub-model inside an llm_query. */
export interface ToolStartEvent extends RunEventBase {
  type: "tool-start";
  callId: string;
  /** The tool's name. */
  tool: string;
  /** The arguments as JSON, cut to 500 characters. */
  args: string;
  /** The llm_query sub-call whose model called the tool (sub-tools only). */
  subcallId?: string;
}

export interface ToolEndEvent extends RunEventBase {
  type: "tool-end";
  callId: string;
  tool: string;
  subcallId?: string;
  ok: boolean;
  latencyMs: number;
  /** Characters of the result as JSON (0 for no result). */
  resultChars?: number;
  /** The one-line error the caller got. */
  error?: string;
  /** Agent runs: the tool's full output (the model may have read it cut). */
  output?: string;
  /** Agent runs: the answer of a model asked for a fact or a guess (ask_llm), not checked. */
  unverified?: boolean;
}

/**
 * Privacy mode: one request to a model that is not local, written before it was sent. Sizes and counts only,
 * never a value.
 */
export interface PrivacyAuditEvent extends RunEventBase {
  type: "privacy-audit";
  /** `provider:modelId`. */
  model: string;
  /** Characters sent, after redaction. */
  chars: number;
  /** Values replaced in this request, by kind (email, phone, card, account, key, ip, custom). */
  redactions: Partial<Record<string, number>>;
}

export type RunEvent =
  | RunStartEvent
  | IterationStartEvent
  | IterationEndEvent
  | SubcallStartEvent
  | SubcallEndEvent
  | RunEndEvent
  | MemoryEvent
  | CompactionEvent
  | VerificationEvent
  | ToolStartEvent
  | ToolEndEvent
  | PrivacyAuditEvent;

export type RunEventListener = (event: RunEvent) => void;
