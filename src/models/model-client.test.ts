import { afterEach, describe, expect, it } from "vitest";
import { ModelCallError } from "../errors/model-call-error.ts";
import { type ScriptedServer, type ServerReplies, startScriptedServer } from "../test/scripted-server.ts";
import { ModelClient, type ModelClientOptions } from "./model-client.ts";
import type { ModelCallEvent } from "./model-events.ts";
import type { ResponseCache } from "./response-cache.ts";

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientFor(replies: ServerReplies, options: Partial<ModelClientOptions> = {}) {
  server = await startScriptedServer({ replies });
  const events: ModelCallEvent[] = [];
  const client = new ModelClient({
    model: "openai-compatible:test-model",
    settings: { baseUrl: server.url, env: {} },
    retry: { initialDelayMs: 5, maxDelayMs: 20 },
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { client, events, server };
}

function catchError(promise: Promise<unknown>): Promise<ModelCallError> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(ModelCallError);
      return error as ModelCallError;
    },
  );
}

describe("ModelClient over the openai-compatible provider", () => {
  it("returns text, counts tokens, prices the call and emits start and end events", async () => {
    const { client, events, server } = await clientFor(
      [{ text: "hello there", usage: { promptTokens: 1000, completionTokens: 500, cachedTokens: 200 } }],
      { prices: { "openai-compatible:test-model": { input: 2, output: 10, cachedInput: 1 } } },
    );
    const response = await client.generate({ system: "be brief", prompt: "say hello" });
    expect(response.text).toBe("hello there");
    expect(response.usage).toMatchObject({ inputTokens: 1000, outputTokens: 500, cachedInputTokens: 200 });
    expect(response.usage.costUsd).toBeCloseTo((800 * 2 + 200 * 1 + 500 * 10) / 1e6, 12);
    expect(response.attempts).toBe(1);
    expect(events.map((event) => event.type)).toEqual(["call-start", "call-end"]);
    const end = events[1];
    expect(end).toMatchObject({
      type: "call-end",
      ok: true,
      model: "openai-compatible:test-model",
      cached: false,
    });
    const body = server.requests[0]?.body;
    expect(body?.model).toBe("test-model");
    expect(body?.messages).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "say hello" },
    ]);
  });

  it("reports an unknown price as null, never as zero", async () => {
    const { client } = await clientFor([{ text: "ok" }]);
    const response = await client.generate({ prompt: "hi" });
    expect(response.usage.costUsd).toBeNull();
    expect(response.usage.inputTokens).toBeGreaterThan(0);
  });

  it("streams text deltas and still reports usage", async () => {
    const { client, server } = await clientFor([
      {
        text: "a streamed answer of some length",
        chunkSize: 5,
        usage: { promptTokens: 7, completionTokens: 9 },
      },
    ]);
    const deltas: string[] = [];
    const response = await client.generate({
      prompt: "stream please",
      onTextDelta: (delta) => deltas.push(delta),
    });
    expect(server.requests[0]?.body?.stream).toBe(true);
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join("")).toBe("a streamed answer of some length");
    expect(response.text).toBe("a streamed answer of some length");
    expect(response.usage).toMatchObject({ inputTokens: 7, outputTokens: 9 });
  });

  it("honours retry-after on a 429 and then succeeds", async () => {
    const { client, events } = await clientFor([
      { status: 429, error: "slow down", headers: { "retry-after": "1" } },
      { text: "finally" },
    ]);
    const response = await client.generate({ prompt: "x" });
    expect(response.text).toBe("finally");
    expect(response.attempts).toBe(2);
    const retry = events.find((event) => event.type === "call-retry");
    expect(retry).toMatchObject({ attempt: 1, delayMs: 1000 });
    expect(response.latencyMs).toBeGreaterThanOrEqual(990);
  });

  it("honours retry-after-ms", async () => {
    const { client, events } = await clientFor([
      { status: 429, error: "slow down", headers: { "retry-after-ms": "30" } },
      { text: "ok" },
    ]);
    await client.generate({ prompt: "x" });
    expect(events.find((event) => event.type === "call-retry")).toMatchObject({ delayMs: 30 });
  });

  it("fails at once when retry-after asks for longer than allowed", async () => {
    const { client, server } = await clientFor([
      { status: 429, error: "quota", headers: { "retry-after": "3600" } },
      { text: "never" },
    ]);
    const error = await catchError(client.generate({ prompt: "x" }));
    expect(error.statusCode).toBe(429);
    expect(error.message).toMatch(/retry after 3600 s/);
    expect(server.requests).toHaveLength(1);
  });

  it("retries 500s with backoff and succeeds", async () => {
    const { client, events } = await clientFor([
      { status: 500, error: "boom" },
      { status: 503, error: "busy" },
      { text: "recovered" },
    ]);
    const response = await client.generate({ prompt: "x" });
    expect(response.text).toBe("recovered");
    expect(response.attempts).toBe(3);
    expect(events.filter((event) => event.type === "call-retry")).toHaveLength(2);
  });

  it("gives up after maxRetries with a typed error naming the model and status", async () => {
    const { client, events, server } = await clientFor(() => ({ status: 500, error: "always broken" }), {
      retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 },
    });
    const error = await catchError(client.generate({ prompt: "x" }));
    expect(error.kind).toBe("api");
    expect(error.statusCode).toBe(500);
    expect(error.attempts).toBe(3);
    expect(error.message).toContain("openai-compatible:test-model");
    expect(error.message).toContain("500");
    expect(server.requests).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ type: "call-end", ok: false, attempts: 3 });
  });

  it("does not retry a 400", async () => {
    const { client, server } = await clientFor([{ status: 400, error: "bad request" }, { text: "no" }]);
    const error = await catchError(client.generate({ prompt: "x" }));
    expect(error.statusCode).toBe(400);
    expect(error.isRetryable).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it("times out a slow reply and the server sees the request aborted", async () => {
    const { client, server } = await clientFor(() => ({ text: "late", delayMs: 5_000 }), {
      timeoutMs: 150,
      retry: { maxRetries: 0 },
    });
    const error = await catchError(client.generate({ prompt: "x" }));
    expect(error.kind).toBe("timeout");
    await expect.poll(() => server.requests[0]?.aborted).toBe(true);
  });

  it("retries a timed-out attempt when retries remain", async () => {
    const { client } = await clientFor([{ text: "late", delayMs: 5_000 }, { text: "quick" }], {
      timeoutMs: 150,
      retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 },
    });
    const response = await client.generate({ prompt: "x" });
    expect(response.text).toBe("quick");
    expect(response.attempts).toBe(2);
  });

  it("cancels an in-flight call through the AbortSignal, without retrying", async () => {
    const { client, server } = await clientFor(() => ({ text: "late", delayMs: 5_000 }));
    const controller = new AbortController();
    const pending = client.generate({ prompt: "x", signal: controller.signal });
    await expect.poll(() => server.requests.length).toBe(1);
    controller.abort();
    const error = await catchError(pending);
    expect(error.kind).toBe("cancelled");
    await expect.poll(() => server.requests[0]?.aborted).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  it("cancels during a retry wait", async () => {
    const { client } = await clientFor([{ status: 429, headers: { "retry-after": "30" } }, { text: "no" }]);
    const controller = new AbortController();
    const pending = client.generate({ prompt: "x", signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const error = await catchError(pending);
    expect(error.kind).toBe("cancelled");
  });

  it("sends the key as a bearer token but never puts it in an error message", async () => {
    const secret = "sk-test-0123456789abcdefSECRET";
    server = await startScriptedServer({
      replies: (request) => ({
        status: 401,
        error: `Incorrect API key: ${String(request.headers.authorization)}`,
      }),
    });
    const client = new ModelClient({
      model: "openai-compatible:test-model",
      settings: { baseUrl: server.url, env: { OPENAI_COMPATIBLE_API_KEY: secret } },
    });
    const error = await catchError(client.generate({ prompt: "x" }));
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${secret}`);
    expect(error.message).toContain("401");
    expect(error.message).toContain("[redacted]");
    expect(error.message).not.toContain(secret);
    expect(String(error.stack)).not.toContain(secret);
  });

  it("answers an identical request from the response cache", async () => {
    const store = new Map<string, never>();
    const cache: ResponseCache = {
      get: (key) => store.get(key),
      set: (key, value) => store.set(key, value as never),
    };
    const { client, server, events } = await clientFor([{ text: "first" }, { text: "second" }], { cache });
    const one = await client.generate({ prompt: "same" });
    const two = await client.generate({ prompt: "same" });
    const three = await client.generate({ prompt: "different" });
    expect([one.text, two.text, three.text]).toEqual(["first", "first", "second"]);
    expect(two.cached).toBe(true);
    expect(two.usage).toEqual(one.usage);
    expect(server.requests).toHaveLength(2);
    expect(events.filter((event) => event.type === "call-end" && event.cached)).toHaveLength(1);
  });
});
