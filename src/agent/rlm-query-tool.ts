import { open, realpath } from "node:fs/promises";
import { relative, resolve, sep } from "node:path";
import { z } from "zod";
import { createRLM, type RLMOptions } from "../engine/rlm.ts";
import type { Tool } from "../spec/tool.ts";
import type { AgentToolFactory } from "./agent-events.ts";

export interface RlmQueryToolOptions {
  /** The RLM's options (its model at least); its limits are cut to what the agent's run has left. */
  rlm: RLMOptions;
  /** The folder whose files `path` may name (default: the current directory). */
  root?: string;
}

/**
 * `rlm_query`: hands an input too large for the prompt (text, a file under `root`, or the full output of an earlier
 * tool call) to an RLM run and returns its answer. The run spends from the agent's budget.
 */
export function createRlmQueryTool(options: RlmQueryToolOptions): AgentToolFactory {
  const root = resolve(options.root ?? process.cwd());
  return (scope): Tool => ({
    description:
      "Answers a question about an input too large to read here with a Recursive Language Model (it reads the input with code and sub-models). Give exactly one input: text, path (one file under the working directory) or toolOutput (the call id of an earlier tool call whose output was cut).",
    inputSchema: z.object({
      query: z.string().min(1),
      text: z.string().optional(),
      path: z.string().optional(),
      toolOutput: z.string().optional(),
    }),
    async execute(input: { query: string; text?: string; path?: string; toolOutput?: string }, { signal }) {
      const run = scope();
      const given = [input.text, input.path, input.toolOutput].filter((value) => value !== undefined);
      if (given.length !== 1) throw new Error("give exactly one of text, path or toolOutput");
      let context: string;
      if (input.text !== undefined) context = input.text;
      else if (input.toolOutput !== undefined) {
        const output = run.output(input.toolOutput);
        if (output === undefined)
          throw new Error(`no tool output with the call id ${input.toolOutput} in this run`);
        context = output;
      } else {
        context = await readAgentFile(root, input.path as string, signal);
      }
      const { budget } = run;
      const left = {
        ...(budget.limits.maxTokens === undefined
          ? {}
          : {
              maxTokens: Math.max(
                1,
                budget.limits.maxTokens - budget.total.inputTokens - budget.total.outputTokens,
              ),
            }),
        ...(budget.limits.maxCostUsd === undefined
          ? {}
          : { maxCostUsd: Math.max(1e-9, budget.limits.maxCostUsd - (budget.total.costUsd ?? 0)) }),
      };
      const rlm = createRLM({ ...options.rlm, limits: { ...options.rlm.limits, ...left } });
      const result = await rlm.run({
        context,
        query: input.query,
        signal: AbortSignal.any([signal, run.signal]),
      });
      for (const [model, totals] of Object.entries(result.usage.byModel)) {
        run.record(model, {
          inputTokens: totals.inputTokens,
          outputTokens: totals.outputTokens,
          cachedInputTokens: totals.cachedInputTokens,
          costUsd: totals.unpricedCalls > 0 ? null : totals.costUsd,
        });
      }
      if (result.status !== "completed") {
        throw new Error(`the RLM run ended ${result.status}${result.error ? `: ${result.error}` : ""}`);
      }
      return { answer: result.answer, runId: result.runId, iterations: result.iterations };
    },
  });
}

/** The largest file `rlm_query` reads for the agent (the RLM handles large inputs, the host's memory does not). */
const MAX_AGENT_FILE_BYTES = 64 * 1024 * 1024;

/**
 * One regular file under `root`, named by the model, read as text: the path and its real path (symlinks
 * resolved) must stay under the real root, no part may start with a dot (`.env`, `.ssh`), glob characters are
 * refused (the path is never expanded), and the file is at most MAX_AGENT_FILE_BYTES. The model's code may follow
 * instructions hidden in data, so this is the whole of what it can read from the disk.
 */
export async function readAgentFile(root: string, given: string, signal?: AbortSignal): Promise<string> {
  if (/[*?[\]{}]/.test(given))
    throw new Error("path must name one file, without glob characters (* ? [ ] { })");
  const realRoot = await realpath(root);
  const inside = (path: string, base: string) => path === base || path.startsWith(base + sep);
  const path = resolve(root, given);
  if (!inside(path, resolve(root))) throw new Error("path must be inside the working directory");
  if (
    relative(resolve(root), path)
      .split(sep)
      .some((part) => part.startsWith("."))
  ) {
    throw new Error("path must not name a hidden file or folder (a part starting with a dot)");
  }
  const real = await realpath(path).catch(() => {
    throw new Error(`no file at ${given}`);
  });
  if (!inside(real, realRoot))
    throw new Error("path must be inside the working directory (a link leads outside)");
  const file = await open(real, "r");
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new Error(`${given} is not a regular file (give one file)`);
    if (stat.size > MAX_AGENT_FILE_BYTES) {
      throw new Error(
        `${given} is ${stat.size} bytes; rlm_query reads files of at most ${MAX_AGENT_FILE_BYTES} bytes`,
      );
    }
    signal?.throwIfAborted();
    const bytes = await file.readFile({ ...(signal ? { signal } : {}) });
    if (bytes.includes(0)) throw new Error(`${given} is a binary file`);
    return bytes.toString("utf8");
  } finally {
    await file.close();
  }
}
