import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest, type RequestId } from "@modelcontextprotocol/sdk/types.js";

export interface McpHttpServerOptions {
  /** A loopback address (checked by the caller): the token travels in clear, over plain HTTP. */
  host: string;
  /**
   * The bearer token every request must carry (`Authorization: Bearer TOKEN`), at least MIN_TOKEN_LENGTH
   * characters: 127.0.0.1 is open to every user of the machine, and a call reads files and spends API keys.
   */
  token: string;
  /** 0 for a free port. */
  port: number;
  /** A fresh MCP server for each session. */
  createServer: () => McpServer;
  /** The largest request body read, in bytes (a request over it gets 413). */
  maxBodyBytes: number;
  /**
   * Bytes of request bodies being read at once, over all requests (default 4 x maxBodyBytes): many large bodies
   * sent together would otherwise all sit in memory. A request that would pass it gets 503.
   */
  maxBodyBytesInFlight?: number;
  /** Sessions open at once (default 64); past it an initialize gets 503. */
  maxSessions?: number;
  /** A session with no request open for this long is closed (default 30 minutes). */
  idleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface McpHttpServer {
  /** The MCP endpoint, `http://127.0.0.1:PORT/mcp`. */
  url: string;
  /** Closes every session (their runs are cancelled) and the listener. */
  close(): Promise<void>;
}

interface Session {
  server: McpServer;
  transport: StreamableHTTPServerTransport;
  /** HTTP requests of this session still open (a tool call's stream stays open while it runs). */
  open: number;
  lastSeen: number;
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

/** The shortest token accepted: 32 characters (a generated one is 32 random bytes, 43 in base64url). */
export const MIN_TOKEN_LENGTH = 32;
/** A bearer token's characters (RFC 6750's b64token): what fits in the header as it is. */
const TOKEN_SHAPE = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Why `token` cannot be a bearer token of this server, or undefined when it can. */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) {
    return `is ${token.length} characters; it needs at least ${MIN_TOKEN_LENGTH}`;
  }
  if (token.length > 1024) return "is over 1024 characters";
  if (!TOKEN_SHAPE.test(token)) return "may hold only letters, digits and - . _ ~ + / (then = padding)";
  return undefined;
}

/**
 * MCP over streamable HTTP on a loopback address, one session per client (`Mcp-Session-Id`), at `/mcp`. Every
 * request must carry the bearer token (checked first, in constant time, before the body is read or a session is
 * looked up): any local user can reach a loopback port. A browser page cannot drive it either: the Host header
 * must name this server (DNS rebinding) and an Origin, when sent, must be this server's. A tool call whose
 * connection closes before its answer is cancelled, as if the client had sent notifications/cancelled.
 */
