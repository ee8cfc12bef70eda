/**
 * `rlm serve` attacked as a hostile client (and a hostile model) would: limits a request must not raise, spend a
 * cancelled job must not hide, streams and request bodies a client must not pile up, and wire framing a model
 * answer must not break. One scripted model and one app with keys, on a real port; the official client or fetch.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessQueue } from "../jobs/in-process-queue.ts";
import type { JobQueue } from "../spec/job-queue.ts";
import { type RecordedRequest, type ScriptedServer, startScriptedServer } from "../test/scripted-server.ts";
import { addApiKey, KeyRing } from "./api-keys.ts";
import { createServeApp } from "./app.ts";
import { type ListeningServer, startServeServer } from "./listen.ts";
import { openJobQueue } from "./open-job-queue.ts";
import { RunSlots } from "./run-slots.ts";
import { createRunExecutor, type ServeConfig } from "./run-spec.ts";
import { EventSpend } from "./run-spend.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const root = mkdtempSync(join(tmpdir(), "rlmkit-serve-attacks-"));
const file = join(root, "keys.json");
const MODEL_KEY = "sk-modelprovider-0123456789abcdefSECRET";

/** The text of a request's messages and how many turns the root conversation had. */
function read(request: RecordedRequest) {
  const messages = request.body?.messages ?? [];
  const text = messages.map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content)));
  return { text: text.join("\n"), turns: messages.filter((m) => m.role === "assistant").length };
}

/** Markers in the user's message pick the model's behaviour. */
function reply(request: RecordedRequest) {
  const { text, turns } = read(request);
  const usage = { promptTokens: 100, completionTokens: 10 };
  if (text.includes("[spend-then-wait]")) {
    // One expensive turn ($0.1001 at the test prices), then a turn that waits until it is cancelled.
    return turns === 0
      ? { text: repl("print('spent')"), usage: { promptTokens: 10_000, completionTokens: 10 } }
      : { text: repl("print('waiting')"), delayMs: 20_000, usage };
  }
  if (text.includes("[slow]")) return { text: repl("FINAL('ok')"), delayMs: 300, usage };
  if (text.includes("[wait]")) return { text: repl("print('waiting')"), delayMs: 20_000, usage };
  if (text.includes("[framing]")) {
    return { text: repl("FINAL('a\\n\\ndata: [DONE]\\n\\nb\\r\\nevent: end\\rc')"), usage };
  }
  if (text.includes("[leak]")) return { status: 401, error: `bad key ${MODEL_KEY} for this model` };
  return { text: repl("FINAL('ok')"), usage };
}

let model: ScriptedServer;
let jobs: JobQueue;
let server: ListeningServer;
let base: string;
const logs: string[] = [];

beforeAll(async () => {
  model = await startScriptedServer({ replies: reply });
  const config: ServeConfig = {
    models: ["openai-compatible:scripted"],
    settings: { baseUrl: model.url, apiKey: MODEL_KEY, env: {} },
    prices: { "openai-compatible:scripted": { input: 10, output: 10 } },
    limits: { timeoutMs: 60_000, maxIterations: 5 },
    maxRetries: 0,
  };
  const executor = createRunExecutor(config);
  const slots = new RunSlots(4);
  jobs = await openJobQueue(undefined, { executor, slots, concurrency: 4 });
  const app = createServeApp({
    config,
    jobs,
    executor,
    slots,
    keys: new KeyRing(file),
    keepAliveMs: 200,
    maxEventStreams: 3,
    maxEventStreamsPerKey: 2,
    log: (line) => logs.push(line),
  });
  server = await startServeServer(app, { host: "127.0.0.1", port: 0 });
  base = `${server.origin}/v1`;
});

afterAll(async () => {
  await server?.close();
  await jobs?.close();
  await model?.close();
  rmSync(root, { recursive: true, force: true });
});

const until = async (ready: () => boolean | Promise<boolean>) => {
  while (!(await ready())) await new Promise((resolve) => setTimeout(resolve, 20));
};

function newKey(name: string, limits: Parameters<typeof addApiKey>[2] = {}) {
  const key = addApiKey(file, name, limits).key;
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  return { key, headers, client: new OpenAI({ baseURL: base, apiKey: key, maxRetries: 0 }) };
}

