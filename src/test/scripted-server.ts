import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** One scripted answer of the server to a chat completion request. */
export interface ServerReply {
  /** Assistant text (default ""). */
  text?: string;
  /** HTTP status (default 200). A status >= 400 sends an OpenAI-style error body. */
  status?: number;
  /** Error message for a status >= 400. */
  error?: string;
  /** Extra response headers, e.g. `{"retry-after": "1"}`. */
  headers?: Record<string, string>;
  /** Wait this long before answering (a client that disconnects meanwhile gets nothing). */
  delayMs?: number;
  /** Reported usage; by default about one token per four characters. Output never passes the request's cap. */
  usage?: { promptTokens?: number; completionTokens?: number; cachedTokens?: number };
  /** Characters per streamed chunk (default 8). */
  chunkSize?: number;
  /** Tool calls to answer with (not streamed): `arguments` is sent as JSON; the finish reason is "tool_calls". */
  toolCalls?: Array<{ name: string; arguments: unknown }>;
}

/** A request as the server received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  /** Parsed JSON body (undefined for GET). */
  body: ChatCompletionBody | undefined;
  /** True when the client went away before the answer was complete. */
  aborted: boolean;
}

export interface ChatCompletionBody {
  model?: string;
  stream?: boolean;
  messages?: Array<{ role: string; content: unknown }>;
  [field: string]: unknown;
}

export type ServerReplies =
  | ServerReply[]
  | ((request: RecordedRequest) => ServerReply | Promise<ServerReply>);

export interface ScriptedServerOptions {
  /** Replies in order (one per chat completion request), or a function of the request. */
  replies: ServerReplies;
  /** Model ids listed by `GET /v1/models` (default `["scripted"]`). */
  models?: string[];
  /** When given, the server also answers Ollama's `GET /api/tags` with these model names. */
  ollamaModels?: string[];
  /** Dimensions of the vectors `POST /v1/embeddings` returns (default 64); see `scriptedEmbedding`. */
  embeddingDimensions?: number;
}

/**
 * What the scripted server's `/v1/embeddings` returns for a text: a hashed bag of words (each lower-cased word
 * adds 1 to one of `dimensions` slots), normalised. Texts that share words are close; a test double, not a
 * semantic model.
 */
export function scriptedEmbedding(text: string, dimensions = 64): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    let hash = 2166136261;
    for (const char of match[0]) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 16777619) >>> 0;
    vector[hash % dimensions] = (vector[hash % dimensions] ?? 0) + 1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => value / norm);
}

/** A running scripted server. Stop it with `close()` (or `await using`). */
export interface ScriptedServer {
  /** Base URL of the OpenAI-compatible API, `http://127.0.0.1:PORT/v1`. */
  url: string;
  /** `http://127.0.0.1:PORT`, the base URL for the Ollama provider. */
  origin: string;
  port: number;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The output cap a request asks for (`max_tokens` or `max_completion_tokens`), if any. */
function outputCap(body: ChatCompletionBody | undefined): number | undefined {
  const cap = body?.max_tokens ?? body?.max_completion_tokens;
  return typeof cap === "number" && cap >= 0 ? cap : undefined;
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => (typeof part?.text === "string" ? (part.text as string) : "")).join("");
  }
  return "";
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(body));
}

/**
 * A scripted OpenAI-compatible Chat Completions server on 127.0.0.1 and a random port: streaming and not, usage in
 * both, scripted errors (429 with `retry-after`, 500), delays and client aborts. A test double for real HTTP tests.
 */
