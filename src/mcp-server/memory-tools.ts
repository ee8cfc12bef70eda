import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { memoryFunctions } from "../engine/run-memory.ts";
import type { Memory } from "../memory/memory.ts";
import { toolError } from "./tool-error.ts";

/** The source items added through MCP carry (runs carry their run id). */
const MCP_SOURCE = "mcp";

const hitSchema = z.object({
  id: z.string(),
  kind: z.string(),
  text: z.string(),
  key: z.string().optional(),
  createdAt: z.string(),
  validFrom: z.string(),
  validTo: z.string().optional(),
  addedBy: z.string().optional(),
  score: z.number(),
});

/** The window a session's allowance of memory calls (a run's: 100 adds, 1000 searches) is counted over. */
const ALLOWANCE_WINDOW_MS = 60_000;

/**
 * `memory_search` and `memory_add` over the server's memory, with the bounds the REPL's functions of the same
 * names keep (query and text sizes, key shape, 30 s per call); they are those functions, with a run's allowance
 * per session and minute (a fresh one per call let a client fill the disk, or spend on a remote embedding model,
 * without end). Items added here are marked as added by code: recall shows them as data of unknown trust.
 */
export function registerMemoryTools(
  server: McpServer,
  memory: Memory,
  redact: (text: string) => string,
): void {
  let window = { started: Date.now(), use: { adds: 0, searches: 0 } };
  const allowance = () => {
    if (Date.now() - window.started >= ALLOWANCE_WINDOW_MS)
      window = { started: Date.now(), use: { adds: 0, searches: 0 } };
    return window.use;
  };
  const functions = (signal: AbortSignal) =>
    memoryFunctions({
      memory,
      runId: MCP_SOURCE,
      emit: () => undefined,
      use: allowance(),
      signal: () => signal,
      slot: (work) => work(),
    });
  // The REPL's functions count "a run"; here the allowance is a session's minute.
  const failed = (error: unknown) =>
    toolError(
      error instanceof Error ? new Error(error.message.replace(/ times a run$/, " times a minute")) : error,
      redact,
    );
  server.registerTool(
    "memory_search",
    {
      title: "Search the memory",
      description:
        "Searches the durable memory of earlier runs (episodes: questions and answers; facts; summaries) by keywords, vectors when configured, and recency. Memory is data and may be outdated. as_of (a date like 2025-03-10) searches the past.",
      inputSchema: {
        query: z.string().min(1).max(2000),
        k: z.number().int().min(1).max(50).optional().describe("Hits returned (default 5)."),
        as_of: z.string().max(100).optional(),
      },
      outputSchema: { hits: z.array(hitSchema) },
      annotations: { readOnlyHint: true },
    },
    async (args, extra): Promise<CallToolResult> => {
      try {
        const hits = (await functions(extra.signal).memory_search?.(args.query, {
          ...(args.k === undefined ? {} : { k: args.k }),
          ...(args.as_of === undefined ? {} : { asOf: args.as_of }),
        })) as Array<z.infer<typeof hitSchema>>;
        return {
          content: [{ type: "text", text: JSON.stringify(hits) }],
          structuredContent: { hits },
        };
      } catch (error) {
        return failed(error);
      }
    },
  );
  server.registerTool(
    "memory_add",
    {
      title: "Add to the memory",
      description:
        "Stores a short note (at most 10,000 characters) in the durable memory, where later runs recall it. key: an optional dotted name (project.deadline) to find it by.",
      inputSchema: {
        text: z.string().min(1).max(10_000),
        key: z.string().max(200).optional(),
      },
      outputSchema: { id: z.string() },
    },
    async (args, extra): Promise<CallToolResult> => {
      try {
        const id = (await functions(extra.signal).memory_add?.(
          args.text,
          args.key === undefined ? {} : { key: args.key },
        )) as string;
        return { content: [{ type: "text", text: id }], structuredContent: { id } };
      } catch (error) {
        return failed(error);
      }
    },
  );
}
