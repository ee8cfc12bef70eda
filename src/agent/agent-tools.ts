import type { RLMOptions } from "../engine/rlm.ts";
import { UsageError } from "../errors/usage-error.ts";
import type { Memory } from "../memory/memory.ts";
import type { ModelClient } from "../models/model-client.ts";
import type { Sandbox } from "../spec/sandbox.ts";
import type { AgentToolInput } from "./agent-events.ts";
import { createAskLlmTool } from "./ask-llm-tool.ts";
import { createMemoryTools } from "./memory-tools.ts";
import { createRlmQueryTool } from "./rlm-query-tool.ts";
import { createRunCodeTool } from "./run-code-tool.ts";
import {
  createCalculatorTool,
  createFetchUrlTool,
  createWebSearchTool,
  WEB_SEARCH_HELP,
} from "./tools/index.ts";

/** The built-in tools by name, in the order `--tools` lists them. */
export const AGENT_TOOL_NAMES = [
  "web_search",
  "fetch_url",
  "calculator",
  "run_code",
  "rlm_query",
  "ask_llm",
  "memory_search",
  "memory_add",
] as const;

export type AgentToolName = (typeof AGENT_TOOL_NAMES)[number];

export interface AgentToolsOptions {
  /** Where tools read their settings (search provider keys). */
  env?: Record<string, string | undefined>;
  /** The model ask_llm asks. */
  askModel: ModelClient;
  /** The RLM rlm_query starts (its model at least). */
  rlm: RLMOptions;
  memory?: Memory;
  sandbox?: Sandbox;
  allowPrivateUrls?: boolean;
}

/** `--tools a,b,c` checked against the built-in names: a UsageError in one line for an unknown one. */
export function parseToolNames(list: string): AgentToolName[] {
  const names = list
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  if (names.length === 0)
    throw new UsageError({ message: `--tools needs names: ${AGENT_TOOL_NAMES.join(", ")}.` });
  for (const name of names) {
    if (!(AGENT_TOOL_NAMES as readonly string[]).includes(name)) {
      throw new UsageError({ message: `Unknown tool "${name}". Tools: ${AGENT_TOOL_NAMES.join(", ")}.` });
    }
  }
  return [...new Set(names)] as AgentToolName[];
}

/**
 * The built-in tools, by name: the ones asked for (a UsageError when one cannot be had: no search provider, no
 * memory), or by default every one available.
 */
export function createAgentTools(
  names: AgentToolName[] | undefined,
  options: AgentToolsOptions,
): Record<string, AgentToolInput> {
  const tools: Record<string, AgentToolInput> = {};
  const wanted = names ?? AGENT_TOOL_NAMES;
  const explicit = names !== undefined;
  for (const name of wanted) {
    if (name === "web_search") {
      const search = createWebSearchTool({ ...(options.env ? { env: options.env } : {}) });
      if (search) tools.web_search = search;
      else if (explicit)
        throw new UsageError({ message: `web_search needs a search provider: ${oneLine(WEB_SEARCH_HELP)}` });
    } else if (name === "fetch_url") {
      tools.fetch_url = createFetchUrlTool({ allowPrivateUrls: options.allowPrivateUrls === true });
    } else if (name === "calculator") {
      tools.calculator = createCalculatorTool();
    } else if (name === "run_code") {
      tools.run_code = createRunCodeTool(options.sandbox ? { sandbox: options.sandbox } : {});
    } else if (name === "rlm_query") {
      tools.rlm_query = createRlmQueryTool({ rlm: options.rlm });
    } else if (name === "ask_llm") {
      tools.ask_llm = createAskLlmTool({ model: options.askModel });
    } else if (name === "memory_search" || name === "memory_add") {
      if (options.memory === undefined) {
        if (explicit) throw new UsageError({ message: `${name} needs a memory: add --memory [DB].` });
        continue;
      }
      tools[name] = createMemoryTools(options.memory)[name];
    }
  }
  return tools;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
