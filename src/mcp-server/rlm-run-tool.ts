import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { answerText } from "../engine/answer-text.ts";
import type { RunResult } from "../engine/rlm.ts";
import { MAX_TIMER_MS } from "../engine/run-limits.ts";
import { trackRunProgress } from "./run-progress.ts";
import type { RunService } from "./run-service.ts";
import { toolError } from "./tool-error.ts";

/** Characters of `context` text one call may send (larger inputs go by `paths`). */
export const MAX_CONTEXT_CHARS = 32 * 2 ** 20;
const MAX_QUERY_CHARS = 100_000;
const MAX_PATHS = 1000;

const inputSchema = {
  query: z.string().min(1).max(MAX_QUERY_CHARS).describe("The question to answer about the input."),
  context: z.string().max(MAX_CONTEXT_CHARS).optional().describe("The input as text (give this or paths)."),
  paths: z
    .array(z.string().min(1).max(4096))
    .min(1)
    .max(MAX_PATHS)
    .optional()
    .describe(
      "The input as files, folders or globs under the server's working directory (give this or context). Hidden files are not read; binary files in folders are skipped.",
    ),
  max_iterations: z.number().int().min(1).max(100_000).optional().describe("Root model turns at most."),
  max_subcalls: z.number().int().min(0).optional().describe("Sub-model calls at most."),
  max_tokens: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe("Input plus output tokens at most, over all calls."),
  max_cost: z.number().positive().max(1e9).optional().describe("Spend at most this many USD."),
  timeout: z
    .number()
    .positive()
    .max(MAX_TIMER_MS / 1000)
    .optional()
    .describe("Wall time of the run in seconds."),
};

const outputSchema = {
  answer: z.unknown().describe("The final answer (text, or the value the run gave); null without one."),
  status: z.enum(["completed", "max_iterations", "budget_exceeded", "timeout", "cancelled", "failed"]),
  usage: z.object({
    calls: z.number(),
    inputTokens: z.number(),
    outputTokens: z.number(),
    cachedInputTokens: z.number(),
    costUsd: z.number().nullable().describe("USD of the priced calls; null when no call had a known price."),
    unpricedCalls: z.number(),
  }),
  runId: z.string().optional().describe("The run's id: its trace is <trace-dir>/<runId>.jsonl."),
  iterations: z.number(),
  subcalls: z.number(),
  durationMs: z.number(),
  error: z.string().optional().describe("Why the run ended early."),
  partialAnswer: z.string().optional().describe("Without an answer: the model's last words."),
  warnings: z.array(z.string()).optional(),
};

const DESCRIPTION = `Answers a question about an input of any size with a Recursive Language Model: the input stays in a sandboxed REPL, a model writes code to search and split it and calls sub-models on the pieces. Give the query and the input as context (text) or paths (files, folders, globs under the server's working directory). Limits (max_iterations, max_subcalls, max_tokens, max_cost, timeout in seconds) may lower the server's, never raise them. Sends progress notifications when the request has a progress token; cancelling the request cancels the run.`;

/** Registers `rlm_run` on `server`: the run goes through `service`; `redact` cleans what goes back. */
export function registerRlmRunTool(
  server: McpServer,
  service: RunService,
  redact: (text: string) => string,
): void {
  server.registerTool(
    "rlm_run",
    {
      title: "Recursive Language Model run",
      description: DESCRIPTION,
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    async (args, extra): Promise<CallToolResult> => {
      const token = extra._meta?.progressToken;
      const progress =
        token === undefined
          ? undefined
          : trackRunProgress((value, message) => {
              // A client that went away cannot hear it; the run goes on (or is cancelled) regardless.
              extra
                .sendNotification({
                  method: "notifications/progress",
                  params: { progressToken: token, progress: value, message },
                })
                .catch(() => undefined);
            });
      try {
        const { result, notes } = await service.run(
          {
            query: args.query,
            ...(args.context === undefined ? {} : { context: args.context }),
            ...(args.paths === undefined ? {} : { paths: args.paths }),
            limits: {
              ...(args.max_iterations === undefined ? {} : { maxIterations: args.max_iterations }),
              ...(args.max_subcalls === undefined ? {} : { maxSubcalls: args.max_subcalls }),
              ...(args.max_tokens === undefined ? {} : { maxTokens: args.max_tokens }),
              ...(args.max_cost === undefined ? {} : { maxCostUsd: args.max_cost }),
              ...(args.timeout === undefined ? {} : { timeoutMs: args.timeout * 1000 }),
            },
          },
          { signal: extra.signal, ...(progress ? { onEvent: progress.listener } : {}) },
        );
        return runResult(result, notes, redact);
      } catch (error) {
        return toolError(error, redact);
      } finally {
        progress?.stop();
      }
    },
  );
}

/** The run as a tool result: the answer as text, everything as structured content; not completed is an error. */
function runResult(result: RunResult, notes: string[], redact: (text: string) => string): CallToolResult {
  const warnings = [...notes, ...(result.warnings ?? [])].map(redact);
  const total = result.usage.total;
  const structured = {
    answer: result.answer ?? null,
    status: result.status,
    usage: {
      calls: total.calls,
      inputTokens: total.inputTokens,
      outputTokens: total.outputTokens,
      cachedInputTokens: total.cachedInputTokens,
      costUsd: total.costUsd,
      unpricedCalls: total.unpricedCalls,
    },
    ...(result.runId === undefined ? {} : { runId: result.runId }),
    iterations: result.iterations,
    subcalls: result.subcalls,
    durationMs: Math.round(result.durationMs),
    ...(result.error === undefined ? {} : { error: redact(result.error) }),
    ...(result.partialAnswer === undefined ? {} : { partialAnswer: result.partialAnswer }),
    ...(warnings.length === 0 ? {} : { warnings }),
  };
  if (result.status === "completed") {
    return { content: [{ type: "text", text: answerText(result.answer) }], structuredContent: structured };
  }
  const why = `The run ended ${result.status}${result.error ? `: ${redact(result.error)}` : ""}.`;
  const partial = result.partialAnswer ? `\nPartial answer: ${result.partialAnswer}` : "";
  return { content: [{ type: "text", text: why + partial }], structuredContent: structured, isError: true };
}
