import {
  arrayField,
  baseUrl,
  isRecord,
  type SearchProvider,
  type SearchResult,
  searchResult,
} from "./search-provider.ts";

/**
 * Tavily (`TAVILY_API_KEY`; `TAVILY_BASE_URL` overrides https://api.tavily.com): `POST /search` with a JSON body
 * `{ query, max_results, search_depth: "basic" }` and the key as `Authorization: Bearer` (never in the body).
 * Response: `{ query, answer?, results: [{ title, url, content, score, raw_content? }], response_time }`.
 */
export function tavilyProvider(env: Record<string, string | undefined>): SearchProvider | undefined {
  const key = env.TAVILY_API_KEY?.trim();
  if (key === undefined || key === "") return undefined;
  const base = baseUrl(env.TAVILY_BASE_URL, "https://api.tavily.com");
  return {
    name: "tavily",
    setting: "TAVILY_API_KEY",
    secrets: [key],
    request(query, maxResults) {
      return {
        url: `${base}/search`,
        init: {
          method: "POST",
          headers: {
            accept: "application/json",
            "content-type": "application/json",
            authorization: `Bearer ${key}`,
          },
          body: JSON.stringify({ query, max_results: maxResults, search_depth: "basic" }),
        },
      };
    },
    results(body, maxResults) {
      const results: SearchResult[] = [];
      for (const item of arrayField(body, "results")) {
        if (!isRecord(item)) continue;
        const result = searchResult(item.title, item.url, item.content);
        if (result !== undefined) results.push(result);
        if (results.length >= maxResults) break;
      }
      return results;
    },
  };
}
