import {
  arrayField,
  isRecord,
  type SearchProvider,
  type SearchResult,
  searchResult,
} from "./search-provider.ts";

/**
 * SearXNG (`SEARXNG_URL`, a self-hosted metasearch instance): `GET {url}/search?q=...&format=json`; the
 * instance must list `json` under `search.formats` in its settings.yml (else it answers 403). Response:
 * `{ query, results: [{ title, url, content, engine, ... }], answers, infoboxes, ... }`. It takes no result
 * count, so the list is cut here.
 */
export function searxngProvider(env: Record<string, string | undefined>): SearchProvider | undefined {
  const configured = env.SEARXNG_URL?.trim();
  if (configured === undefined || configured === "") return undefined;
  const base = configured.replace(/\/+$/, "").replace(/\/search$/, "");
  return {
    name: "searxng",
    setting: "SEARXNG_URL",
    secrets: [],
    request(query) {
      const params = new URLSearchParams({ q: query, format: "json" });
      return {
        url: `${base}/search?${params}`,
        init: { method: "GET", headers: { accept: "application/json" } },
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
