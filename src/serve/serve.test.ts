/**
 * `rlm serve`'s app on a real port, talked to by the official `openai` client (and by fetch where the wire
 * itself is checked), with the scripted OpenAI-compatible server as the model. One scripted server, one app.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInProcessQueue } from "../jobs/in-process-queue.ts";
import type { JobQueue } from "../spec/job-queue.ts";
import { type RecordedRequest, type ScriptedServer, startScriptedServer } from "../test/scripted-server.ts";
import { createServeApp } from "./app.ts";
import type { ListeningServer } from "./listen.ts";
import { startServeServer } from "./listen.ts";
import { RunSlots } from "./run-slots.ts";
import { createRunExecutor, type ServeConfig } from "./run-spec.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

/** The text of a request's messages, and whether it is a root call (the RLM's system prompt) or a sub-call. */
function read(request: RecordedRequest) {
  const messages = request.body?.messages ?? [];
  const text = (content: unknown) => (typeof content === "string" ? content : JSON.stringify(content));
  const root = messages.some((message) => message.role === "system");
  const firstUser = text(messages.find((message) => message.role === "user")?.content ?? "");
  const question = /Question: (.*)/.exec(firstUser)?.[1] ?? "";
  return {
    root,
    question,
    turns: messages.filter((message) => message.role === "assistant").length,
    text: messages.map((m) => text(m.content)).join("\n"),
  };
}

/** The model: answers from the context with code, so an answer proves which conversation the run had. */
function reply(request: RecordedRequest) {
  const { root, question, turns, text } = read(request);
  const usage = { promptTokens: 100, completionTokens: 10 };
  if (!root) return { text: text.includes("sub question") ? "sub answer" : "?", usage };
  if (question.startsWith("slow")) return { text: repl("print('working')"), delayMs: 1_500, usage };
  if (question.startsWith("two steps")) {
    return turns === 0
      ? { text: repl("const part = await llm_query('sub question')\nprint(part)"), usage }
      : { text: repl("FINAL('done after ' + part)"), usage };
  }
  return {
    text: repl(
      "const mine = context.filter((d) => d.id.endsWith('-user')).at(-1)\nFINAL('echo: ' + mine.text + ' / ' + context.length + ' documents')",
    ),
    usage,
  };
}

let model: ScriptedServer;
let jobs: JobQueue;
let server: ListeningServer;
let client: OpenAI;
let base: string;
const slots = new RunSlots(4);