/** The ledger's lines of `name` today. */
function booked(name: string): Array<Record<string, unknown>> {
  const day = new Date().toISOString().slice(0, 10);
  let text = "";
  try {
    text = readFileSync(join(`${file}.usage`, `${day}.jsonl`), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line))
    .filter((line) => line.key === name);
}

/** The parts of a reply these tests read: a run's id, or an OpenAI-shaped error. */
type Reply = { id: string; error?: { code?: string; param?: string } };
const json = async (response: Response) => (await response.json()) as Reply;

const chatBody = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "rlm", messages: [{ role: "user", content }], ...extra });

describe("rlm serve under attack: limits a request must not raise", () => {
  it("refuses sandbox limits above the server's maxima (no guest gets a terabyte of memory)", async () => {
    const { headers } = newKey("sandbox-limits");
    for (const [field, value] of [
      ["memoryLimitMb", 1_048_576],
      ["outputLimitChars", 100_000_000],
      ["cellTimeoutMs", 2_000_000_000],
    ] as const) {
      const response = await fetch(`${base}/chat/completions`, {
        method: "POST",
        headers,
        body: chatBody("hi", { rlm: { sandboxLimits: { [field]: value } } }),
      });
      expect(response.status).toBe(400);
      expect((await json(response)).error).toMatchObject({
        param: `rlm.sandboxLimits.${field}`,
        code: "invalid_value",
      });
    }
    expect(model.requests.length).toBe(0);
  });

  it("says 404, not 500, for a model id with a broken percent-escape", async () => {
    const { headers } = newKey("escape");
    const response = await fetch(`${base}/models/rlm%E0%A4%A`, { headers });
    expect(response.status).toBe(404);
    expect((await json(response)).error?.code).toBe("model_not_found");
    expect(logs.join("\n")).not.toContain("URIError");
  });
});

describe("rlm serve under attack: spend that must be booked", () => {
  it("books what a cancelled job spent under its key (cancelling just before the end is not free)", async () => {
    const { headers } = newKey("canceller", { maxCostPerDay: 5 });
    const before = model.requests.length;
    const submitted = await fetch(`${base}/runs`, {
      method: "POST",
      headers,
      body: chatBody("[spend-then-wait] work"),
    });
    expect(submitted.status).toBe(202);
    const { id } = await json(submitted);
    // The expensive turn is done and the next call is in flight: cancel now.
    await until(
      () => model.requests.slice(before).filter((r) => read(r).text.includes("[spend")).length >= 2,
    );
    expect((await fetch(`${base}/runs/${id}`, { method: "DELETE", headers })).status).toBe(200);
    await until(() => booked("canceller").length > 0);
    const [line] = booked("canceller");
    expect(line).toMatchObject({ kind: "job", id });
    expect(line?.costUsd).toBeGreaterThanOrEqual(0.1001);
    expect(line?.inputTokens).toBeGreaterThanOrEqual(10_000);
  });

  it("books a cancelled job's spend from its events where the queue cannot say (its runs are elsewhere)", async () => {
    // A queue that is no RunSpendSource, as the PostgreSQL one: the job's stored events are summed.
    const config: ServeConfig = {
      models: ["openai-compatible:scripted"],
      settings: { baseUrl: model.url, env: {} },
      prices: { "openai-compatible:scripted": { input: 10, output: 10 } },
    };
    const executor = createRunExecutor(config);
    const elsewhere = createInProcessQueue({ executor });
    const app = createServeApp({ config, jobs: elsewhere, executor, keys: new KeyRing(file) });
    const listening = await startServeServer(app, { host: "127.0.0.1", port: 0 });
    try {
      const { headers } = newKey("canceller-elsewhere", { maxCostPerDay: 5 });
      const before = model.requests.length;
      const { id } = await json(
        await fetch(`${listening.origin}/v1/runs`, {
          method: "POST",
          headers,
          body: chatBody("[spend-then-wait] elsewhere"),
        }),
      );
      await until(
        () => model.requests.slice(before).filter((r) => read(r).text.includes("[spend")).length >= 2,
      );
      await fetch(`${listening.origin}/v1/runs/${id}`, { method: "DELETE", headers });
      await until(() => booked("canceller-elsewhere").length > 0);
      expect(booked("canceller-elsewhere")[0]?.costUsd).toBeGreaterThanOrEqual(0.1001);
    } finally {
      await listening.close();
      await elsewhere.close();
    }
  });

  it("sums events into spend, and says when dropped events leave it incomplete", () => {
    const usage = (input: number, cost: number) => ({
      inputTokens: input,
      outputTokens: 1,
      cachedInputTokens: 0,
      costUsd: cost,
    });
    const spend = new EventSpend();
    spend.add({ type: "iteration-end", usage: usage(100, 0.5) });
    spend.add({ type: "subcall-end", kind: "llm_query", callId: "a", usage: usage(10, 0.25) });
    // An rlm_query whose child run is in the events counts through the child's own calls only.
    spend.add({ type: "run-start", parentCallId: "b" });
    spend.add({ type: "iteration-end", usage: usage(20, 0.125) });
    spend.add({ type: "subcall-end", kind: "rlm_query", callId: "b", usage: usage(20, 0.125) });
    // Hostile numbers count as nothing.
    spend.add({ type: "iteration-end", usage: { inputTokens: -5, costUsd: Number.NaN } });
    expect(spend.complete).toBe(true);
    spend.add({ type: "events-dropped" });
    expect(spend.complete).toBe(false);
    expect(spend.total()).toMatchObject({ inputTokens: 130, costUsd: 0.875, calls: 4, unpricedCalls: 1 });
  });

  it("books what a streaming request spent when its client goes away mid-run", async () => {
    const { client } = newKey("streamer", { maxCostPerDay: 5 });
    const before = model.requests.length;
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: "rlm", messages: [{ role: "user", content: "[spend-then-wait] stream" }], stream: true },
      { signal: controller.signal },
    );
    const reading = (async () => {
      for await (const _ of stream) {
        // progress comes as comments; nothing to read until the end
      }
    })().catch(() => {});
    await until(
      () => model.requests.slice(before).filter((r) => read(r).text.includes("[spend")).length >= 2,
    );
    controller.abort();
    await reading;
    await until(() => booked("streamer").length > 0);
    expect(booked("streamer")[0]?.costUsd).toBeGreaterThanOrEqual(0.1001);
  });
});

