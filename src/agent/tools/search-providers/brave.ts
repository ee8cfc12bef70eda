import {
  baseUrl,
  isRecord,
  type SearchProvider,
  type SearchResult,
  searchResult,
} from "./search-provider.ts";

/**
 * Brave Search (`BRAVE_API_KEY`; `BRAVE_BASE_URL` overrides https://api.search.brave.com):
 * `GET /res/v1/web/search?q=...&count=N` with the key in `X-Subscription-Token`. Response (WebSearchApiResponse):
 * `{ type: "search", query, web?: { results: [{ title, url, description, ... }] } }`; `web` is absent when
 * nothing matched. Descriptions carry `<strong>` marks, removed here. `count` is at most 20.
 */
export function braveProvider(env: Record<string, string | undefined>): SearchProvider | undefined {
  const key = env.BRAVE_API_KEY?.trim();
  if (key === undefined || key === "") return undefined;
  const base = baseUrl(env.BRAVE_BASE_URL, "https://api.search.brave.com");
  return {
    name: "brave",
    setting: "BRAVE_API_KEY",
    secrets: [key],
    request(query, maxResults) {
      const params = new URLSearchParams({ q: query, count: String(Math.min(maxResults, 20)) });
      return {
        url: `${base}/res/v1/web/search?${params}`,
        init: { method: "GET", headers: { accept: "application/json", "x-subscription-token": key } },
      };
    },
    results(body, maxResults) {
      if (!isRecord(body)) throw new Error("the response is not a JSON object");
      if (body.web === undefined) return [];
      if (!isRecord(body.web) || !Array.isArray(body.web.results)) {
        throw new Error('the response has no "web.results" list');
      }
      const results: SearchResult[] = [];
      for (const item of body.web.results) {
        if (!isRecord(item)) continue;
        const result = searchResult(item.title, item.url, item.description);
        if (result !== undefined) results.push(result);
        if (results.length >= maxResults) break;
      }
      return results;
    },
  };
}
