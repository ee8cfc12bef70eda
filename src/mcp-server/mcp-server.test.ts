/**
 * `rlm mcp` as an MCP client sees it: the CLI spawned as a real process, driven by the official SDK's Client over
 * stdio (with a SQLite memory and a trace folder) and over streamable HTTP, with the scripted OpenAI-compatible
 * server as the models.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RLM_ENV, RLM_MAIN, runRlmHere, startRlm, until } from "../../test/rlm-process.ts";
import { type ScriptedServer, type ServerReply, startScriptedServer } from "../test/scripted-server.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const home = mkdtempSync(join(tmpdir(), "rlmkit-mcp-"));
const work = join(home, "work");
const traces = join(home, "traces");
let models: ScriptedServer;

/**
 * The root model's reply, by the tag in the question and the turn (assistant messages so far). The first tag in
 * the first message is the question's: recalled memory (earlier questions) comes after it.
 */
function rootReply(firstMessage: string, turn: number): ServerReply {
  const tags = ["[text]", "[docs]", "[progress]", "[slow]", "[stuck]"];
  const found = tags
    .map((tag) => ({ tag, at: firstMessage.indexOf(tag) }))
    .filter(({ at }) => at >= 0)
    .sort((a, b) => a.at - b.at)[0]?.tag;
  switch (found) {
    case "[text]":
      return { text: repl('FINAL("length " + context.length)') };
    case "[docs]":
      return { text: repl('FINAL(context.map((d) => d.id).join(","))') };
    case "[progress]":
      return turn === 0
        ? { text: repl('const said = await llm_query("say hi"); print(said)') }
        : { text: repl('FINAL("sub said " + said)') };
    case "[slow]":
      return { text: "thinking", delayMs: 30_000 };
    case "[stuck]":
      return { text: repl('print("still looking")') };
    default:
      return { text: repl('FINAL("ok")') };
  }
}

beforeAll(async () => {
  mkdirSync(join(work, "docs", "nested"), { recursive: true });
  writeFileSync(join(work, "docs", "a.txt"), "alpha\n");
  writeFileSync(join(work, "docs", "nested", "b.txt"), "beta\n");
  writeFileSync(join(work, "docs", "image.bin"), Buffer.from([0, 1, 2, 3]));
  writeFileSync(join(work, "docs", ".secret"), "hidden\n");
  writeFileSync(join(work, ".env"), "KEY=1\n");
  writeFileSync(join(home, "outside.txt"), "outside\n");
  writeFileSync(join(work, "big.txt"), "x".repeat(3000));
  symlinkSync(join(home, "outside.txt"), join(work, "link.txt"));
  symlinkSync(join(home, "outside.txt"), join(work, "docs", "link-out.txt"));
  symlinkSync(home, join(work, "linkdir"));
  models = await startScriptedServer({
    replies: (request) => {
      const messages = request.body?.messages ?? [];
      if (request.body?.model === "sub") return { text: "hi" };
      const first = messages.find((message) => message.role === "user");
      const turn = messages.filter((message) => message.role === "assistant").length;
      return rootReply(String(first?.content ?? ""), turn);
    },
  });
});

afterAll(async () => {
  await models?.close();
  rmSync(home, { recursive: true, force: true });
});

const modelArgs = () => [
  "--model",
  "openai-compatible:root",
  "--sub-model",
  "openai-compatible:sub",
  "--base-url",
  models.url,
];

const text = (result: CallToolResult) =>
  result.content.map((part) => (part.type === "text" ? part.text : "")).join("");