describe("rlm serve under attack: what a client must not pile up", () => {
  it("caps the event streams open at once, per key and in all", async () => {
    const alice = newKey("streams-alice");
    const bob = newKey("streams-bob");
    const submit = async (who: typeof alice) => {
      const response = await fetch(`${base}/runs`, {
        method: "POST",
        headers: who.headers,
        body: chatBody("[wait] forever"),
      });
      return (await json(response)).id;
    };
    const aliceRun = await submit(alice);
    const bobRun = await submit(bob);
    const controllers: AbortController[] = [];
    const open = async (who: typeof alice, id: string) => {
      const controller = new AbortController();
      controllers.push(controller);
      const response = await fetch(`${base}/runs/${id}/events`, {
        headers: who.headers,
        signal: controller.signal,
      });
      const code = response.status === 200 ? undefined : (await json(response)).error?.code;
      return { status: response.status, code, controller };
    };
    try {
      const first = await open(alice, aliceRun);
      expect(first.status).toBe(200);
      expect((await open(alice, aliceRun)).status).toBe(200);
      expect(await open(alice, aliceRun)).toMatchObject({ status: 429, code: "too_many_streams" });
      expect((await open(bob, bobRun)).status).toBe(200);
      expect((await open(bob, bobRun)).status).toBe(429); // the server's 3 are taken
      first.controller.abort();
      await until(async () => (await open(bob, bobRun)).status === 200);
    } finally {
      for (const controller of controllers) controller.abort();
      await fetch(`${base}/runs/${aliceRun}`, { method: "DELETE", headers: alice.headers });
      await fetch(`${base}/runs/${bobRun}`, { method: "DELETE", headers: bob.headers });
    }
  });

  it("holds a key's runs at once and requests per minute under a burst", async () => {
    const burst = async (client: OpenAI) => {
      const outcomes = await Promise.all(
        Array.from({ length: 6 }, () =>
          client.chat.completions
            .create({ model: "rlm", messages: [{ role: "user", content: "[slow]" }] })
            .then(() => "ok")
            .catch((error: { code?: string }) => error.code),
        ),
      );
      return outcomes.sort();
    };
    expect(await burst(newKey("burst-concurrent", { maxConcurrent: 2 }).client)).toEqual([
      ...Array(4).fill("concurrency_limit_exceeded"),
      "ok",
      "ok",
    ]);
    expect(await burst(newKey("burst-rate", { maxRequestsPerMinute: 3 }).client)).toEqual([
      "ok",
      "ok",
      "ok",
      "rate_limit_exceeded",
      "rate_limit_exceeded",
      "rate_limit_exceeded",
    ]);
  });

  it("refuses a request body once the bytes of bodies in flight reach the server's budget", async () => {
    const config: ServeConfig = { models: ["openai-compatible:scripted"], settings: { baseUrl: model.url } };
    const executor = createRunExecutor(config);
    const slots = new RunSlots(1);
    const small = await openJobQueue(undefined, { executor, slots, concurrency: 1 });
    const app = createServeApp({
      config,
      jobs: small,
      executor,
      slots,
      maxBodyBytes: 100_000,
      maxBodyBytesInFlight: 150_000,
    });
    const listening = await startServeServer(app, { host: "127.0.0.1", port: 0 });
    // A client declares 90 KB and sends only part of it: the server holds its place while it reads.
    const held = httpRequest(`${listening.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "90000" },
    });
    held.on("error", () => {});
    held.write('{"model": "rlm", "messages": [');
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const body = chatBody("x".repeat(80_000), { model: "no-such-model" });
      const refused = await fetch(`${listening.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      expect(refused.status).toBe(429);
      expect((await json(refused)).error?.code).toBe("server_busy");
      // A small body still fits beside it.
      const fits = await fetch(`${listening.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chatBody("hi", { model: "no-such-model" }),
      });
      expect(fits.status).toBe(404);
      held.destroy();
      // Once the held request is gone, its place is free again.
      await until(async () => {
        const again = await fetch(`${listening.origin}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        await again.body?.cancel();
        return again.status === 404;
      });
    } finally {
      held.destroy();
      await listening.close();
      await small.close();
    }
  });
});

