/** One search hit, the same for every provider. */
export interface SearchResult {
  title: string;
  url: string;
  snippet: string;
}

/** The HTTP request a provider wants for one query. */
export interface SearchRequest {
  url: string;
  init: { method: "GET" | "POST"; headers: Record<string, string>; body?: string };
}

/**
 * A web search provider: how a query becomes a request and a response becomes results. It does no I/O;
 * web-search.ts sends the request, maps HTTP errors and parses the JSON.
 */
export interface SearchProvider {
  name: "searxng" | "brave" | "tavily" | "exa";
  /** The environment variable that turned it on (named in error messages, never its value). */
  setting: string;
  /** Values that must never appear in an error message (the API key). */
  secrets: string[];
  request(query: string, maxResults: number): SearchRequest;
  /** Maps the parsed JSON body to results; throws a plain Error when the shape is not the documented one. */
  results(body: unknown, maxResults: number): SearchResult[];
}

const MAX_TITLE_CHARS = 300;
const MAX_SNIPPET_CHARS = 600;

/** A result with HTML tags and entities removed from title and snippet, both capped. */
export function searchResult(title: unknown, url: unknown, snippet: unknown): SearchResult | undefined {
  if (typeof url !== "string" || url.length === 0) return undefined;
  return {
    title: cap(plainText(title), MAX_TITLE_CHARS),
    url,
    snippet: cap(plainText(snippet), MAX_SNIPPET_CHARS),
  };
}

/** `body[key]` when body is an object and it is an array (the documented `results` lists). */
export function arrayField(body: unknown, key: string): unknown[] {
  const value = isRecord(body) ? body[key] : undefined;
  if (!Array.isArray(value)) throw new Error(`the response has no "${key}" list`);
  return value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The base URL from the environment without a trailing slash, or the default. */
export function baseUrl(value: string | undefined, fallback: string): string {
  const url = value !== undefined && value.trim() !== "" ? value.trim() : fallback;
  return url.replace(/\/+$/, "");
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

function plainText(value: unknown): string {
  if (typeof value !== "string") return "";
  return value
    .replace(/<[^>]*>/g, "")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
      if (name.startsWith("#x") || name.startsWith("#X"))
        return codePoint(Number.parseInt(name.slice(2), 16));
      if (name.startsWith("#")) return codePoint(Number.parseInt(name.slice(1), 10));
      return ENTITIES[name.toLowerCase()] ?? entity;
    })
    .replace(/\s+/g, " ")
    .trim();
}

function codePoint(value: number): string {
  return Number.isInteger(value) && value > 0 && value <= 0x10ffff ? String.fromCodePoint(value) : "";
}

function cap(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
