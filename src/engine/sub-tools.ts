import type { ModelMessage } from "ai";
import type { ModelClient, ToolDefinition } from "../models/model-client.ts";
import type { CallUsage } from "../models/usage.ts";
import { CancelledInFlight, meteredGenerate } from "./metered-call.ts";
import { callTool, type PreparedTool, type ToolRunContext } from "./user-tools.ts";

/**
 * Sub-tools (`createRLM({ subTools })`, the official custom_sub_tools): an llm_query whose sub-model may call the
 * user's tools. Each step is one metered model call (reserved, capped, booked like any sub-call); the tool calls
 * it asks for run through callTool (counted, traced with the sub-call's id, time-limited, copied), their results
 * go back as tool messages, and the loop ends when the model answers in text or the steps run out.
 */

/** Model calls one llm_query may make with sub-tools, by default. */
export const DEFAULT_SUB_TOOL_STEPS = 8;

/** Sends one llm_query prompt through the tool loop; `callId` is the sub-call's, for the tools' events. */
export type ToolLoop = (
  client: ModelClient,
  prompt: string,
  signal: AbortSignal,
  callId: string,
) => Promise<{ text: string; usage: CallUsage }>;

export interface ToolLoopContext extends ToolRunContext {
  /** Books a model call's usage to the budget and to the run and its ancestors. */
  record: (model: string, usage: CallUsage) => void;
  /** Model calls per llm_query. */
  maxSteps: number;
}

function add(total: CallUsage, usage: CallUsage): CallUsage {
  return {
    inputTokens: total.inputTokens + usage.inputTokens,
    outputTokens: total.outputTokens + usage.outputTokens,
    cachedInputTokens: total.cachedInputTokens + usage.cachedInputTokens,
    costUsd: total.costUsd === null || usage.costUsd === null ? null : total.costUsd + usage.costUsd,
  };
}

export function createToolLoop(tools: PreparedTool[], run: ToolLoopContext): ToolLoop {
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  const definitions: Record<string, ToolDefinition> = Object.fromEntries(
    tools.map((tool) => [
      tool.name,
      {
        description: tool.description,
        parameters: tool.jsonSchema ?? { type: "object", additionalProperties: true },
      },
    ]),
  );
  return async (client, prompt, signal, callId) => {
    const messages: ModelMessage[] = [{ role: "user", content: prompt }];
    let usage: CallUsage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costUsd: 0 };
    for (let step = 1; step <= run.maxSteps; step++) {
      let response: Awaited<ReturnType<typeof meteredGenerate>>;
      try {
        response = await meteredGenerate(
          run.budget,
          client,
          { messages, tools: definitions, signal },
          run.record,
        );
      } catch (error) {
        // The sub-call's end event carries all it spent: the steps before, and the cancelled one's estimate.
        if (error instanceof CancelledInFlight)
          throw new CancelledInFlight(error.message, add(usage, error.usage));
        throw error;
      }
      usage = add(usage, response.usage);
      const calls = response.toolCalls ?? [];
      if (calls.length === 0) return { text: response.text, usage };
      if (step === run.maxSteps) {
        const text = response.text.trim();
        return {
          text:
            text === ""
              ? `[llm_query error: the sub-model still asked for tools after ${run.maxSteps} steps]`
              : text,
          usage,
        };
      }
      messages.push(...(response.responseMessages ?? []));
      const results = await Promise.all(
        calls.map(async (call) => {
          const tool = byName.get(call.name);
          try {
            if (tool === undefined) throw new Error(`there is no tool named ${call.name}`);
            const value = await callTool(tool, () => call.input, run, signal, callId);
            return { type: "json" as const, value: (value ?? null) as never };
          } catch (error) {
            return {
              type: "error-text" as const,
              value: error instanceof Error ? error.message : String(error),
            };
          }
        }),
      );
      messages.push({
        role: "tool",
        content: calls.map((call, index) => ({
          type: "tool-result" as const,
          toolCallId: call.id,
          toolName: call.name,
          output: results[index] as NonNullable<(typeof results)[number]>,
        })),
      });
    }
    return { text: "", usage };
  };
}
