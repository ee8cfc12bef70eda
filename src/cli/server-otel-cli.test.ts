/**
 * `--otel` on the commands that keep running: `rlm mcp` exports each run of its clients as spans (the sink lives
 * as long as the server and is flushed when it stops), and `rlm serve`, `rlm worker` and `rlm mcp` refuse OTel
 * flags they cannot use before they open anything. (`rlm serve --otel` and `rlm worker --otel` exporting real
 * runs: src/cli/worker-cli.test.ts.)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, it } from "vitest";
import { startOtlpReceiver } from "../../test/otlp-receiver.ts";
import { runRlmHere, startRlm, until } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const home = mkdtempSync(join(tmpdir(), "rlmkit-server-otel-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const MODEL = ["--model", "openai-compatible:root"];

describe("rlm mcp --otel", () => {
  it("exports each rlm_run as an invoke_agent span with its chat spans, and flushes them when it stops", async () => {
    await using model = await startScriptedServer({
      replies: () => ({ text: repl('FINAL("length " + context.length)') }),
    });
    await using receiver = await startOtlpReceiver();
    const server = startRlm(
      ["mcp", ...MODEL, "--base-url", model.url, "--http", "0", "--otel", receiver.url],
      { cwd: home, env: { HOME: home } },
    );
    try {
      await until(() => /listening on (\S+)/.test(server.stderr()) || server.child.exitCode !== null);
      expect(server.stderr()).toContain(`rlm mcp: OpenTelemetry spans go to ${receiver.url}/v1/traces`);
      // No token given: the server made one and printed it with the URL, once.
      const [, address, token] =
        /listening on (\S+) \(send Authorization: Bearer ([\w-]{43})\)/.exec(server.stderr()) ?? [];
      expect(server.stderr().split(token ?? "no token").length).toBe(2);
      const url = new URL(address ?? "http://127.0.0.1:9/mcp");
      const client = new Client({ name: "rlmkit-test", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(url, {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      const result = (await client.callTool({
        name: "rlm_run",
        arguments: { query: "How long is it?", context: "private words" },
      })) as CallToolResult;
      await client.close();
      expect(result.structuredContent).toMatchObject({ answer: "length 13", status: "completed" });
      const runId = (result.structuredContent as { runId: string }).runId;

      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      const root = receiver.spans.find(
        (span) => span.attributes["rlm.run_id"] === runId && span.parentSpanId === "",
      );
      expect(root?.name).toBe("invoke_agent rlm");
      const chats = receiver.spans.filter(
        (span) => span.traceId === root?.traceId && span.attributes["gen_ai.operation.name"] === "chat",
      );
      expect(chats.map((span) => span.name)).toEqual(["chat root"]);
      // No --otel-content: no text of the run leaves; nor does the token, with or without content.
      expect(receiver.bodies.join("\n")).not.toContain("How long is it?");
      expect(receiver.bodies.join("\n")).not.toContain(token);
      expect(server.stderr().split(token ?? "no token").length).toBe(2);
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});

describe("--otel on rlm serve, rlm worker and rlm mcp", () => {
  it("refuses flags it cannot use with exit 2 and one line, before anything is opened", async () => {
    const models = [...MODEL, "--base-url", "http://127.0.0.1:9/v1"];
    const commands = [
      ["serve", ...models, "--port", "0"],
      ["worker", ...models, "--db", "postgres://u:secret-pw@127.0.0.1:9/x"],
      ["mcp", ...models, "--http", "0"],
    ];
    const cases: Array<[string[], RegExp]> = [
      [["--otel-content"], /--otel-content needs --otel URL/],
      [["--otel"], /--otel needs the collector's address/],
      [["--otel", "grpc://127.0.0.1:4317"], /--otel: grpc: is not supported/],
    ];
    for (const command of commands) {
      for (const [flags, pattern] of cases) {
        const outcome = await runRlmHere([...command, ...flags], home);
        expect(outcome.code, `${command[0]} ${flags.join(" ")}`).toBe(2);
        expect(outcome.stderr).toMatch(pattern);
        expect(outcome.stderr.trim().split("\n")).toHaveLength(1);
      }
    }
  });
});