beforeAll(async () => {
  model = await startScriptedServer({ replies: reply });
  const config: ServeConfig = {
    models: ["openai-compatible:scripted"],
    settings: { baseUrl: model.url, env: {} },
    limits: { timeoutMs: 60_000, maxIterations: 5 },
  };
  const executor = createRunExecutor(config);
  jobs = createInProcessQueue({
    executor: (spec, context) => slots.run(context.signal, () => executor(spec, context)),
    concurrency: 4,
  });
  const app = createServeApp({ config, jobs, executor, slots, keepAliveMs: 200, maxBodyBytes: 256 * 1024 });
  server = await startServeServer(app, { host: "127.0.0.1", port: 0 });
  base = `${server.origin}/v1`;
  client = new OpenAI({ baseURL: base, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
  await jobs?.close();
  await model?.close();
});

const until = async (ready: () => boolean | Promise<boolean>) => {
  while (!(await ready())) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe("rlm serve: the OpenAI API", () => {
  it("lists rlm and rlm:<spec> as models", async () => {
    const models = await client.models.list();
    expect(models.data.map((entry) => entry.id)).toEqual(["rlm", "rlm:openai-compatible:scripted"]);
    expect((await client.models.retrieve("rlm")).id).toBe("rlm");
  });

  it("answers a chat completion from the conversation as context, with the usage of the whole recursion", async () => {
    const completion = await client.chat.completions.create({
      model: "rlm",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hello there" },
      ],
    });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]?.message.content).toBe("echo: hello there / 2 documents");
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.model).toBe("rlm");
    expect(completion.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 });

    const deeper = await client.chat.completions.create({
      model: "rlm:openai-compatible:scripted",
      messages: [{ role: "user", content: "two steps" }],
    });
    expect(deeper.choices[0]?.message.content).toBe("done after sub answer");
    // Two root calls and one sub-call, 100 + 10 tokens each.
    expect(deeper.usage).toMatchObject({ prompt_tokens: 300, completion_tokens: 30, total_tokens: 330 });
    expect((deeper as unknown as { rlm: { subcalls: number } }).rlm.subcalls).toBe(1);
  });

  it("keeps a long paste out of the root prompt", async () => {
    const paste = `${"lorem ipsum ".repeat(1_000)}THE END`;
    const before = model.requests.length;
    const completion = await client.chat.completions.create({
      model: "rlm",
      messages: [{ role: "user", content: paste }],
    });
    expect(completion.choices[0]?.message.content).toContain("THE END");
    const sent = model.requests.slice(before).map((request) => JSON.stringify(request.body));
    expect(sent.some((body) => body.includes("THE END"))).toBe(false);
  });

  it("streams chat.completion.chunk events with include_usage, as the OpenAI API does", async () => {
    const stream = await client.chat.completions.create({
      model: "rlm",
      messages: [{ role: "user", content: "stream me" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk")).toBe(true);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("echo: stream me / 1 documents");
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 });
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);

    // On the wire: data lines, comments (keep-alive, progress) that clients skip, and the closing [DONE].
    const response = await fetch(`${base}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "rlm", stream: true, messages: [{ role: "user", content: "wire" }] }),
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const wire = await response.text();
    expect(wire).toMatch(/^: rlm-progress \{"event":"iteration-end"/m);
    expect(wire.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(wire).not.toContain('"usage"');
  });

  it("refuses mistakes in the OpenAI error shape, naming the field", async () => {
    const refused = async (body: Record<string, unknown>) =>
      client.chat.completions.create(body as never).then(
        () => undefined,
        (error: unknown) => error,
      );
    const messages = [{ role: "user", content: "x" }];
    const unknownOption = await refused({ model: "rlm", messages, rlm: { turbo: true } });
    expect(unknownOption).toBeInstanceOf(OpenAI.BadRequestError);
    expect(unknownOption).toMatchObject({ status: 400, param: "rlm.turbo", type: "invalid_request_error" });
    const badLimit = await refused({ model: "rlm", messages, rlm: { limits: { maxTokens: -1 } } });
    expect(badLimit).toMatchObject({ status: 400, param: "rlm.limits.maxTokens" });
    const tooLong = await refused({ model: "rlm", messages, rlm: { limits: { timeoutMs: 86_400_000 } } });
    expect(tooLong).toMatchObject({ status: 400, param: "rlm.limits.timeoutMs" });
    const image = await refused({
      model: "rlm",
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }],
    });
    expect(image).toMatchObject({ status: 400, param: "messages[0].content[0].type" });
    const unknownModel = await refused({ model: "gpt-nothing", messages });
    expect(unknownModel).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknownModel).toMatchObject({ status: 404, param: "model", code: "model_not_found" });
    const notJson = await fetch(`${base}/chat/completions`, { method: "POST", body: "{" });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: { code: "invalid_json", param: null } });
    const huge = await refused({
      model: "rlm",
      messages: [{ role: "user", content: "x".repeat(300 * 1024) }],
    });
    expect(huge).toMatchObject({ status: 413, code: "request_too_large" });
  });

  it("cancels the run when a streaming client disconnects: no model call after", async () => {
    const stream = await client.chat.completions.create({
      model: "rlm",
      messages: [{ role: "user", content: "slow one" }],
      stream: true,
    });
    const slow = () => model.requests.filter((request) => read(request).question.startsWith("slow"));
    const first = await stream[Symbol.asyncIterator]().next(); // the role chunk: the run is under way
    expect(first.value?.choices[0]?.delta.role).toBe("assistant");
    await until(() => slow().length === 1);
    expect(slots.inFlight).toBe(1);
    stream.controller.abort();
    await until(() => slots.inFlight === 0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(slow()).toHaveLength(1);
    expect(slow()[0]?.aborted).toBe(true);
  });

  it("answers 10 concurrent completions, none mixed up", async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        client.chat.completions.create({
          model: "rlm",
          messages: [{ role: "user", content: `request ${index}` }],
        }),
      ),
    );
    expect(answers.map((answer) => answer.choices[0]?.message.content)).toEqual(
      Array.from({ length: 10 }, (_, index) => `echo: request ${index} / 1 documents`),
    );
  });
});

describe("rlm serve: the jobs API (in-process)", () => {
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("submits a run with context files, reads its result and its events", async () => {
    const submitted = await call("POST", "/runs", {
      model: "rlm",
      messages: [{ role: "user", content: "from a job" }],
      context: [{ name: "notes.txt", text: "some notes" }],
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ status: "queued" });
    const id = submitted.body.id as string;
    await until(async () => (await call("GET", `/runs/${id}`)).body.status === "completed");
    const run = await call("GET", `/runs/${id}`);
    expect(run.body.result).toMatchObject({ answer: "echo: from a job / 2 documents", status: "completed" });
    expect((run.body.result as { usage: unknown }).usage).toMatchObject({ total: { inputTokens: 100 } });

    const events = await (await fetch(`${base}/runs/${id}/events`)).text();
    const data = events
      .split("\n\n")
      .filter((block) => block.startsWith("id: ") || block.startsWith("data: "))
      .map((block) => JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null"));
    expect(data.map((event) => event.type)).toEqual(
      expect.arrayContaining(["run-start", "iteration-start", "iteration-end", "run-end"]),
    );
    expect(events).toMatch(/event: end\ndata: \{"id":"[^"]+","status":"completed"\}/);
    const later = await (
      await fetch(`${base}/runs/${id}/events`, { headers: { "last-event-id": "2" } })
    ).text();
    expect(later).not.toMatch(/^id: [12]$/m);
    expect(later).toMatch(/^id: 3$/m);
  });

  it("cancels a run with DELETE, and says 404 for a run that does not exist", async () => {
    const submitted = await call("POST", "/runs", {
      model: "rlm",
      messages: [{ role: "user", content: "slow job" }],
    });
    const id = submitted.body.id as string;
    await until(async () => (await call("GET", `/runs/${id}`)).body.status === "running");
    const cancelled = await call("DELETE", `/runs/${id}`);
    expect(cancelled.status).toBe(200);
    await until(async () => (await call("GET", `/runs/${id}`)).body.status === "cancelled");
    const missing = await call("GET", "/runs/no-such-run");
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: "run_not_found", type: "invalid_request_error" } });
    const badContext = await call("POST", "/runs", {
      model: "rlm",
      messages: [{ role: "user", content: "x" }],
      context: [{ name: "a", text: 1 }],
    });
    expect(badContext).toMatchObject({ status: 400, body: { error: { param: "context[0].text" } } });
  });
});