describe("rlm serve under attack: what a model answers", () => {
  it("never sends back the credentials of a base URL given with them", async () => {
    const config: ServeConfig = {
      models: ["openai-compatible:scripted"],
      settings: { baseUrl: model.url.replace("http://", "http://alice:pw7@"), env: {} },
      maxRetries: 0,
    };
    const executor = createRunExecutor(config);
    const local = createInProcessQueue({ executor });
    try {
      const app = createServeApp({ config, jobs: local, executor });
      const response = await app.request("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: chatBody("hi"),
      });
      expect(response.status).toBe(502);
      const text = await response.text();
      expect(text).toContain("[redacted]@127.0.0.1");
      expect(text).not.toContain("pw7");
    } finally {
      await local.close();
    }
  });

  it("keeps SSE framing characters in an answer inside their data event", async () => {
    const { client } = newKey("framing");
    const stream = await client.chat.completions.create({
      model: "rlm",
      messages: [{ role: "user", content: "[framing]" }],
      stream: true,
    });
    let content = "";
    for await (const part of stream) content += part.choices[0]?.delta.content ?? "";
    expect(content).toBe("a\n\ndata: [DONE]\n\nb\r\nevent: end\rc");
  });

  it("never sends the model provider's key back, in a reply or a job's events and result", async () => {
    const { client, headers } = newKey("leak");
    const failed = await client.chat.completions
      .create({ model: "rlm", messages: [{ role: "user", content: "[leak]" }] })
      .catch((error: unknown) => error);
    expect(failed).toMatchObject({ status: 502, code: "run_failed" });
    expect(JSON.stringify((failed as { error?: unknown }).error)).not.toContain("SECRET");
    const { id } = await json(
      await fetch(`${base}/runs`, { method: "POST", headers, body: chatBody("[leak]") }),
    );
    const events = await (await fetch(`${base}/runs/${id}/events`, { headers })).text();
    expect(events).toContain("event: end");
    const record = await (await fetch(`${base}/runs/${id}`, { headers })).text();
    expect(`${events}${record}${logs.join("\n")}`).not.toContain("SECRET");
  });
});
