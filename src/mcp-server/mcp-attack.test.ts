/**
 * `rlm mcp` against a hostile client and a hostile file system (an attack review): `paths` that reach a hidden
 * file through a link, FIFOs, globs built to blow up (brace bombs, backtracking patterns), huge folders, an
 * HTTP client that sends many large bodies at once, and HTTP clients without the bearer token (another local user). Each case failed before its fix (the glob cases blocked the
 * event loop for minutes: their timeouts guard against a hang, they are not speed claims).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../../test/rlm-process.ts";
import { readAgentFile } from "../agent/rlm-query-tool.ts";
import { createMemory } from "../memory/memory.ts";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import { compileGlob, complete, MAX_ALTERNATIVES, matchName, step } from "./glob-pattern.ts";
import { startMcpHttpServer } from "./http-server.ts";
import { registerMemoryTools } from "./memory-tools.ts";
import { readPaths } from "./read-paths.ts";
import { RunService } from "./run-service.ts";

const base = mkdtempSync(join(tmpdir(), "rlmkit-mcp-attack-"));
const root = join(base, "root");
mkdirSync(join(root, "docs", "deep", "er"), { recursive: true });
mkdirSync(join(root, "many"));
mkdirSync(join(root, "node_modules", "pkg"), { recursive: true });
writeFileSync(join(root, ".env"), "API_KEY=sk-secret\n");
writeFileSync(join(root, "docs", "a.txt"), "alpha\n");
writeFileSync(join(root, "docs", "b.md"), "beta\n");
writeFileSync(join(root, "docs", "deep", "er", "c.txt"), "gamma\n");
writeFileSync(join(root, "docs", "we*rd.txt"), "star\n");
writeFileSync(join(root, "node_modules", "pkg", "x.txt"), "dependency\n");
writeFileSync(join(root, "a".repeat(60)), "a long name\n");
for (let index = 0; index < 300; index++) writeFileSync(join(root, "many", `f${index}`), "");
// A link inside the root to the root's hidden file: its real path is under the root, but hidden.
symlinkSync("../.env", join(root, "docs", "config.txt"));
let fifo: string | undefined;
try {
  execFileSync("mkfifo", [join(root, "pipe")]);
  fifo = "pipe";
} catch {
  console.warn("mcp-attack.test.ts: no mkfifo here; the FIFO case is skipped");
}
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** The HTTP servers' bearer token in these tests, and the header that carries it. */
const TOKEN = "attack-test-token-0123456789-abcdefghijklmnop";
const AUTH = { authorization: `Bearer ${TOKEN}` };

const read = (paths: string[], extra: Partial<Parameters<typeof readPaths>[1]> = {}) =>
  readPaths(paths, { root, maxBytes: 1_000_000, ...extra });

