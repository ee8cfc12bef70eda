/**
 * The OpenAI Chat Completions objects `rlm serve` answers with, built from a run's result: `chat.completion`,
 * `chat.completion.chunk`, honest `usage` (every token of the whole recursion), and one `rlm` field with the
 * run's own facts (status, iterations, cost) that standard clients ignore. Pure functions, no I/O.
 */

import { answerText } from "../engine/answer-text.ts";
import type { RunEvent } from "../engine/run-events.ts";
import type { RunResultJson } from "../engine/run-result-json.ts";
import { ApiError } from "./api-error.ts";

export type FinishReason = "stop" | "length";

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function completionUsage(result: RunResultJson): CompletionUsage {
  const total = result.usage.total;
  return {
    prompt_tokens: total.inputTokens,
    completion_tokens: total.outputTokens,
    total_tokens: total.inputTokens + total.outputTokens,
    prompt_tokens_details: { cached_tokens: total.cachedInputTokens },
  };
}

/** The run's facts beside the answer, for clients that want them. */
export function runFacts(result: RunResultJson) {
  return {
    ...(result.runId ? { runId: result.runId } : {}),
    status: result.status,
    iterations: result.iterations,
    subcalls: result.subcalls,
    durationMs: result.durationMs,
    calls: result.usage.total.calls,
    costUsd: result.usage.total.costUsd,
    ...(result.usage.total.unpricedCalls > 0 ? { unpricedCalls: result.usage.total.unpricedCalls } : {}),
    ...(result.error ? { error: result.error } : {}),
    ...(result.warnings ? { warnings: result.warnings } : {}),
  };
}

/**
 * The reply of an ended run: its answer with "stop"; with "length" when a limit ended it first (the answer of
 * its last call, or the prose it had); an ApiError when it failed (502: the model failed) or was cancelled.
 */
export function replyOf(result: RunResultJson): { content: string; finish: FinishReason } {
  if (result.status === "completed") return { content: answerText(result.answer), finish: "stop" };
  if (result.status === "failed") {
    throw new ApiError({
      status: 502,
      code: "run_failed",
      message: `The run failed: ${result.error ?? "no reason given"}`,
    });
  }
  if (result.status === "cancelled") {
    throw new ApiError({ status: 503, code: "run_cancelled", message: "The run was cancelled." });
  }
  const answer = result.answer;
  const content = answer !== null && answer !== undefined ? answerText(answer) : (result.partialAnswer ?? "");
  return { content, finish: "length" };
}

export function chatCompletion(
  meta: { id: string; created: number; model: string },
  result: RunResultJson,
  reply: { content: string; finish: FinishReason },
) {
  return {
    id: meta.id,
    object: "chat.completion" as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: "assistant" as const, content: reply.content, refusal: null },
        logprobs: null,
        finish_reason: reply.finish,
      },
    ],
    usage: completionUsage(result),
    rlm: runFacts(result),
  };
}

/** A `chat.completion.chunk`; with include_usage every chunk has `usage: null` but the last, as OpenAI sends. */
export function chunk(
  meta: { id: string; created: number; model: string; includeUsage: boolean },
  choices: unknown[],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    id: meta.id,
    object: "chat.completion.chunk",
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    choices,
    ...(meta.includeUsage ? { usage: null } : {}),
    ...extra,
  });
}

/** The answer in pieces of about `size` characters, never splitting a surrogate pair. */
export function contentPieces(text: string, size = 1_024): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces;
}

/**
 * A run event as one line of progress for an SSE comment (`: rlm-progress {...}`), which standard clients skip;
 * undefined for events not worth a line. Short: no replies, code or outputs.
 */
export function progressLine(value: unknown): string | undefined {
  const event = value as RunEvent;
  let fields: Record<string, unknown> | undefined;
  switch (event?.type) {
    case "run-start":
      fields = { model: event.model, contextChars: event.contextChars };
      break;
    case "iteration-start":
      fields = { iteration: event.iteration };
      break;
    case "iteration-end":
      fields = {
        iteration: event.iteration,
        cells: event.cells.length,
        tokens: event.usage.inputTokens + event.usage.outputTokens,
      };
      break;
    case "subcall-end":
      fields = { kind: event.kind, ok: event.ok, tokens: event.usage.inputTokens + event.usage.outputTokens };
      break;
    case "run-end":
      fields = { status: event.status, iterations: event.iterations };
      break;
    default:
      return undefined;
  }
  return JSON.stringify({ event: event.type, depth: event.depth, ...fields });
}
