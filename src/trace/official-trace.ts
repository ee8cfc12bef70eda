import { randomUUID } from "node:crypto";
import type { RunEvent } from "../engine/run-events.ts";
import type { CallUsage } from "../models/usage.ts";

/**
 * The JSONL format of the official RLM implementation's logger, as far as rlmkit reads it: a `metadata` record,
 * then one `iteration` record per root turn with the prompt, the response, the code blocks (each with its REPL
 * result and the sub-calls it made) and the final answer.
 */
export interface OfficialUsageSummary {
  model_usage_summaries?: Record<
    string,
    { total_calls?: number; total_input_tokens?: number; total_output_tokens?: number }
  >;
}

export interface OfficialSubcall {
  root_model?: string;
  prompt?: unknown;
  response?: string;
  usage_summary?: OfficialUsageSummary;
  execution_time?: number;
}

export interface OfficialCodeBlock {
  code: string;
  result?: {
    stdout?: string;
    stderr?: string;
    locals?: Record<string, unknown>;
    execution_time?: number;
    rlm_calls?: OfficialSubcall[];
  };
}

export interface OfficialIteration {
  type: "iteration";
  iteration?: number;
  timestamp?: string;
  prompt?: Array<{ role: string; content: string }> | string;
  response?: string;
  code_blocks?: OfficialCodeBlock[];
  final_answer?: string | [string, string] | null;
  iteration_time?: number | null;
}

export interface OfficialMetadata {
  type: "metadata";
  timestamp?: string;
  root_model?: string | null;
  max_depth?: number | null;
  max_iterations?: number | null;
  backend?: string | null;
  environment_type?: string | null;
}

export type OfficialRecord = OfficialMetadata | OfficialIteration;

function typeOf(record: unknown): unknown {
  return record !== null && typeof record === "object" ? (record as { type?: unknown }).type : undefined;
}

/**
 * Whether parsed JSONL records look like an official RLM log rather than an rlmkit trace: at least one iteration
 * record, every record an object with a string type. Records of other types (the example log's run_context, say)
 * are allowed; `officialRecords` skips them with a note.
 */
export function isOfficialLog(records: unknown[]): records is OfficialRecord[] {
  return (
    records.some((record) => typeOf(record) === "iteration") &&
    records.every((record) => typeof typeOf(record) === "string")
  );
}

/**
 * The metadata and iteration records of an official log; each other record is skipped with a note naming its
 * type and line (`lines[i]` is the line of record i, when known).
 */
export function officialRecords(
  records: OfficialRecord[],
  onWarning?: (message: string) => void,
  lines?: number[],
): OfficialRecord[] {
  const kept: OfficialRecord[] = [];
  records.forEach((record, index) => {
    const type = typeOf(record);
    if (type === "metadata" || type === "iteration") kept.push(record);
    else
      onWarning?.(
        `line ${lines?.[index] ?? index + 1}: skipped a record of type "${String(type)}", which rlmkit does not read`,
      );
  });
  return kept;
}

function usageOf(summary: OfficialUsageSummary | undefined): CallUsage {
  let inputTokens = 0;
  let outputTokens = 0;
  for (const model of Object.values(summary?.model_usage_summaries ?? {})) {
    inputTokens += model.total_input_tokens ?? 0;
    outputTokens += model.total_output_tokens ?? 0;
  }
  return { inputTokens, outputTokens, cachedInputTokens: 0, costUsd: null };
}

/** The final answer of an official record: a string, or the value of a [kind, value] pair. */
export function officialFinalAnswer(answer: OfficialIteration["final_answer"]): string | null {
  if (answer === undefined || answer === null) return null;
  return Array.isArray(answer) ? (answer[1] ?? null) : answer;
}

function promptText(prompt: unknown): string {
  if (typeof prompt === "string") return prompt;
  if (Array.isArray(prompt)) {
    return prompt
      .map((message) => (typeof message?.content === "string" ? message.content : JSON.stringify(message)))
      .join("\n");
  }
  return JSON.stringify(prompt ?? "");
}

/**
 * The question of the run: the first user message of the first iteration's prompt (the task; later user
 * messages are the loop's own turns, such as "Turn 4/4: ..."), shortened.
 */