describe("paths and rlm_query's files against a hostile file system", () => {
  it("a link to a hidden file inside the root is refused, named, globbed or walked", async () => {
    await expect(readAgentFile(root, "docs/config.txt")).rejects.toThrow(/hidden file/);
    await expect(read(["docs/config.txt"])).rejects.toThrow(/hidden file/);
    const globbed = JSON.stringify(await read(["docs/*"]));
    const walked = JSON.stringify(await read(["docs"]));
    for (const text of [globbed, walked]) {
      expect(text).not.toContain("sk-secret");
      expect(text).toContain("alpha");
    }
  });

  it.skipIf(fifo === undefined)(
    "a FIFO is refused at once instead of hanging the read",
    async () => {
      await expect(readAgentFile(root, fifo as string)).rejects.toThrow(/not a regular file/);
      await expect(read([fifo as string], { timeoutMs: 500 })).rejects.toThrow(/not a regular file/);
    },
    5_000,
  );

  it("a brace bomb is refused before anything is expanded", async () => {
    await expect(read([`docs/${"{a,b}".repeat(40)}`])).rejects.toThrow(
      new RegExp(`more than ${MAX_ALTERNATIVES} patterns`),
    );
    // Braces cannot build a ".." either.
    await expect(read(["{.,x}./x"])).rejects.toThrow(/hold no "\.\."/);
  }, 10_000);

  it("patterns that make a regular expression backtrack match in linear time; extended globs are refused", async () => {
    await expect(read([`${"*a".repeat(30)}b`])).rejects.toThrow(/matches no file/);
    await expect(read([`${"*?".repeat(40)}b`])).rejects.toThrow(/matches no file/);
    await expect(read([`${"**/".repeat(200)}zz`])).rejects.toThrow(/matches no file/);
    await expect(read(["+(a|aa)?b"])).rejects.toThrow(/extended globs/);
  }, 10_000);

  it("a glob counts every entry it looks at, so a huge folder ends at the budget", async () => {
    await expect(read(["**/nothing-matches"], { maxEntries: 100 })).rejects.toThrow(/more than 100 entries/);
    await expect(read(["many"], { maxEntries: 100 })).rejects.toThrow(/more than 100 entries/);
  });

  it("globs still match what they say: **, classes, braces, escapes; hidden, links and node_modules left out", async () => {
    const ids = async (pattern: string) =>
      [(await read([pattern])) as unknown].flatMap((value) =>
        Array.isArray(value) ? value.map((document: { id: string }) => document.id) : [value],
      );
    expect(await ids("docs/**/*.txt")).toEqual(["docs/a.txt", "docs/deep/er/c.txt", "docs/we*rd.txt"]);
    expect(await ids("docs/*.{md,txt}")).toEqual(["docs/b.md", "docs/a.txt", "docs/we*rd.txt"]);
    expect(await ids("docs/[ab].*")).toEqual(["docs/a.txt", "docs/b.md"]);
    expect(await ids("docs/[!a].md")).toEqual(["beta\n"]);
    expect(await ids("docs/we\\*rd.txt")).toEqual(["star\n"]);
    expect(await ids("**/x.txt").catch((error: Error) => error.message)).toMatch(/matches no file/);
  });

  it("the matcher: stars, classes and ** by positions", () => {
    const [segments] = compileGlob("src/**/*.ts");
    const reach = (path: string) =>
      path.split("/").reduce((positions, name) => step(segments ?? [], positions, name), [0]);
    expect(complete(segments ?? [], reach("src/a.ts"))).toBe(true);
    expect(complete(segments ?? [], reach("src/x/y/a.ts"))).toBe(true);
    expect(complete(segments ?? [], reach("lib/a.ts"))).toBe(false);
    const [[name]] = compileGlob("a*b?c[0-9]") as [[{ kind: "name"; tokens: never[] }]];
    expect(matchName(name.tokens, "aXXbYc7")).toBe(true);
    expect(matchName(name.tokens, "abYc")).toBe(false);
  });
});

