import {
  arrayField,
  baseUrl,
  isRecord,
  type SearchProvider,
  type SearchResult,
  searchResult,
} from "./search-provider.ts";

/**
 * Exa (`EXA_API_KEY`; `EXA_BASE_URL` overrides https://api.exa.ai): `POST /search` with the key in `x-api-key`
 * and a JSON body `{ query, numResults, contents: { highlights: true, text: { maxCharacters } } }`. Response:
 * `{ requestId, results: [{ id, title, url, publishedDate, author, text?, highlights?, summary? }] }`; the
 * snippet is the highlights, else the summary, else the start of the text.
 */
export function exaProvider(env: Record<string, string | undefined>): SearchProvider | undefined {
  const key = env.EXA_API_KEY?.trim();
  if (key === undefined || key === "") return undefined;
  const base = baseUrl(env.EXA_BASE_URL, "https://api.exa.ai");
  return {
    name: "exa",
    setting: "EXA_API_KEY",
    secrets: [key],
    request(query, maxResults) {
      return {
        url: `${base}/search`,
        init: {
          method: "POST",
          headers: { accept: "application/json", "content-type": "application/json", "x-api-key": key },
          body: JSON.stringify({
            query,
            numResults: maxResults,
            contents: { highlights: true, text: { maxCharacters: 600 } },
          }),
        },
      };
    },
    results(body, maxResults) {
      const results: SearchResult[] = [];
      for (const item of arrayField(body, "results")) {
        if (!isRecord(item)) continue;
        const result = searchResult(item.title, item.url, snippetOf(item));
        if (result !== undefined) results.push(result);
        if (results.length >= maxResults) break;
      }
      return results;
    },
  };
}

function snippetOf(item: Record<string, unknown>): string {
  const highlights = Array.isArray(item.highlights)
    ? item.highlights.filter((highlight): highlight is string => typeof highlight === "string")
    : [];
  if (highlights.length > 0) return highlights.join(" ... ");
  if (typeof item.summary === "string" && item.summary !== "") return item.summary;
  return typeof item.text === "string" ? item.text : "";
}