export async function startScriptedServer(options: ScriptedServerOptions): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  let completions = 0;

  const nextReply = async (recorded: RecordedRequest): Promise<ServerReply> => {
    const index = completions++;
    if (typeof options.replies === "function") return options.replies(recorded);
    return (
      options.replies[index] ?? {
        status: 500,
        error: `scripted server has no reply for request ${index + 1} (the script holds ${options.replies.length})`,
      }
    );
  };

  const answerCompletion = async (recorded: RecordedRequest, response: ServerResponse, gone: AbortSignal) => {
    const reply = await nextReply(recorded);
    if (reply.delayMs !== undefined)
      await sleep(reply.delayMs, undefined, { signal: gone }).catch(() => undefined);
    if (gone.aborted) return;
    const status = reply.status ?? 200;
    if (status >= 400) {
      sendJson(
        response,
        status,
        {
          error: { message: reply.error ?? `scripted error ${status}`, type: "scripted_error", code: status },
        },
        reply.headers,
      );
      return;
    }
    // Like a real server, the reply stops at the request's output cap (about four characters a token).
    const cap = outputCap(recorded.body);
    const full = reply.text ?? "";
    const capped = cap !== undefined && estimateTokens(full) > cap;
    const text = capped ? full.slice(0, (cap as number) * 4) : full;
    const toolCalls = (reply.toolCalls ?? []).map((call, index) => ({
      id: `call_${completions}_${index}`,
      type: "function",
      function: { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) },
    }));
    const finishReason = toolCalls.length > 0 ? "tool_calls" : capped ? "length" : "stop";
    const promptText = (recorded.body?.messages ?? [])
      .map((message) => contentText(message.content))
      .join("");
    const promptTokens = reply.usage?.promptTokens ?? estimateTokens(promptText);
    const completionTokens = Math.min(
      reply.usage?.completionTokens ?? estimateTokens(text),
      cap ?? Number.POSITIVE_INFINITY,
    );
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: reply.usage?.cachedTokens ?? 0 },
    };
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const model = recorded.body?.model ?? "scripted";
    if (recorded.body?.stream !== true) {
      sendJson(
        response,
        200,
        {
          id,
          object: "chat.completion",
          created,
          model,
          choices: [
            {
              index: 0,
              message: {
                role: "assistant",
                content: toolCalls.length > 0 && text === "" ? null : text,
                ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
              },
              finish_reason: finishReason,
            },
          ],
          usage,
        },
        reply.headers,
      );
      return;
    }
    response.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      ...reply.headers,
    });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      response.write(
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices, ...extra })}\n\n`,
      );
    chunk([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
    const size = reply.chunkSize ?? 8;
    for (let start = 0; start < text.length; start += size) {
      if (gone.aborted) return;
      chunk([{ index: 0, delta: { content: text.slice(start, start + size) }, finish_reason: null }]);
    }
    chunk([{ index: 0, delta: {}, finish_reason: finishReason }]);
    chunk([], { usage });
    response.end("data: [DONE]\n\n");
  };

  const server = createServer(async (request, response) => {
    const gone = new AbortController();
    const recorded: RecordedRequest = {
      method: request.method ?? "GET",
      path: (request.url ?? "/").split("?")[0] ?? "/",
      headers: request.headers,
      body: undefined,
      aborted: false,
    };
    response.on("close", () => {
      if (!response.writableFinished) {
        recorded.aborted = true;
        gone.abort();
      }
    });
    try {
      const raw = await readBody(request);
      if (raw !== "") recorded.body = JSON.parse(raw) as ChatCompletionBody;
      requests.push(recorded);
      if (recorded.method === "POST" && recorded.path.endsWith("/chat/completions")) {
        await answerCompletion(recorded, response, gone.signal);
      } else if (recorded.method === "POST" && recorded.path.endsWith("/embeddings")) {
        const input = recorded.body?.input;
        const texts = (Array.isArray(input) ? input : [input]).map((value) => String(value ?? ""));
        sendJson(response, 200, {
          object: "list",
          model: recorded.body?.model ?? "scripted-embedding",
          data: texts.map((text, index) => ({
            object: "embedding",
            index,
            embedding: scriptedEmbedding(text, options.embeddingDimensions),
          })),
          usage: {
            prompt_tokens: texts.reduce((sum, text) => sum + estimateTokens(text), 0),
            total_tokens: 0,
          },
        });
      } else if (recorded.method === "GET" && recorded.path.endsWith("/models")) {
        sendJson(response, 200, {
          object: "list",
          data: (options.models ?? ["scripted"]).map((id) => ({ id, object: "model", owned_by: "scripted" })),
        });
      } else if (recorded.method === "GET" && recorded.path === "/api/tags" && options.ollamaModels) {
        sendJson(response, 200, { models: options.ollamaModels.map((name) => ({ name, model: name })) });
      } else {
        sendJson(response, 404, { error: { message: `no route for ${recorded.method} ${recorded.path}` } });
      }
    } catch (error) {
      if (!response.headersSent) sendJson(response, 500, { error: { message: String(error) } });
      else response.destroy();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url: `${origin}/v1`, origin, port, requests, close, [Symbol.asyncDispose]: close };
}