describe("rlm mcp over HTTP against many large bodies at once", () => {
  it("bodies being read at once have a total budget: past it 503, and the budget comes back", async () => {
    const server = await startMcpHttpServer({
      host: "127.0.0.1",
      port: 0,
      token: TOKEN,
      createServer: () => new McpServer({ name: "attack", version: "0" }),
      maxBodyBytes: 1_000,
      maxBodyBytesInFlight: 1_500,
    });
    try {
      const { port } = new URL(server.url);
      // Two requests each send 900 of their 1,000 bytes and wait: together they pass the budget.
      const pending = [0, 1].map(() => {
        let finish: () => void = () => undefined;
        const status = new Promise<number>((resolve) => {
          const sent = request(
            server.url,
            {
              method: "POST",
              headers: {
                ...AUTH,
                host: `127.0.0.1:${port}`,
                "content-type": "application/json",
                accept: "application/json, text/event-stream",
                "content-length": 1_000,
              },
            },
            (response) => {
              response.resume();
              resolve(response.statusCode ?? 0);
            },
          );
          sent.on("error", () => resolve(-1));
          sent.write(" ".repeat(900));
          finish = () => sent.end(" ".repeat(100));
        });
        return { status, finish: () => finish() };
      });
      const first = await Promise.race(pending.map((entry) => entry.status));
      expect(first).toBe(503);
      for (const entry of pending) entry.finish();
      const statuses = await Promise.all(pending.map((entry) => entry.status));
      expect(statuses).toContain(503);
      // The budget is free again: a normal request is read (no session: 400, not 503).
      const after = await fetch(server.url, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
      expect(after.status).toBe(400);
    } finally {
      await server.close();
    }
  });
});

describe("rlm mcp over HTTP against Host and Origin variants", () => {
  it("only this server's own names pass; look-alikes, userinfo tricks and a null Origin are refused", async () => {
    const server = await startMcpHttpServer({
      host: "127.0.0.1",
      port: 0,
      token: TOKEN,
      createServer: () => new McpServer({ name: "attack", version: "0" }),
      maxBodyBytes: 10_000,
    });
    try {
      const { port } = new URL(server.url);
      const status = (headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) => {
          const sent = request(
            server.url,
            { method: "POST", headers: { ...AUTH, ...headers } },
            (response) => {
              response.resume();
              resolve(response.statusCode ?? 0);
            },
          );
          sent.on("error", reject);
          sent.end("{}");
        });
      for (const host of [
        `127.0.0.1.evil.example:${port}`,
        `localhost:${port}@evil.example`,
        `evil.example:${port}`,
        `[0:0:0:0:0:0:0:1]:${port}`,
        `LOCALHOST.:${port}`,
        "localhost",
      ]) {
        expect(await status({ host }), host).toBe(403);
      }
      const host = `127.0.0.1:${port}`;
      for (const origin of ["null", `http://127.0.0.1:${port}.evil.example`, `https://127.0.0.1:${port}`]) {
        expect(await status({ host, origin }), origin).toBe(403);
      }
      // Its own name, without a session and not an initialize: past the checks, a plain 400.
      expect(await status({ host, origin: `http://localhost:${port}` })).toBe(400);
    } finally {
      await server.close();
    }
  });
});