describe("rlm mcp over stdio, with a memory and a trace folder", () => {
  let client: Client;
  let stderr = "";

  beforeAll(async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [
        RLM_MAIN,
        "mcp",
        ...modelArgs(),
        "--memory",
        join(home, "memory.db"),
        "--no-playbook",
        "--trace-dir",
        traces,
        "--max-iterations",
        "5",
        "--max-input-mb",
        "0.002",
      ],
      env: { ...RLM_ENV, HOME: home },
      cwd: work,
      stderr: "pipe",
    });
    transport.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    client = new Client({ name: "rlmkit-test", version: "1.0.0" });
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
  });

  it("lists rlm_run with input and output schemas, and the memory tools", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["memory_add", "memory_search", "rlm_run"]);
    const run = tools.find((tool) => tool.name === "rlm_run");
    expect(run?.inputSchema.required).toEqual(["query"]);
    expect(Object.keys(run?.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(["query", "context", "paths", "max_iterations", "max_cost", "timeout"]),
    );
    expect(Object.keys(run?.outputSchema?.properties ?? {})).toEqual(
      expect.arrayContaining(["answer", "status", "usage", "runId", "iterations", "subcalls", "durationMs"]),
    );
    expect(stderr).toContain("rlm mcp: serving over stdio");
  });

  it("answers about context text: the answer as text, the run as structured content, its trace on disk", async () => {
    const result = (await client.callTool({
      name: "rlm_run",
      arguments: { query: "How long is it? [text]", context: "0123456789" },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(text(result)).toBe("length 10");
    const structured = result.structuredContent as Record<string, unknown> & {
      usage: Record<string, number>;
    };
    expect(structured).toMatchObject({
      answer: "length 10",
      status: "completed",
      iterations: 1,
      subcalls: 0,
    });
    expect(structured.usage.calls).toBeGreaterThanOrEqual(1);
    expect(structured.usage.inputTokens).toBeGreaterThan(0);
    const trace = join(traces, `${structured.runId}.jsonl`);
    expect(existsSync(trace)).toBe(true);
    const events = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(events[0]).toMatchObject({ type: "run-start", runId: structured.runId });
    expect(events.at(-1)).toMatchObject({ type: "run-end", status: "completed" });
  });

  it("reads paths under the working directory: folders walked, hidden files, binary files and links left out", async () => {
    const result = (await client.callTool({
      name: "rlm_run",
      arguments: { query: "Which files? [docs]", paths: ["docs"] },
    })) as CallToolResult;
    expect(result.isError, text(result)).toBeFalsy();
    expect(text(result)).toBe("docs/a.txt,docs/nested/b.txt");
    const globbed = (await client.callTool({
      name: "rlm_run",
      arguments: { query: "How long is it? [text]", paths: ["docs/**/b.txt"] },
    })) as CallToolResult;
    expect(text(globbed)).toBe("length 5");
  });

  it("sends progress notifications per iteration when asked", async () => {
    const progress: Array<{ progress: number; message?: string }> = [];
    const result = (await client.callTool(
      { name: "rlm_run", arguments: { query: "Ask the sub-model [progress]", context: "x" } },
      undefined,
      { onprogress: (update) => progress.push(update) },
    )) as CallToolResult;
    expect(text(result)).toBe("sub said hi");
    expect(result.structuredContent).toMatchObject({ iterations: 2, subcalls: 1 });
    expect(progress.map((update) => update.message?.split(" · ")[0])).toEqual(
      expect.arrayContaining(["iteration 1", "iteration 2"]),
    );
    const values = progress.map((update) => update.progress);
    expect(values).toEqual([...values].sort((a, b) => a - b));
  });

  it("bad arguments are tool errors of one line, and the server goes on", async () => {
    const calls: Array<[Record<string, unknown>, RegExp]> = [
      [{ context: "x" }, /query/],
      [{ query: "q" }, /exactly one of context \(text\) or paths/],
      [{ query: "q", context: "x", paths: ["docs"] }, /exactly one of context/],
      [{ query: "q", paths: ["../outside.txt"] }, /inside the server's root folder/],
      [{ query: "q", paths: [join(home, "outside.txt")] }, /inside the server's root folder/],
      [{ query: "q", paths: [".env"] }, /hidden file/],
      [
        { query: "q", paths: ["{..,docs}/*.txt"] },
        /relative to the server's root folder \(--root\) and hold no/,
      ],
      [{ query: "q", paths: ["docs/image.bin"] }, /binary file/],
      [{ query: "q", paths: ["nope.txt"] }, /no such file/],
      [{ query: "q", context: "x", max_iterations: 0 }, /max_iterations/],
      [{ query: "q", paths: ["link.txt"] }, /a link leads outside/],
      [{ query: "q", paths: ["linkdir"] }, /a link leads outside/],
      [
        { query: "q", paths: ["big.txt"] },
        /the paths hold more than 2097 bytes \(the server's --max-input-mb\)/,
      ],
      [{ query: "q", context: "x", max_cost: 1 }, /needs the price of every model/],
    ];
    for (const [args, expected] of calls) {
      const result = (await client.callTool({ name: "rlm_run", arguments: args })) as CallToolResult;
      expect(result.isError, JSON.stringify(args)).toBe(true);
      expect(text(result)).toMatch(expected);
      expect(text(result).split("\n")).toHaveLength(1);
    }
    expect(models.requests.some((request) => JSON.stringify(request.body).includes("outside"))).toBe(false);
  });

  it("a run that ends without an answer is an error with the reason; a higher limit is the server's", async () => {
    const result = (await client.callTool({
      name: "rlm_run",
      arguments: { query: "Keep looking [stuck]", context: "x", max_iterations: 50 },
    })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^The run ended max_iterations/);
    expect(result.structuredContent).toMatchObject({ status: "max_iterations", iterations: 5 });
    expect((result.structuredContent as { warnings: string[] }).warnings).toContain(
      "max_iterations 50 is over the server's limit of 5; the server's limit applies",
    );
  });

  it("memory_add then memory_search finds it", async () => {
    const added = (await client.callTool({
      name: "memory_add",
      arguments: { text: "The staging database is called heron", key: "staging.database" },
    })) as CallToolResult;
    expect(added.isError, text(added)).toBeFalsy();
    const { id } = added.structuredContent as { id: string };
    const found = (await client.callTool({
      name: "memory_search",
      arguments: { query: "staging database name" },
    })) as CallToolResult;
    const hits = (found.structuredContent as { hits: Array<{ id: string; text: string }> }).hits;
    expect(hits[0]).toMatchObject({ id, text: "The staging database is called heron" });
    const badKey = (await client.callTool({
      name: "memory_add",
      arguments: { text: "x", key: "<script>" },
    })) as CallToolResult;
    expect(badKey.isError).toBe(true);
    expect(text(badKey)).toMatch(/key must be a dotted name/);
  });

  it("cancelling the request cancels the run and its model call", async () => {
    const controller = new AbortController();
    const before = models.requests.length;
    const call = client.callTool(
      { name: "rlm_run", arguments: { query: "Think long [slow]", context: "x" } },
      undefined,
      { signal: controller.signal },
    );
    await until(() => models.requests.length > before);
    controller.abort();
    await expect(call).rejects.toThrow();
    await until(() => models.requests.slice(before).some((request) => request.aborted));
    // The server still answers.
    const after = (await client.callTool({
      name: "rlm_run",
      arguments: { query: "[text]", context: "abc" },
    })) as CallToolResult;
    expect(text(after)).toBe("length 3");
  });
});

/** `rlm ARGS` in this process with extra environment variables (runRlmHere takes none). */
async function runHereWithEnv(args: string[], env: Record<string, string>) {
  const { PassThrough } = await import("node:stream");
  const { runCli } = await import("../cli/run-cli.ts");
  const stderr = new PassThrough();
  let err = "";
  stderr.on("data", (chunk) => {
    err += chunk;
  });
  const code = await runCli(args, {
    stdout: new PassThrough(),
    stderr,
    env: { ...RLM_ENV, HOME: home, ...env },
  });
  return { code, stderr: err };
}

describe("rlm mcp over streamable HTTP", () => {
  /** The server's bearer token, given through the environment (as the help recommends). */
  const token = "mcp-http-test-token-abcdefghijklmnopqrstuvwxyz";
  const auth = { authorization: `Bearer ${token}` };
  let server: ReturnType<typeof startRlm>;
  let url: URL;
  const runsEnded = (status: string) =>
    server.stderr().match(new RegExp(`run \\S+ ${status} `, "g"))?.length ?? 0;

  beforeAll(async () => {
    server = startRlm(
      ["mcp", ...modelArgs(), "--http", "0", "--max-concurrent-runs", "1", "--max-waiting-runs", "0"],
      { cwd: work, env: { HOME: home, RLM_MCP_TOKEN: token } },
    );
    await until(() => /listening on (\S+)/.test(server.stderr()) || server.child.exitCode !== null);
    url = new URL(/listening on (\S+)/.exec(server.stderr())?.[1] ?? "http://127.0.0.1:9/mcp");
  });

  afterAll(async () => {
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    // A given token is named, never printed (nor anything that logs a request).
    expect(server.stderr()).toContain("(send Authorization: Bearer <the token in RLM_MCP_TOKEN>)");
    expect(server.stderr()).not.toContain(token);
  });

  it("serves rlm_run (no memory tools without --memory), with progress, a busy refusal and cancellation", async () => {
    expect(url.hostname).toBe("127.0.0.1");
    const client = new Client({ name: "rlmkit-test", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: auth } });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(["rlm_run"]);
      const progress: string[] = [];
      const result = (await client.callTool(
        { name: "rlm_run", arguments: { query: "Ask the sub-model [progress]", context: "x" } },
        undefined,
        { onprogress: (update) => progress.push(update.message ?? "") },
      )) as CallToolResult;
      expect(text(result)).toBe("sub said hi");
      expect(result.structuredContent).toMatchObject({ status: "completed", subcalls: 1 });
      expect(progress.length).toBeGreaterThanOrEqual(2);
      const missing = (await client.callTool({ name: "rlm_run", arguments: {} })) as CallToolResult;
      expect(missing.isError).toBe(true);

      // One slot and no waiting: a second run is refused while the first runs; cancelling frees the slot.
      const controller = new AbortController();
      const before = models.requests.length;
      const slow = client
        .callTool({ name: "rlm_run", arguments: { query: "[slow]", context: "x" } }, undefined, {
          signal: controller.signal,
        })
        .catch((error: Error) => error);
      await until(() => models.requests.length > before);
      const busy = (await client.callTool({
        name: "rlm_run",
        arguments: { query: "[text]", context: "x" },
      })) as CallToolResult;
      expect(busy.isError).toBe(true);
      expect(text(busy)).toMatch(/^the server is busy \(1 runs running, 0 waiting\)/);
      controller.abort();
      expect(await slow).toBeInstanceOf(Error);
      await until(() => models.requests.slice(before).some((request) => request.aborted));
      await until(() => runsEnded("cancelled") === 1);
      await transport.terminateSession();
    } finally {
      await client.close();
    }
  });

  it("a client whose connection closes mid-call has its run cancelled", async () => {
    const headers = {
      ...auth,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-06-18",
    };
    const post = (body: unknown, session?: string, signal?: AbortSignal) =>
      fetch(url, {
        method: "POST",
        headers: { ...headers, ...(session ? { "mcp-session-id": session } : {}) },
        body: JSON.stringify(body),
        ...(signal ? { signal } : {}),
      });
    const init = await post({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    const session = init.headers.get("mcp-session-id") ?? "";
    await init.text();
    await (await post({ jsonrpc: "2.0", method: "notifications/initialized" }, session)).text();
    const gone = new AbortController();
    const before = models.requests.length;
    const call = post(
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "rlm_run", arguments: { query: "[slow]", context: "x" } },
      },
      session,
      gone.signal,
    )
      .then((response) => response.text())
      .catch(() => "closed");
    await until(() => models.requests.length > before);
    gone.abort();
    expect(await call).toBe("closed");
    await until(() => models.requests.slice(before).some((request) => request.aborted));
    await until(() => runsEnded("cancelled") === 2);
  });

  it("refuses a client without the token, another Host or a web page's Origin, and unknown sessions", async () => {
    const post = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          url,
          {
            method: "POST",
            headers: {
              ...auth,
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              ...headers,
            },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on("error", reject);
        request.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
      });
    expect(await post({ authorization: "" })).toBe(401);
    expect(await post({ authorization: `Bearer ${token.replace("a", "b")}` })).toBe(401);
    expect(await post({ host: `evil.example:${url.port}` })).toBe(403);
    expect(await post({ origin: "http://evil.example" })).toBe(403);
    expect(await post({ "mcp-session-id": "no-such-session" })).toBe(404);
    expect(await post({})).toBe(400);
  });

  it("refuses a non-loopback --host (the token would cross the network in clear)", async () => {
    const outcome = await runRlmHere(["mcp", ...modelArgs(), "--http", "0", "--host", "0.0.0.0"], home);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/--host 0\.0\.0\.0: rlm mcp speaks plain HTTP/);
  });

  it("refuses a short or malformed token, from the flag or the environment, in one line that does not echo it", async () => {
    const http = ["mcp", ...modelArgs(), "--http", "0"];
    const cases: Array<[() => Promise<{ code: number; stderr: string }>, RegExp, string]> = [
      [
        () => runRlmHere([...http, "--http-token", "short"], home),
        /^rlm: error: --http-token: the token is 5 characters; it needs at least 32/,
        "short",
      ],
      [
        () => runHereWithEnv(http, { RLM_MCP_TOKEN: "too-short-secret" }),
        /RLM_MCP_TOKEN: the token is 16 characters/,
        "too-short-secret",
      ],
      [
        () => runRlmHere([...http, `--http-token=${"x".repeat(40)} y`], home),
        /--http-token: the token may hold only/,
        "x".repeat(40),
      ],
      [
        () => runRlmHere(["mcp", ...modelArgs(), "--http-token", "y".repeat(40)], home),
        /--http-token needs --http PORT/,
        "y".repeat(40),
      ],
    ];
    for (const [outcome, pattern, secret] of cases) {
      const { code, stderr } = await outcome();
      expect(code, stderr).toBe(2);
      expect(stderr).toMatch(pattern);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).not.toContain(secret);
    }
  });
});
