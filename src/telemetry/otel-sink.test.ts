import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadOtlpUrl, type ReceivedSpan, startOtlpReceiver } from "../../test/otlp-receiver.ts";
import { describeTraceSinkConformance } from "../../test/trace-sink-conformance.ts";
import { createRLM, type RunResult } from "../engine/rlm.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import { exportTraceEvents } from "./export-trace.ts";
import { createOtelSink, type OtelSink } from "./otel-sink.ts";

describeTraceSinkConformance("opentelemetry", async () => {
  const receiver = await startOtlpReceiver();
  const sinks: OtelSink[] = [];
  const keep = (sink: OtelSink) => {
    sinks.push(sink);
    return sink;
  };
  return {
    // Content on, so the fields that carry secrets are sent and their redaction is what is tested.
    open: ({ secrets }) =>
      keep(createOtelSink({ url: receiver.url, captureContent: true, secrets, env: {}, timeoutMs: 2000 })),
    // Nothing listens there: each export is refused (ECONNREFUSED), retried within the bound, then given up.
    openFailing: async () => keep(createOtelSink({ url: await deadOtlpUrl(), env: {}, timeoutMs: 300 })),
    received: async () => receiver.bodies.join("\n"),
    dispose: async () => {
      for (const sink of sinks) await sink.close();
      await receiver.close();
    },
  };
});

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const SECRET = "sk-otelTESTsecret0123456789abcdef";
const QUESTION = "Which code does the ledger hold?";

/**
 * A root model that calls a tool, two llm_query sub-calls in parallel and one rlm_query child, then answers; the
 * child answers at once. The root's reply and a cell's output carry a key-shaped secret.
 */
function models() {
  const root = new ScriptedModel({
    provider: "openai.chat",
    modelId: "root-model",
    replies: (call) => {
      if (call.lastUserText.includes("Find the code")) {
        return { text: repl("FINAL(context.match(/code (\\d+)/)[1])"), usage: { input: 50, output: 7 } };
      }
      const turn = call.messages.filter((message) => message.role === "assistant").length;
      if (turn === 0) {
        return {
          text: `Token ${SECRET} seen.\n${repl(
            [
              "const price = lookup({ sku: 'A1' })",
              "const notes = llm_query_batched(['first half', 'second half'])",
              "const codes = rlm_query_batched(['Find the code', 'Find the code'], ['the code 4242 is here', 'the code 5151 is here'])",
              `print(notes.join('|'), codes.join('+'), price.price, '${SECRET}')`,
            ].join("\n"),
          )}`,
          usage: { input: 300, output: 60, cachedInput: 100 },
        };
      }
      return { text: repl("FINAL(codes.join('+'))"), usage: { input: 400, output: 9 } };
    },
  });
  const sub = new ScriptedModel({
    provider: "anthropic.messages",
    modelId: "sub-model",
    replies: (call) => ({ text: `noted ${call.lastUserText.length}`, usage: { input: 20, output: 4 } }),
  });
  return { root, sub };
}

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((span) => span.name === name);
const USAGE_KEYS = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "rlm.cost_usd"];

