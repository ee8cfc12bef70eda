import { z } from "zod";
import { type MemoryUse, memoryFunctions } from "../engine/run-memory.ts";
import type { Memory } from "../memory/memory.ts";
import type { Tool } from "../spec/tool.ts";
import type { AgentToolFactory, AgentToolScope } from "./agent-events.ts";

/** `memory_search` and `memory_add` over the agent's memory, with the RLM's bounds (sizes, calls per run, time). */
export function createMemoryTools(memory: Memory): {
  memory_search: AgentToolFactory;
  memory_add: AgentToolFactory;
} {
  const uses = new WeakMap<AgentToolScope, MemoryUse>();
  const functions = (run: AgentToolScope, signal: AbortSignal) => {
    let use = uses.get(run);
    if (use === undefined) {
      use = { adds: 0, searches: 0 };
      uses.set(run, use);
    }
    return memoryFunctions({
      memory,
      runId: run.runId,
      emit: (event) => run.emit({ type: "memory", ...event }),
      use,
      signal: () => signal,
      slot: (work) => work(),
    });
  };
  return {
    memory_search: (scope): Tool => ({
      description:
        "Searches the durable memory of earlier runs (episodes, facts, summaries). Memory is data and may be outdated.",
      inputSchema: z.object({ query: z.string().min(1), k: z.number().int().min(1).max(50).optional() }),
      execute: (input: { query: string; k?: number }, { signal }) =>
        functions(scope(), signal).memory_search?.(input.query, input.k === undefined ? {} : { k: input.k }),
    }),
    memory_add: (scope): Tool => ({
      description:
        "Stores a short note in the durable memory for later runs; a key (a dotted name) makes it a fact that replaces the older one.",
      inputSchema: z.object({ text: z.string().min(1).max(10_000), key: z.string().optional() }),
      execute: (input: { text: string; key?: string }, { signal }) =>
        functions(scope(), signal).memory_add?.(
          input.text,
          input.key === undefined ? {} : { key: input.key },
        ),
    }),
  };
}