export async function startMcpHttpServer(options: McpHttpServerOptions): Promise<McpHttpServer> {
  const sessions = new Map<string, Session>();
  const maxSessions = options.maxSessions ?? 64;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
  const bodies = { used: 0, limit: options.maxBodyBytesInFlight ?? 4 * options.maxBodyBytes };
  const problem = tokenProblem(options.token);
  if (problem !== undefined) throw new TypeError(`startMcpHttpServer: the token ${problem}.`);
  const expected = digest(options.token);
  let allowedHosts = new Set<string>();

  const openSession = async (): Promise<Session> => {
    const server = options.createServer();
    const session: Session = {
      server,
      open: 0,
      lastSeen: Date.now(),
      transport: new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, session);
        },
      }),
    };
    session.transport.onclose = () => {
      const id = session.transport.sessionId;
      if (id !== undefined) sessions.delete(id);
    };
    await server.connect(session.transport);
    return session;
  };

  const serve = async (
    session: Session,
    request: IncomingMessage,
    response: ServerResponse,
    body: unknown,
  ) => {
    session.open++;
    session.lastSeen = Date.now();
    const calls = toolCallIds(body);
    response.on("close", () => {
      session.open--;
      session.lastSeen = Date.now();
      if (response.writableFinished || calls.length === 0) return;
      // The client went away before the answer: its runs stop, as a cancellation would stop them.
      for (const requestId of calls) {
        session.transport.onmessage?.({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId, reason: "the connection closed" },
        });
      }
    });
    await session.transport.handleRequest(request, response, body);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const presented = bearerToken(request.headers.authorization);
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      return unauthorized(response, presented !== undefined);
    }
    const path = (request.url ?? "/").split("?")[0];
    if (path !== "/mcp") return reply(response, 404, "Not found: the MCP endpoint is /mcp.");
    if (!allowedHosts.has(request.headers.host ?? "")) {
      return reply(
        response,
        403,
        "Forbidden: the Host header must name this server (127.0.0.1 or localhost).",
      );
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !allowedHosts.has(origin.replace(/^http:\/\//, ""))) {
      return reply(response, 403, "Forbidden: requests from web pages of other origins are refused.");
    }
    // The session is looked up before the body is read: a body for no session is not worth reading.
    const id = request.headers["mcp-session-id"];
    const known = typeof id === "string" ? sessions.get(id) : undefined;
    if (id !== undefined && known === undefined)
      return reply(response, 404, "Session not found: initialize a new one.", -32001);
    let body: unknown;
    if (request.method === "POST") {
      const read = await readJson(request, options.maxBodyBytes, bodies);
      if (!read.ok) return reply(response, read.status, read.message, read.code);
      body = read.value;
    }
    if (known !== undefined) return serve(known, request, response, body);
    if (request.method !== "POST" || !isInitializeRequest(body)) {
      return reply(response, 400, "Bad request: send initialize first, then the Mcp-Session-Id it returns.");
    }
    if (sessions.size >= maxSessions) {
      return reply(
        response,
        503,
        `Too many sessions (${maxSessions}): close one (DELETE /mcp) or try later.`,
      );
    }
    const session = await openSession();
    await serve(session, request, response, body);
    if (session.transport.sessionId === undefined) await session.server.close();
  };

  const http = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      options.log?.(`warning: an HTTP request failed: ${(error as Error).message}`);
      if (!response.headersSent) reply(response, 500, "Internal error.");
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const { port } = http.address() as AddressInfo;
  const hostInUrl = options.host.includes(":") ? `[${options.host}]` : options.host;
  allowedHosts = new Set([hostInUrl, ...LOOPBACK_NAMES].map((name) => `${name}:${port}`));

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const session of sessions.values()) {
        if (session.open === 0 && now - session.lastSeen > idleTimeoutMs) void session.server.close();
      }
    },
    Math.min(60_000, idleTimeoutMs),
  );
  sweep.unref();

  return {
    url: `http://${hostInUrl}:${port}/mcp`,
    async close() {
      clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((session) => session.server.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/**
 * The token of an `Authorization: Bearer TOKEN` header (the scheme in any case, RFC 9110), or undefined. Only
 * the header counts: a token in the URL (`?access_token=`) would end up in logs and histories.
 */
function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(header ?? "")?.[1];
}

/** SHA-256 of a token: equal lengths for timingSafeEqual, so not even the length is compared in variable time. */
function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** 401 with the challenge (RFC 6750); the body is left unread, so the connection closes. */
function unauthorized(response: ServerResponse, presented: boolean): void {
  response
    .writeHead(401, {
      "content-type": "application/json",
      "www-authenticate": presented
        ? 'Bearer realm="rlm mcp", error="invalid_token"'
        : 'Bearer realm="rlm mcp"',
      connection: "close",
    })
    .end(
      JSON.stringify({
        jsonrpc: "2.0",
        error: {
          code: -32000,
          message: presented
            ? "Unauthorized: the bearer token is wrong."
            : "Unauthorized: send the server's token as Authorization: Bearer <token>.",
        },
        id: null,
      }),
    );
}

/** Ids of the tools/call requests in a POST body (one message or a batch). */
function toolCallIds(body: unknown): RequestId[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages.flatMap((message) =>
    typeof message === "object" &&
    message !== null &&
    (message as { method?: unknown }).method === "tools/call" &&
    (typeof (message as { id?: unknown }).id === "string" ||
      typeof (message as { id?: unknown }).id === "number")
      ? [(message as { id: RequestId }).id]
      : [],
  );
}

type ReadJson = { ok: true; value: unknown } | { ok: false; status: number; message: string; code?: number };

/**
 * The request's body as JSON, read up to `maxBytes`, its bytes counted in `bodies` (the bytes all requests are
 * reading now) while it is read.
 */
async function readJson(
  request: IncomingMessage,
  maxBytes: number,
  bodies: { used: number; limit: number },
): Promise<ReadJson> {
  const tooLarge = {
    ok: false as const,
    status: 413,
    message: `Request body over ${maxBytes} bytes: give large inputs as paths.`,
  };
  const busy = {
    ok: false as const,
    status: 503,
    message: "Too many large requests at once: try again later.",
  };
  if (Number(request.headers["content-length"] ?? 0) > maxBytes) return tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of request) {
      const length = (chunk as Buffer).length;
      size += length;
      bodies.used += length;
      if (size > maxBytes) return tooLarge;
      if (bodies.used > bodies.limit) return busy;
      chunks.push(chunk as Buffer);
    }
  } finally {
    bodies.used -= size;
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
  } catch {
    return { ok: false, status: 400, message: "Parse error: the body is not JSON.", code: -32700 };
  }
}

/** A JSON-RPC error as the whole answer; after a body left unread (413, 503) the connection closes. */
function reply(response: ServerResponse, status: number, message: string, code = -32000): void {
  response
    .writeHead(status, {
      "content-type": "application/json",
      ...(status === 413 || status === 503 ? { connection: "close" } : {}),
    })
    .end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}
