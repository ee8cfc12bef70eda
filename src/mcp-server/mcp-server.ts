import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Memory } from "../memory/memory.ts";
import { VERSION } from "../version.ts";
import { registerMemoryTools } from "./memory-tools.ts";
import { registerRlmRunTool } from "./rlm-run-tool.ts";
import type { RunService } from "./run-service.ts";

export interface RlmMcpServerOptions {
  /** Runs `rlm_run` calls; shared by every connection, so its slots hold across them. */
  service: RunService;
  /** With a memory, the server also offers memory_search and memory_add. */
  memory?: Memory;
  /** Cleans what goes back to the client (API keys). */
  redact?: (text: string) => string;
}

const INSTRUCTIONS = `rlmkit answers questions about inputs far larger than a model's context window. Call rlm_run with a query and the input (context text, or paths of files and folders under the server's working directory); the answer comes back as text and as structured content with the usage and the run id. Runs can take minutes: ask for progress notifications.`;

/**
 * One MCP server (one connection: stdio, or one streamable HTTP session) with rlmkit's tools: `rlm_run`, and with
 * a memory `memory_search` and `memory_add`.
 */
export function createRlmMcpServer(options: RlmMcpServerOptions): McpServer {
  const redact = options.redact ?? ((text: string) => text);
  const server = new McpServer(
    { name: "rlmkit", version: VERSION },
    {
      capabilities: { tools: {} },
      instructions: options.memory
        ? `${INSTRUCTIONS} memory_search and memory_add read and write the durable memory that runs recall from.`
        : INSTRUCTIONS,
    },
  );
  registerRlmRunTool(server, options.service, redact);
  if (options.memory) registerMemoryTools(server, options.memory, redact);
  return server;
}
