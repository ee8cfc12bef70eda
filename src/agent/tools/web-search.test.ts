import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Tool } from "ai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createWebSearchTool, WEB_SEARCH_HELP, type WebSearchOutput } from "./web-search.ts";

const KEY = "sk-test-SECRET-0123456789";

interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** What the fake server answers next: a status, headers and a body (JSON unless a string). */
let reply: { status: number; headers?: Record<string, string>; body: unknown; delayMs?: number };
let seen: Seen[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      seen.push({ method: request.method ?? "", path: request.url ?? "", headers: request.headers, body });
      const send = () => {
        response.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
        response.end(typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body));
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
});

const search = async (tool: Tool | undefined, query: string) =>
  (await (tool as Required<Tool>).execute(
    { query },
    { toolCallId: "t", messages: [], context: {} },
  )) as WebSearchOutput;

/** Each provider: its environment (pointed at the fake server), a documented response and what was asked. */
const providers = {
  searxng: {
    env: () => ({ SEARXNG_URL: `${base}/` }),
    response: {
      query: "tides",
      number_of_results: 0,
      results: [
        { url: "https://a.example/tides", title: "Tides", content: "How tides work", engine: "duckduckgo" },
        {
          url: "https://b.example/moon",
          title: "Moon &amp; tides",
          content: "The moon pulls",
          engine: "bing",
        },
        { url: "https://c.example/more", title: "More", content: "x", engine: "bing" },
      ],
      answers: [],
      infoboxes: [],
      suggestions: [],
      unresponsive_engines: [],
    },
    check(request: Seen) {
      expect(request.method).toBe("GET");
      const url = new URL(request.path, base);
      expect(url.pathname).toBe("/search");
      expect(url.searchParams.get("q")).toBe("north sea tides");
      expect(url.searchParams.get("format")).toBe("json");
    },
  },
  brave: {
    env: () => ({ BRAVE_API_KEY: KEY, BRAVE_BASE_URL: base }),
    response: {
      type: "search",
      query: { original: "north sea tides" },
      web: {
        type: "search",
        results: [
          {
            title: "Tides",
            url: "https://a.example/tides",
            description: "How <strong>tides</strong> work",
            age: "1d",
          },
          { title: "Moon &amp; tides", url: "https://b.example/moon", description: "The moon pulls" },
        ],
      },
    },
    check(request: Seen) {
      expect(request.method).toBe("GET");
      const url = new URL(request.path, base);
      expect(url.pathname).toBe("/res/v1/web/search");
      expect(url.searchParams.get("q")).toBe("north sea tides");
      expect(url.searchParams.get("count")).toBe("2");
      expect(request.headers["x-subscription-token"]).toBe(KEY);
    },
  },
  tavily: {
    env: () => ({ TAVILY_API_KEY: KEY, TAVILY_BASE_URL: base }),
    response: {
      query: "north sea tides",
      answer: null,
      results: [
        { title: "Tides", url: "https://a.example/tides", content: "How tides work", score: 0.9 },
        { title: "Moon &amp; tides", url: "https://b.example/moon", content: "The moon pulls", score: 0.8 },
      ],
      response_time: 1.2,
    },
    check(request: Seen) {
      expect(request.method).toBe("POST");
      expect(request.path).toBe("/search");
      expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
      expect(request.headers["content-type"]).toBe("application/json");
      expect(JSON.parse(request.body)).toMatchObject({ query: "north sea tides", max_results: 2 });
      expect(request.body).not.toContain(KEY);
    },
  },
  exa: {
    env: () => ({ EXA_API_KEY: KEY, EXA_BASE_URL: base }),
    response: {
      requestId: "r1",
      results: [
        {
          id: "1",
          title: "Tides",
          url: "https://a.example/tides",
          highlights: ["How tides work"],
          text: "long",
        },
        { id: "2", title: "Moon &amp; tides", url: "https://b.example/moon", text: "The moon pulls" },
      ],
    },
    check(request: Seen) {
      expect(request.method).toBe("POST");
      expect(request.path).toBe("/search");
      expect(request.headers["x-api-key"]).toBe(KEY);
      expect(JSON.parse(request.body)).toMatchObject({ query: "north sea tides", numResults: 2 });
    },
  },
};

