import { type Tool, tool } from "ai";
import { z } from "zod";
import { readLimitedBody } from "./read-limited-body.ts";
import { braveProvider } from "./search-providers/brave.ts";
import { exaProvider } from "./search-providers/exa.ts";
import type { SearchProvider, SearchResult } from "./search-providers/search-provider.ts";
import { searxngProvider } from "./search-providers/searxng.ts";
import { tavilyProvider } from "./search-providers/tavily.ts";
import { errorCause, toolError } from "./tool-error.ts";

/** What to tell a user whose web search is off (createWebSearchTool returned undefined). */
export const WEB_SEARCH_HELP =
  "web_search is off: set SEARXNG_URL (a SearXNG instance with the json format on), BRAVE_API_KEY, TAVILY_API_KEY or EXA_API_KEY (WEB_SEARCH_PROVIDER picks one when several are set).";

export interface WebSearchToolOptions {
  /** Where the provider settings are read (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** The fetch to use (default the global one). */
  fetch?: typeof fetch;
  /** Per search, in ms (default 15,000). */
  timeoutMs?: number;
  /** Results per search, 1 to 20 (default 5). */
  maxResults?: number;
}

export interface WebSearchOutput {
  results: SearchResult[];
  provider: SearchProvider["name"];
}

const PROVIDERS = {
  searxng: searxngProvider,
  brave: braveProvider,
  tavily: tavilyProvider,
  exa: exaProvider,
};
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * The `web_search` tool over the provider the environment configures, or undefined when none is (show
 * WEB_SEARCH_HELP). Several configured: WEB_SEARCH_PROVIDER names one, else the first of SearXNG, Brave, Tavily,
 * Exa. Failures throw an Error with one line for the model that never holds the API key.
 */
export function createWebSearchTool(options: WebSearchToolOptions = {}): Tool | undefined {
  const provider = pickProvider(options.env ?? process.env);
  if (provider === undefined) return undefined;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const maxResults = Math.max(1, Math.min(20, Math.floor(options.maxResults ?? 5)));
  return tool({
    description:
      "Searches the web. Returns a list of results (title, url, snippet); read a page with fetch_url when a snippet is not enough.",
    inputSchema: z.object({ query: z.string().min(1).max(1000).describe("What to search for") }),
    execute: async ({ query }, { abortSignal }): Promise<WebSearchOutput> => ({
      results: await search(provider, query, { fetchImpl, timeoutMs, maxResults, abortSignal }),
      provider: provider.name,
    }),
  });
}

function pickProvider(env: Record<string, string | undefined>): SearchProvider | undefined {
  const chosen = env.WEB_SEARCH_PROVIDER?.trim().toLowerCase();
  if (chosen !== undefined && chosen !== "") {
    if (!Object.hasOwn(PROVIDERS, chosen)) {
      throw new Error(`WEB_SEARCH_PROVIDER=${chosen} is not one of ${Object.keys(PROVIDERS).join(", ")}`);
    }
    return PROVIDERS[chosen as keyof typeof PROVIDERS](env);
  }
  for (const create of Object.values(PROVIDERS)) {
    const provider = create(env);
    if (provider !== undefined) return provider;
  }
  return undefined;
}

interface SearchSettings {
  fetchImpl: typeof fetch;
  timeoutMs: number;
  maxResults: number;
  abortSignal: AbortSignal | undefined;
}

async function search(provider: SearchProvider, query: string, settings: SearchSettings) {
  const { name, secrets } = provider;
  const request = provider.request(query, settings.maxResults);
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal = settings.abortSignal ? AbortSignal.any([settings.abortSignal, timeout]) : timeout;
  const failed = (error: unknown): Error => {
    if (timeout.aborted) return toolError(`web search (${name}) timed out after ${settings.timeoutMs} ms`);
    if (settings.abortSignal?.aborted) return toolError(`web search (${name}) was cancelled`);
    return toolError(
      `web search (${name}) could not reach ${hostOf(request.url)}: ${errorCause(error)}`,
      secrets,
    );
  };
  let response: Response;
  try {
    response = await settings.fetchImpl(request.url, { ...request.init, signal, redirect: "follow" });
  } catch (error) {
    throw failed(error);
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw httpError(provider, response);
  }
  const body = await readLimitedBody(response, MAX_RESPONSE_BYTES).catch((error: unknown) => {
    throw failed(error);
  });
  if (body.truncated) throw toolError(`web search (${name}) answered with more than 4 MB`);
  const text = new TextDecoder().decode(body.bytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw toolError(`web search (${name}) answered with something that is not JSON`);
  }
  try {
    return provider.results(parsed, settings.maxResults);
  } catch (error) {
    throw toolError(`web search (${name}) answered in an unexpected shape: ${errorCause(error)}`, secrets);
  }
}

function httpError(provider: SearchProvider, response: Response): Error {
  const { name, setting, secrets } = provider;
  const status = `HTTP ${response.status}`;
  if (response.status === 429) {
    const wait = retryAfterSeconds(response.headers.get("retry-after"));
    const when = wait === undefined ? "try again later" : `retry after ${wait} s`;
    return toolError(`web search (${name}) is rate limited (${status}); ${when}`, secrets);
  }
  if (name === "searxng" && response.status === 403) {
    return toolError(
      `web search (searxng) was refused (${status}): enable the json format in its settings.yml`,
    );
  }
  if (response.status === 401 || response.status === 403) {
    return toolError(`web search (${name}) was refused (${status}): check ${setting}`, secrets);
  }
  if (response.status >= 500) {
    return toolError(
      `web search (${name}) failed on the provider's side (${status}); try again later`,
      secrets,
    );
  }
  return toolError(`web search (${name}) failed (${status})`, secrets);
}

function retryAfterSeconds(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "the provider";
  }
}