function questionOf(iterations: OfficialIteration[]): string {
  const prompt = iterations[0]?.prompt;
  const users = Array.isArray(prompt) ? prompt.filter((message) => message.role === "user") : [];
  const first = users[0]?.content;
  const text = typeof first === "string" ? first : typeof prompt === "string" ? prompt : "(unknown question)";
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}...` : flat;
}

/**
 * The completions of a log: a log may hold several (metadata once, iteration numbers starting at 1 again); each
 * is a run of its own.
 */
function completionsOf(iterations: OfficialIteration[]): OfficialIteration[][] {
  const completions: OfficialIteration[][] = [];
  let previous = Number.POSITIVE_INFINITY;
  for (const record of iterations) {
    const number = typeof record.iteration === "number" ? record.iteration : previous + 1;
    if (completions.length === 0 || number <= previous) completions.push([]);
    completions.at(-1)?.push(record);
    previous = number;
  }
  return completions;
}

/**
 * Whether an iteration's final answer came from the official default-answer fallback: the run used all its
 * turns, and neither the reply nor its code gave an answer (no FINAL, no `answer[...]`/`answer.` set).
 */
function isDefaultAnswer(
  record: OfficialIteration,
  turns: number,
  maxIterations: number | null | undefined,
): boolean {
  if (typeof maxIterations !== "number" || turns < maxIterations) return false;
  if ((record.iteration ?? turns) < maxIterations) return false;
  const written = [record.response ?? "", ...(record.code_blocks ?? []).map((block) => block.code)].join(
    "\n",
  );
  return !/\bFINAL(_VAR)?\s*\(|\banswer\s*(\[\s*["']content["']|\.content)/.test(written);
}

/** Converts an official log into rlmkit run events, so `rlm trace show` can display it: one run per completion. */
export function convertOfficialLog(
  records: OfficialRecord[],
  onWarning?: (message: string) => void,
  lines?: number[],
): RunEvent[] {
  const kept = officialRecords(records, onWarning, lines);
  const metadata = kept.find((record): record is OfficialMetadata => record.type === "metadata");
  const iterations = kept.filter((record): record is OfficialIteration => record.type === "iteration");
  return completionsOf(iterations).flatMap((completion) => convertCompletion(metadata, completion));
}

function convertCompletion(
  metadata: OfficialMetadata | undefined,
  iterations: OfficialIteration[],
): RunEvent[] {
  const runId = randomUUID();
  const base = { runId, depth: 0 };
  const model = metadata?.root_model ?? "unknown";
  const at = (record: { timestamp?: string } | undefined) =>
    record?.timestamp ? Date.parse(record.timestamp) || 0 : 0;
  const events: RunEvent[] = [
    {
      type: "run-start",
      at: at(metadata ?? iterations[0]),
      ...base,
      query: questionOf(iterations),
      model,
      subModel: model,
      contextChars: 0,
    },
  ];
  let answer: string | null = null;
  let fallback = false;
  let total = 0;
  iterations.forEach((record, index) => {
    const iteration = record.iteration ?? index + 1;
    const time = at(record);
    events.push({ type: "iteration-start", at: time, ...base, iteration });
    const cells: Array<{ code: string; output: string; error?: string; durationMs: number }> = [];
    for (const block of record.code_blocks ?? []) {
      const result = block.result ?? {};
      for (const call of result.rlm_calls ?? []) {
        const callId = randomUUID();
        const prompt = promptText(call.prompt);
        const common = {
          ...base,
          callId,
          kind: "llm_query" as const,
          model: call.root_model ?? model,
          promptChars: prompt.length,
        };
        events.push({ type: "subcall-start", at: time, ...common });
        events.push({
          type: "subcall-end",
          at: time,
          ...common,
          ok: true,
          cached: false,
          usage: usageOf(call.usage_summary),
          latencyMs: (call.execution_time ?? 0) * 1000,
        });
      }
      const stderr = result.stderr ?? "";
      cells.push({
        code: block.code,
        output: `${result.stdout ?? ""}${stderr}`,
        durationMs: (result.execution_time ?? 0) * 1000,
        ...(stderr.trim() !== "" ? { error: stderr.trim().split("\n").at(-1) ?? stderr } : {}),
      });
    }
    const durationMs = (record.iteration_time ?? 0) * 1000;
    total += durationMs;
    events.push({
      type: "iteration-end",
      at: time,
      ...base,
      iteration,
      reply: record.response ?? "",
      usage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costUsd: null },
      // The official iteration record does not carry the root call's tokens: unknown, not zero.
      usageUnknown: true,
      modelLatencyMs: 0,
      cells,
      durationMs,
    });
    const given = officialFinalAnswer(record.final_answer);
    if (given !== null) {
      answer = given;
      fallback = isDefaultAnswer(record, iterations.length, metadata?.max_iterations);
    }
  });
  events.push({
    type: "run-end",
    at: at(iterations.at(-1)),
    ...base,
    // An answer from the official default-answer fallback (asked for after the last turn) is not a completion.
    status: answer === null || fallback ? "max_iterations" : "completed",
    answer,
    iterations: iterations.length,
    durationMs: total,
  });
  return events;
}
