import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startOtlpReceiver } from "../../test/otlp-receiver.ts";
import { runRlm, runRlmHere, scriptedModelFlags } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-otel-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
writeFileSync(join(root, "small.txt"), "the code is 777\n");

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const SECRET = "sk-otelCLIsecret0123456789abcdefgh";

/** A root model that echoes the Authorization header it got (to prove it never reaches a span) and asks a sub-call. */
function startModels() {
  return startScriptedServer({
    replies: (request) => {
      if (request.body?.model === "sub") return { text: "sub says hi" };
      const turn = (request.body?.messages ?? []).filter((message) => message.role === "assistant").length;
      return turn === 0
        ? {
            text: `I was called with ${String(request.headers.authorization)}\n${repl("const note = llm_query('check')")}`,
          }
        : { text: repl("FINAL(context.match(/code is (\\d+)/)[1])") };
    },
  });
}

const modelFlags = (url: string) => [
  "--context",
  join(root, "small.txt"),
  "--query",
  "What is the code?",
  ...scriptedModelFlags(url),
];

describe("rlm run --otel", () => {
  it("exports the run's spans to the collector, with content on request and the key redacted", async () => {
    await using models = await startModels();
    await using receiver = await startOtlpReceiver();
    const result = await runRlm(
      ["run", ...modelFlags(models.url), "--otel", receiver.url, "--otel-content", "--json"],
      {
        cwd: root,
        env: { OPENAI_COMPATIBLE_API_KEY: SECRET },
      },
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout);
    expect(output).toMatchObject({ answer: "777", status: "completed" });
    const spans = receiver.spans;
    const run = spans.find((span) => span.parentSpanId === "");
    expect(run?.attributes).toMatchObject({
      "rlm.run_id": output.runId,
      "gen_ai.operation.name": "invoke_agent",
    });
    const chats = spans.filter((span) => span.attributes["gen_ai.operation.name"] === "chat");
    expect(chats.map((span) => span.name).sort()).toEqual(["chat root", "chat root", "chat sub"]);
    expect(chats.every((span) => span.attributes["gen_ai.provider.name"] === "openai-compatible")).toBe(true);
    const inputs = chats.reduce((sum, span) => sum + Number(span.attributes["gen_ai.usage.input_tokens"]), 0);
    expect(inputs).toBe(output.usage.total.inputTokens);
    const body = receiver.bodies.join("\n");
    expect(body).toContain("I was called with Bearer [redacted]");
    expect(body).not.toContain(SECRET);
  });

  it("exports when only OTEL_EXPORTER_OTLP_ENDPOINT is set; a collector that refuses costs a warning, not the answer", async () => {
    await using models = await startModels();
    await using receiver = await startOtlpReceiver("reject");
    const result = await runRlm(["run", ...modelFlags(models.url), "--json"], {
      cwd: root,
      env: { OPENAI_COMPATIBLE_API_KEY: SECRET, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
    });
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout);
    expect(output.answer).toBe("777");
    expect(output.warnings).toEqual([
      `the OpenTelemetry export to ${receiver.url}/v1/traces failed (HTTP 400); spans are missing there`,
    ]);
    expect(receiver.bodies.length).toBeGreaterThan(0);
    expect(receiver.bodies.join("\n")).not.toContain("What is the code?");
  });

  it("rejects flags it cannot use with exit 2 and one line", async () => {
    const home = join(root, "home");
    const base = modelFlags("http://127.0.0.1:9/v1");
    const cases: Array<[string[], RegExp]> = [
      [["--otel-content"], /--otel-content needs --otel URL/],
      [["--otel"], /--otel needs the collector's address/],
      [["--otel", "grpc://127.0.0.1:4317"], /--otel: grpc: is not supported/],
      [["--otel", "not a url"], /--otel: "not a url" is not a URL/],
      [
        [
          ...["--otel", "http://127.0.0.1:9", "--otel-content", "--privacy", "local"],
          ...["--local-model", "openai-compatible:root", "--local-model", "openai-compatible:sub"],
        ],
        /--privacy local forbids/,
      ],
    ];
    for (const [flags, pattern] of cases) {
      const result = await runRlmHere(["run", ...base, ...flags], home);
      expect(result.code, flags.join(" ")).toBe(2);
      expect(result.stderr).toMatch(pattern);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