describe("rlm mcp over HTTP against clients without the bearer token (another user of the machine)", () => {
  let server: Awaited<ReturnType<typeof startMcpHttpServer>>;
  let sessionsMade = 0;
  const initialize = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "intruder", version: "0" },
    },
  });
  const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const post = (headers: Record<string, string>, url = server.url) =>
    fetch(url, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, body: initialize });

  beforeAll(async () => {
    server = await startMcpHttpServer({
      host: "127.0.0.1",
      port: 0,
      token: TOKEN,
      createServer: () => {
        sessionsMade++;
        return new McpServer({ name: "attack", version: "0" });
      },
      maxBodyBytes: 100_000,
    });
  });
  afterAll(() => server.close());

  it("no token: 401 with a Bearer challenge, on every method and path, before a body is read or a session made", async () => {
    const refused = await post({});
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="rlm mcp"');
    expect(await refused.json()).toMatchObject({
      jsonrpc: "2.0",
      error: { message: /Authorization: Bearer/ },
    });
    for (const method of ["GET", "DELETE"]) {
      expect((await fetch(server.url, { method })).status, method).toBe(401);
    }
    expect((await fetch(new URL("/other", server.url))).status).toBe(401);
    // A body that never ends: the 401 comes at once, so nothing waited for (or read) the body.
    const early = await new Promise<number>((resolve, reject) => {
      const sent = request(
        server.url,
        { method: "POST", headers: { ...MCP_HEADERS, "content-length": 90_000 } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
          sent.destroy();
        },
      );
      sent.on("error", (error: NodeJS.ErrnoException) =>
        error.code === "ECONNRESET" ? undefined : reject(error),
      );
      sent.write(initialize.slice(0, 20));
    });
    expect(early).toBe(401);
    expect(sessionsMade).toBe(0);
  });

  it("a wrong token of the same length, near misses, other schemes and a token in the URL are refused", async () => {
    const sameLength = `${TOKEN.slice(0, -1)}${TOKEN.endsWith("x") ? "y" : "x"}`;
    const wrong = await post({ authorization: `Bearer ${sameLength}` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toBe('Bearer realm="rlm mcp", error="invalid_token"');
    const body = await wrong.text();
    expect(body).toMatch(/the bearer token is wrong/);
    expect(body).not.toContain(TOKEN.slice(0, 16));
    for (const authorization of [
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN} ${TOKEN}`,
      `Bearer${TOKEN}`,
      "Bearer ",
      `Basic ${Buffer.from(`user:${TOKEN}`).toString("base64")}`,
      `Token ${TOKEN}`,
      TOKEN,
    ]) {
      expect((await post({ authorization })).status, authorization).toBe(401);
    }
    for (const query of [`?access_token=${TOKEN}`, `?token=${TOKEN}`, `?authorization=Bearer%20${TOKEN}`]) {
      expect((await post({}, `${server.url}${query}`)).status, query).toBe(401);
    }
    expect(sessionsMade).toBe(0);
  });

  it("the right token opens a session (the scheme in any case); a stolen session id alone is refused", async () => {
    const opened = await post({ authorization: `bearer ${TOKEN}` });
    expect(opened.status).toBe(200);
    const session = opened.headers.get("mcp-session-id") ?? "";
    await opened.text();
    expect(session).not.toBe("");
    expect(sessionsMade).toBe(1);
    const list = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    const hijack = await fetch(server.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
      body: list,
    });
    expect(hijack.status).toBe(401);
    const closed = await fetch(server.url, {
      method: "DELETE",
      headers: { ...AUTH, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
    });
    expect(closed.status).toBe(200);
  });

  it("the library refuses to start with a short or malformed token", async () => {
    const start = (token: string) =>
      startMcpHttpServer({
        host: "127.0.0.1",
        port: 0,
        token,
        createServer: () => new McpServer({ name: "attack", version: "0" }),
        maxBodyBytes: 1_000,
      });
    await expect(start("short")).rejects.toThrow(/at least 32/);
    await expect(start(`${"a".repeat(40)} b`)).rejects.toThrow(/may hold only/);
  });
});

describe("rlm_run's waiting line", () => {
  it("a call cancelled while it waits leaves the line at once: cancelled calls do not keep the server busy", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const model = new ScriptedModel({
      replies: async () => {
        await gate;
        return '```repl\nFINAL("done")\n```';
      },
    });
    const service = new RunService({
      rlm: { model, subModel: model },
      root,
      maxInputBytes: 1_000,
      maxConcurrentRuns: 1,
      maxWaitingRuns: 1,
      secrets: [],
    });
    const call = { query: "q", context: "x" };
    try {
      const first = service.run(call, { signal: new AbortController().signal });
      await until(() => model.calls.length === 1);
      // A client times out while it waits (the SDK cancels the request), again and again.
      for (let attempt = 0; attempt < 3; attempt++) {
        const cancel = new AbortController();
        const waiting = service.run(call, { signal: cancel.signal });
        cancel.abort();
        await expect(waiting).rejects.toThrow(/cancelled before it started/);
      }
      // The line is free: the next call waits for the slot instead of being refused as busy.
      const next = service.run(call, { signal: new AbortController().signal });
      release();
      expect((await next).result.status).toBe("completed");
      expect((await first).result.status).toBe("completed");
    } finally {
      release();
      await service.close();
    }
  }, 10_000);
});

describe("memory_add and memory_search through MCP", () => {
  it("a session has an allowance per minute (a client cannot fill the disk or spend on embeddings without end)", async () => {
    const memory = createMemory({ store: await openMemoryStore(join(base, "memory.db")) });
    const server = new McpServer({ name: "attack", version: "0" });
    registerMemoryTools(server, memory, (text) => text);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: "attacker", version: "0" });
    await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
    try {
      const add = async (index: number) =>
        (await client.callTool({
          name: "memory_add",
          arguments: { text: `note ${index}` },
        })) as CallToolResult;
      for (let index = 0; index < 100; index++) expect((await add(index)).isError).toBeFalsy();
      const refused = await add(100);
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toMatch(/at most 100 times a minute/);
    } finally {
      await client.close();
      await server.close();
      await memory.close();
    }
  });
});