describe.each(Object.entries(providers))("web_search with %s", (name, provider) => {
  const tool = () => createWebSearchTool({ env: provider.env(), maxResults: 2, timeoutMs: 400 });

  it("sends the documented request and maps the documented response", async () => {
    reply = { status: 200, body: provider.response };
    const output = await search(tool(), "north sea tides");
    expect(output).toEqual({
      provider: name,
      results: [
        { title: "Tides", url: "https://a.example/tides", snippet: "How tides work" },
        { title: "Moon & tides", url: "https://b.example/moon", snippet: "The moon pulls" },
      ],
    });
    expect(seen).toHaveLength(1);
    provider.check(seen[0] as Seen);
  });

  it("maps provider errors to one line without the key", async () => {
    const cases: [typeof reply, RegExp][] = [
      [{ status: 401, body: { error: `bad key ${KEY}` } }, /refused \(HTTP 401\): check [A-Z_]+/],
      [
        { status: 429, headers: { "retry-after": "30" }, body: {} },
        /rate limited \(HTTP 429\); retry after 30 s/,
      ],
      [{ status: 429, body: {} }, /rate limited \(HTTP 429\); try again later/],
      [{ status: 500, body: { detail: KEY } }, /provider's side \(HTTP 500\)/],
      [{ status: 200, body: `<html>${KEY}</html>` }, /not JSON/],
      [{ status: 200, body: { nothing: true } }, name === "brave" ? /^$/ : /unexpected shape/],
      [{ status: 200, body: {}, delayMs: 1500 }, /timed out after 400 ms/],
    ];
    for (const [answer, message] of cases) {
      reply = answer;
      if (message.source === "^$") {
        expect((await search(tool(), "q")).results).toEqual([]);
        continue;
      }
      const error = (await search(tool(), "q").catch((caught: unknown) => caught)) as Error;
      expect(error, JSON.stringify(answer)).toBeInstanceOf(Error);
      expect(error.message).toMatch(new RegExp(`^web search \\(${name}\\) `));
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(KEY);
      expect(error.message).not.toContain("\n");
    }
  });
});

describe("web_search configuration", () => {
  it("is undefined without a provider, with a help line", () => {
    expect(createWebSearchTool({ env: {} })).toBeUndefined();
    expect(createWebSearchTool({ env: { BRAVE_API_KEY: " " } })).toBeUndefined();
    expect(WEB_SEARCH_HELP).toMatch(/SEARXNG_URL.*BRAVE_API_KEY.*TAVILY_API_KEY.*EXA_API_KEY/);
    expect(WEB_SEARCH_HELP).not.toContain("\n");
  });

  it("takes the first configured provider, or the one WEB_SEARCH_PROVIDER names", async () => {
    reply = { status: 200, body: providers.exa.response };
    const env = { ...providers.tavily.env(), ...providers.exa.env() };
    expect((await search(createWebSearchTool({ env }), "q")).provider).toBe("tavily");
    const chosen = createWebSearchTool({ env: { ...env, WEB_SEARCH_PROVIDER: "exa" } });
    expect((await search(chosen, "q")).provider).toBe("exa");
    expect(() => createWebSearchTool({ env: { ...env, WEB_SEARCH_PROVIDER: "bing" } })).toThrow(/not one of/);
  });

  it("says when the provider cannot be reached, without the key", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const tool = createWebSearchTool({ env: { BRAVE_API_KEY: KEY, BRAVE_BASE_URL: `http://${address}` } });
    const error = (await search(tool, "q").catch((caught: unknown) => caught)) as Error;
    expect(error.message).toBe(`web search (brave) could not reach ${address}: ECONNREFUSED`);
  });
});