describe("OpenTelemetry export of a run", () => {
  let plain: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let rich: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let result: RunResult;
  let spans: ReceivedSpan[];

  beforeAll(async () => {
    plain = await startOtlpReceiver();
    rich = await startOtlpReceiver();
    // Two sinks hear the same run: one with the default (no content), one with content.
    const withoutContent = createOtelSink({ url: plain.url, env: {} });
    const withContent = createOtelSink({
      url: `${rich.url}/v1/traces`,
      env: { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" },
    });
    const { root, sub } = models();
    const rlm = createRLM({
      model: root,
      subModel: sub,
      limits: { maxDepth: 2 },
      tools: { lookup: { description: "price of a SKU", execute: () => ({ price: 3 }) } },
      onEvent: (event) => {
        withoutContent.write(event);
        withContent.write(event);
      },
    });
    result = await rlm.run({ context: "the ledger", query: QUESTION });
    await Promise.all([withoutContent.close(), withContent.close()]);
    expect(withoutContent.failure).toBeUndefined();
    expect(withContent.failure).toBeUndefined();
    spans = plain.spans;
  });
  afterAll(async () => {
    await plain?.close();
    await rich?.close();
  });

  it("sends OTLP JSON with the service's resource", () => {
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("4242+5151");
    expect(plain.contentTypes.every((type) => type.startsWith("application/json"))).toBe(true);
    expect(spans[0]?.resource["service.name"]).toBe("rlmkit");
  });

  it("builds one trace: the run, its iterations, model calls, the tool, and the child run under rlm_query", () => {
    expect(new Set(spans.map((span) => span.traceId)).size).toBe(1);
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const parentOf = (span: ReceivedSpan | undefined) => byId.get(span?.parentSpanId ?? "");
    const roots = spans.filter((span) => span.parentSpanId === "");
    expect(roots).toHaveLength(1);
    const run = roots[0] as ReceivedSpan;
    expect(run.name).toBe("invoke_agent rlm");
    expect(run.attributes).toMatchObject({
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "rlm",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "root-model",
      "rlm.depth": 0,
      "rlm.run_id": result.runId,
      "rlm.status": "completed",
      "rlm.iterations": 2,
    });
    expect(run.status.code).toBe(0);
    for (const span of spans) if (span !== run) expect(byId.has(span.parentSpanId), span.name).toBe(true);

    const iterations = byName(spans, "rlm.iteration");
    const rootIterations = iterations.filter((span) => span.attributes["rlm.depth"] === 0);
    expect(rootIterations.map((span) => span.attributes["rlm.iteration"]).sort()).toEqual([1, 2]);
    for (const span of rootIterations) expect(parentOf(span)).toBe(run);
    const first = rootIterations.find((span) => span.attributes["rlm.iteration"] === 1) as ReceivedSpan;
    expect(first.attributes["rlm.cells"]).toBe(1);
    expect(first.events.map((event) => event.name)).toEqual(["rlm.cell"]);

    const subChats = byName(spans, "chat sub-model");
    expect(subChats).toHaveLength(2);
    for (const chat of subChats) {
      expect(parentOf(chat)).toBe(first);
      expect(chat.kind).toBe(3);
      expect(chat.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "sub-model",
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 4,
        "rlm.subcall.kind": "llm_query",
      });
    }

    const [tool] = byName(spans, "execute_tool lookup");
    expect(parentOf(tool)).toBe(first);
    expect(tool?.attributes).toMatchObject({
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": "lookup",
    });

    // Two child runs ran in parallel: each hangs under the rlm_query span that started it (matched by id).
    const rlmQueries = byName(spans, "execute_tool rlm_query");
    expect(rlmQueries).toHaveLength(2);
    for (const span of rlmQueries) expect(parentOf(span)).toBe(first);
    const children = byName(spans, "invoke_agent rlm").filter((span) => span !== run);
    expect(children).toHaveLength(2);
    for (const child of children) {
      expect(parentOf(child)?.attributes["rlm.call_id"]).toBe(child.attributes["rlm.parent_call_id"]);
      expect(child.attributes["rlm.depth"]).toBe(1);
      expect(child.attributes["rlm.parent_run_id"]).toBe(result.runId);
      const childIteration = iterations.find((span) => parentOf(span) === child);
      expect(
        byName(spans, "chat root-model").filter((span) => parentOf(span) === childIteration),
      ).toHaveLength(1);
    }
    expect(new Set(children.map(parentOf)).size).toBe(2);
    const rootChats = byName(spans, "chat root-model").filter((span) =>
      rootIterations.includes(parentOf(span) as ReceivedSpan),
    );
    expect(rootChats).toHaveLength(2);
  });

  it("keeps every span inside its parent's time, from the events' own times", () => {
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    for (const span of spans) {
      expect(span.endMs).toBeGreaterThanOrEqual(span.startMs);
      const parent = byId.get(span.parentSpanId);
      if (parent === undefined) continue;
      expect(span.startMs, span.name).toBeGreaterThanOrEqual(parent.startMs);
      expect(span.endMs, span.name).toBeLessThanOrEqual(parent.endMs + 1);
    }
    const run = spans.find((span) => span.parentSpanId === "") as ReceivedSpan;
    expect(Math.abs(run.endMs - run.startMs - result.durationMs)).toBeLessThan(1000);
  });

  it("puts usage only on leaf chat spans, and their sums are the run's totals", () => {
    const chats = spans.filter((span) => span.attributes["gen_ai.operation.name"] === "chat");
    expect(chats).toHaveLength(6);
    for (const span of spans) {
      const hasUsage = USAGE_KEYS.some((key) => key in span.attributes);
      if (hasUsage) expect(span.attributes["gen_ai.operation.name"], span.name).toBe("chat");
      if (hasUsage)
        expect(
          spans.some((other) => other.parentSpanId === span.spanId),
          span.name,
        ).toBe(false);
    }
    const sum = (key: string) => chats.reduce((total, span) => total + Number(span.attributes[key] ?? 0), 0);
    expect(sum("gen_ai.usage.input_tokens")).toBe(result.usage.total.inputTokens);
    expect(sum("gen_ai.usage.output_tokens")).toBe(result.usage.total.outputTokens);
    expect(sum("gen_ai.usage.cache_read.input_tokens")).toBe(result.usage.total.cachedInputTokens);
    expect(result.usage.total.inputTokens).toBe(300 + 400 + 2 * 50 + 2 * 20);
  });

  it("sends a stored trace as the same spans (rlm trace export)", async () => {
    await using stored = await startOtlpReceiver();
    expect(await exportTraceEvents(result.trace, { url: stored.url, env: {} })).toEqual({});
    const shape = (list: ReceivedSpan[]) =>
      list
        .map(
          (span) =>
            `${span.name} ${span.startMs} ${span.endMs} ${span.attributes["gen_ai.usage.input_tokens"]}`,
        )
        .sort();
    expect(shape(stored.spans)).toEqual(shape(spans));
  });

  it("sends no content by default", () => {
    const body = plain.bodies.join("\n");
    for (const text of [QUESTION, "first half", "lookup({ sku", "noted", SECRET, "4242 is here"]) {
      expect(body).not.toContain(text);
    }
    for (const span of spans) {
      for (const key of ["gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments"]) {
        expect(span.attributes[key]).toBeUndefined();
      }
      for (const event of span.events) expect(event.attributes["rlm.cell.code"]).toBeUndefined();
    }
  });

  it("sends content when asked, with secrets redacted", () => {
    const body = rich.bodies.join("\n");
    expect(body).not.toContain(SECRET);
    const richSpans = rich.spans;
    const run = richSpans.find((span) => span.parentSpanId === "") as ReceivedSpan;
    expect(JSON.parse(String(run.attributes["gen_ai.input.messages"]))).toEqual([
      { role: "user", parts: [{ type: "text", content: QUESTION }] },
    ]);
    expect(String(run.attributes["gen_ai.output.messages"])).toContain("4242+5151");
    const firstChat = richSpans.find(
      (span) => span.name === "chat root-model" && span.attributes["gen_ai.usage.input_tokens"] === 300,
    );
    const reply = String(firstChat?.attributes["gen_ai.output.messages"]);
    expect(reply).toContain("Token [redacted] seen.");
    const firstIteration = richSpans.find(
      (span) =>
        span.name === "rlm.iteration" &&
        span.attributes["rlm.depth"] === 0 &&
        span.attributes["rlm.iteration"] === 1,
    );
    const cell = firstIteration?.events.find((event) => event.name === "rlm.cell");
    expect(String(cell?.attributes["rlm.cell.code"])).toContain("lookup({ sku: 'A1' })");
    expect(String(cell?.attributes["rlm.cell.output"])).toContain("[redacted]");
    const tool = richSpans.find((span) => span.name === "execute_tool lookup");
    expect(tool?.attributes["gen_ai.tool.call.arguments"]).toBe('{"sku":"A1"}');
    // llm_query sub-calls carry what was asked and answered (the trace keeps both, cut).
    const subPrompts = byName(richSpans, "chat sub-model").map((span) =>
      String(span.attributes["gen_ai.input.messages"]),
    );
    expect(subPrompts.some((prompt) => prompt.includes("first half"))).toBe(true);
    expect(
      byName(richSpans, "chat sub-model").every((span) => span.attributes["gen_ai.output.messages"]),
    ).toBe(true);
  });
});

