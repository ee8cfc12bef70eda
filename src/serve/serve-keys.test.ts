/**
 * API keys of `rlm serve`: `rlm keys add` through the CLI, the real `rlm serve` process with and without a key,
 * the refusal to listen beyond loopback without keys, and each key's limits (rate, concurrency, daily cost)
 * with its usage recorded, against the scripted model.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runRlmHere, startRlm, until } from "../../test/rlm-process.ts";
import { createInProcessQueue } from "../jobs/in-process-queue.ts";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import type { JobQueue } from "../spec/job-queue.ts";
import { type ScriptedServer, startScriptedServer } from "../test/scripted-server.ts";
import { addApiKey, KeyRing } from "./api-keys.ts";
import { createServeApp } from "./app.ts";
import { type ListeningServer, startServeServer } from "./listen.ts";
import { createRunExecutor, type ServeConfig } from "./run-spec.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const root = mkdtempSync(join(tmpdir(), "rlmkit-serve-keys-"));
const messages = [{ role: "user" as const, content: "hi" }];

let model: ScriptedServer;
beforeAll(async () => {
  // Every call: 100 input and 10 output tokens (10,000 input for "expensive"); "slow" ones wait 400 ms.
  model = await startScriptedServer({
    replies: (request) => {
      const body = JSON.stringify(request.body);
      return {
        text: repl("FINAL('ok')"),
        usage: { promptTokens: body.includes("expensive") ? 10_000 : 100, completionTokens: 10 },
        ...(body.includes("slow") ? { delayMs: 400 } : {}),
      };
    },
  });
});
afterAll(async () => {
  await model?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("rlm keys and rlm serve", () => {
  it("adds a key through the CLI (stored hashed), and the rlm serve process wants it", async () => {
    const file = join(root, "cli-keys.json");
    const added = await runRlmHere(["keys", "add", "alice", "--keys", file, "--max-concurrent", "2"], root);
    expect(added.code).toBe(0);
    const key = added.stdout.trim();
    expect(key).toMatch(/^sk-rlm-[\w-]{43}$/);
    const stored = readFileSync(file, "utf8");
    expect(stored).not.toContain(key);
    expect(JSON.parse(stored).keys[0]).toMatchObject({ name: "alice", maxConcurrent: 2 });
    expect((await runRlmHere(["keys", "add", "alice", "--keys", file], root)).code).toBe(2);

    const serve = startRlm([
      "serve",
      "--port",
      "0",
      "--model",
      "openai-compatible:scripted",
      "--base-url",
      model.url,
      "--keys",
      file,
      "--memory",
      join(root, "serve-memory.db"),
    ]);
    try {
      await until(() => serve.stdout().includes("/v1") || serve.child.exitCode !== null);
      const baseURL = serve.stdout().trim();
      const without = await new OpenAI({ baseURL, apiKey: "sk-rlm-wrong", maxRetries: 0 }).chat.completions
        .create({ model: "rlm", messages })
        .catch((error: unknown) => error);
      expect(without).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(without).toMatchObject({ status: 401, code: "invalid_api_key" });
      const answer = await new OpenAI({ baseURL, apiKey: key, maxRetries: 0 }).chat.completions.create({
        model: "rlm",
        messages,
      });
      expect(answer.choices[0]?.message.content).toBe("ok");
      // With --memory, the run is remembered in the scope of the key that asked.
      const store = await openMemoryStore(join(root, "serve-memory.db"));
      try {
        expect(await store.list({ scope: "key:alice", kind: "episode" })).toHaveLength(1);
      } finally {
        await store.close();
      }
      const listed = await runRlmHere(["keys", "list", "--keys", file, "--json"], root);
      expect(JSON.parse(listed.stdout).keys[0]).toMatchObject({ name: "alice", today: { requests: 1 } });
    } finally {
      serve.child.kill("SIGTERM");
      expect(await serve.exited).toBe(0);
    }
  });

  it("refuses to listen beyond loopback without keys", async () => {
    const refused = await runRlmHere(["serve", "--host", "0.0.0.0", "--model", "openai-compatible:x"], root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--host 0\.0\.0\.0 lets other machines in: give --keys FILE/);
  });
});

describe("the limits of a key", () => {
  const file = join(root, "keys.json");
  let jobs: JobQueue;
  let server: ListeningServer;
  let baseURL: string;

  beforeAll(async () => {
    const config: ServeConfig = {
      models: ["openai-compatible:scripted"],
      settings: { baseUrl: model.url, env: {} },
      // $10 per 1M tokens: an "expensive" call (10,000 + 10 tokens) costs $0.1001.
      prices: { "openai-compatible:scripted": { input: 10, output: 10 } },
    };
    const executor = createRunExecutor(config);
    jobs = createInProcessQueue({ executor, concurrency: 2 });
    const app = createServeApp({ config, jobs, executor, keys: new KeyRing(file) });
    server = await startServeServer(app, { host: "127.0.0.1", port: 0 });
    baseURL = `${server.origin}/v1`;
  });
  afterAll(async () => {
    await server?.close();
    await jobs?.close();
  });

  const clientOf = (name: string, limits: Parameters<typeof addApiKey>[2]) =>
    new OpenAI({ baseURL, apiKey: addApiKey(file, name, limits).key, maxRetries: 0 });
  const ask = (client: OpenAI, content = "hi") =>
    client.chat.completions
      .create({ model: "rlm", messages: [{ role: "user", content }] })
      .catch((error: unknown) => error);

  it("limits requests per minute", async () => {
    const client = clientOf("rate", { maxRequestsPerMinute: 2 });
    await ask(client);
    await ask(client);
    const third = await ask(client);
    expect(third).toBeInstanceOf(OpenAI.RateLimitError);
    expect(third).toMatchObject({ status: 429, code: "rate_limit_exceeded" });
    expect(
      Number((third as InstanceType<typeof OpenAI.RateLimitError>).headers.get("retry-after")),
    ).toBeGreaterThan(0);
  });

  it("limits runs at once", async () => {
    const client = clientOf("one-at-a-time", { maxConcurrent: 1 });
    const first = ask(client, "slow");
    await until(() => model.requests.some((request) => JSON.stringify(request.body).includes("slow")));
    expect(await ask(client)).toMatchObject({ status: 429, code: "concurrency_limit_exceeded" });
    expect(await first).toMatchObject({ choices: [{ message: { content: "ok" } }] });
    expect(await ask(client)).toMatchObject({ choices: [{ message: { content: "ok" } }] });
  });

  it("limits the cost per day, and records each run's usage under the key", async () => {
    const client = clientOf("budget", { maxCostPerDay: 0.05 });
    expect(await ask(client, "expensive")).toMatchObject({ usage: { prompt_tokens: 10_000 } });
    const over = await ask(client);
    expect(over).toMatchObject({ status: 429, code: "insufficient_quota" });
    const day = new Date().toISOString().slice(0, 10);
    const lines = readFileSync(join(`${file}.usage`, `${day}.jsonl`), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const spent = lines.filter((line) => line.key === "budget");
    expect(spent).toHaveLength(1);
    expect(spent[0]).toMatchObject({
      kind: "chat",
      status: "completed",
      inputTokens: 10_000,
      outputTokens: 10,
    });
    expect(spent[0].costUsd).toBeCloseTo(0.1001);
  });

  it("keeps a key's runs its own", async () => {
    const owner = clientOf("owner", {});
    const other = clientOf("other", {});
    const headers = (client: OpenAI) => ({
      authorization: `Bearer ${client.apiKey}`,
      "content-type": "application/json",
    });
    const submitted = await fetch(`${baseURL}/runs`, {
      method: "POST",
      headers: headers(owner),
      body: JSON.stringify({ model: "rlm", messages }),
    });
    const { id } = (await submitted.json()) as { id: string };
    expect((await fetch(`${baseURL}/runs/${id}`, { headers: headers(other) })).status).toBe(404);
    expect((await fetch(`${baseURL}/runs/${id}`, { headers: headers(owner) })).status).toBe(200);
    // When the job ends, its usage is booked under its key.
    const ledger = join(`${file}.usage`, `${new Date().toISOString().slice(0, 10)}.jsonl`);
    const booked = () =>
      readFileSync(ledger, "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line))
        .find((line) => line.key === "owner");
    await until(() => booked() !== undefined);
    expect(booked()).toMatchObject({ kind: "job", id, status: "completed", inputTokens: 100 });
  });
});
