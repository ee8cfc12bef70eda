/**
 * A small MCP server for tests, written with the official SDK. Tools: add({a, b}), echo({text}), fail() (an
 * isError result), slow({ms}), env({name}) (a variable of the server's environment, or "(unset)"), die() (the
 * process exits mid-call).
 *
 * Over stdio: `node test/mcp-test-server.ts [--prefix P]` (P is put before every tool name, to make clashes or
 * keep them apart). Over streamable HTTP, in-process: `startHttpMcpServer()`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

/** This file's path, to spawn it as a stdio server. */
export const MCP_TEST_SERVER = fileURLToPath(import.meta.url);

function text(value: string) {
  return { content: [{ type: "text" as const, text: value }] };
}

/** A fresh server with the test tools, each name behind `prefix`. */
export function createTestMcpServer(prefix = ""): McpServer {
  const server = new McpServer({ name: "rlmkit-test-server", version: "1.0.0" });
  server.registerTool(
    `${prefix}add`,
    { description: "Adds two numbers.", inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => text(String(a + b)),
  );
  server.registerTool(
    `${prefix}echo`,
    { description: "Returns the text it is given.", inputSchema: { text: z.string() } },
    async ({ text: value }) => text(value),
  );
  server.registerTool(`${prefix}fail`, { description: "Always fails." }, async () => ({
    content: [{ type: "text" as const, text: "something went wrong\non two lines" }],
    isError: true,
  }));
  server.registerTool(
    `${prefix}slow`,
    { description: "Answers after ms milliseconds.", inputSchema: { ms: z.number() } },
    async ({ ms }) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return text("done");
    },
  );
  server.registerTool(
    `${prefix}env`,
    { description: "A variable of the server's environment.", inputSchema: { name: z.string() } },
    async ({ name }) => text(process.env[name] ?? "(unset)"),
  );
  server.registerTool(`${prefix}die`, { description: "Exits the server process mid-call." }, async () => {
    process.exit(3);
  });
  return server;
}

/**
 * A streamable HTTP MCP server on 127.0.0.1 (a free port), stateless: every request gets a fresh server and
 * transport. `url` is its endpoint; `close()` stops it.
 */
export async function startHttpMcpServer(prefix = ""): Promise<{ url: string; close(): Promise<void> }> {
  const http: Server = createServer(async (req, res) => {
    if (req.method !== "POST" || !req.url?.startsWith("/mcp")) {
      res.writeHead(405, { "content-type": "application/json" }).end(
        JSON.stringify({
          jsonrpc: "2.0",
          error: { code: -32000, message: "Method not allowed." },
          id: null,
        }),
      );
      return;
    }
    const server = createTestMcpServer(prefix);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res);
    } catch {
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

if (process.argv[1] === MCP_TEST_SERVER) {
  const at = process.argv.indexOf("--prefix");
  const prefix = at > 0 ? (process.argv[at + 1] ?? "") : "";
  const server = createTestMcpServer(prefix);
  await server.connect(new StdioServerTransport());
}