describe("OpenTelemetry export at a limit or a dead collector", () => {
  it("marks a run stopped by a limit as an error, with the stop reason", async () => {
    await using receiver = await startOtlpReceiver();
    const sink = createOtelSink({ url: receiver.url, env: {} });
    const model = new ScriptedModel({ replies: () => repl("print('still looking')") });
    const result = await createRLM({ model, limits: { maxIterations: 1 }, onEvent: sink.write }).run({
      context: "x",
      query: "q",
    });
    await sink.close();
    expect(result.status).toBe("max_iterations");
    const run = receiver.spans.find((span) => span.parentSpanId === "");
    expect(run?.status.code).toBe(2);
    expect(run?.status.message).toContain("no FINAL within 1 iterations");
    expect(run?.attributes["error.type"]).toBe("max_iterations");
  });

  it("a collector that never answers costs the spans and a warning, never the run or a hang", async () => {
    await using receiver = await startOtlpReceiver("hang");
    const sink = createOtelSink({ url: receiver.url, env: {}, timeoutMs: 400 });
    const model = new ScriptedModel({ replies: [repl("FINAL('done')")] });
    const result = await createRLM({ model, onEvent: sink.write }).run({ context: "x", query: "q" });
    expect(result.status).toBe("completed");
    await sink.close();
    expect(sink.failure).toMatch(
      /OpenTelemetry (export to|collector at) http:\/\/127\.0\.0\.1:\d+\/v1\/traces/,
    );
  });

  it("refuses a URL it cannot use, naming the flag", async () => {
    expect(() => createOtelSink({ url: "grpc://127.0.0.1:4317", env: {} })).toThrow(
      /--otel: grpc: is not supported/,
    );
    expect(() => createOtelSink({ env: {} })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    const fromEnv = createOtelSink({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://user:pw@127.0.0.1:9/base/" },
    });
    expect(fromEnv.url).toBe("http://127.0.0.1:9/base/v1/traces");
    await fromEnv.close();
  });
});
