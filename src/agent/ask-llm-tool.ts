import { z } from "zod";
import { meteredGenerate } from "../engine/metered-call.ts";
import type { ModelClient } from "../models/model-client.ts";
import type { Tool } from "../spec/tool.ts";
import type { AgentToolFactory } from "./agent-events.ts";

const SYSTEM =
  "Answer the question briefly from what you know. When you are not sure, say so and give your best guess with how confident you are.";

/**
 * `ask_llm`: an ordinary model asked for a fact or a guess, under the run's budget. Its answers are marked
 * unverified: in the output the agent reads, in the result (`unverified`) and in the trace (tool-end `unverified`).
 */
export function createAskLlmTool(options: {
  model: ModelClient;
  maxOutputTokens?: number;
}): AgentToolFactory {
  return (scope): Tool => ({
    description: `Asks another language model (${options.model.label}) a question of fact or for a guess. Its answer is UNVERIFIED: it may be wrong or out of date; check what matters with other tools.`,
    inputSchema: z.object({ question: z.string().min(1).max(20_000) }),
    async execute(input: { question: string }, { signal }) {
      const run = scope();
      const response = await meteredGenerate(
        run.budget,
        options.model,
        {
          system: SYSTEM,
          prompt: input.question,
          maxOutputTokens: options.maxOutputTokens ?? 1_024,
          signal: AbortSignal.any([signal, run.signal]),
        },
        run.record,
      );
      return {
        answer: response.text,
        unverified: true,
        model: options.model.label,
        note: "An unverified answer of another model: check it before relying on it.",
      };
    },
  });
}
