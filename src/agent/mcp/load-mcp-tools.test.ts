import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Tool } from "ai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MCP_TEST_SERVER, startHttpMcpServer } from "../../../test/mcp-test-server.ts";
import { ConfigError } from "../../errors/config-error.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { loadMcpTools, type McpTools } from "./index.ts";

let dir: string;
let n = 0;
const open: McpTools[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rlm-mcp-"));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((loaded) => loaded.close()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(config: unknown): string {
  const file = join(dir, `servers-${++n}.json`);
  writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config));
  return file;
}

function stdioServer(...args: string[]) {
  return { command: process.execPath, args: [MCP_TEST_SERVER, ...args] };
}

async function load(file: string, options: Parameters<typeof loadMcpTools>[1] = {}): Promise<McpTools> {
  const loaded = await loadMcpTools(file, options);
  open.push(loaded);
  return loaded;
}

function call(
  tools: Record<string, Tool>,
  name: string,
  input: unknown,
  signal?: AbortSignal,
): Promise<unknown> {
  const tool = tools[name];
  if (!tool?.execute) throw new Error(`no tool ${name}`);
  return Promise.resolve(
    tool.execute(input, {
      toolCallId: "t1",
      messages: [],
      abortSignal: signal ?? new AbortController().signal,
    } as unknown as Parameters<NonNullable<Tool["execute"]>>[1]),
  );
}

function textOf(result: unknown): string {
  return (result as { content: { text: string }[] }).content.map((part) => part.text).join("");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of our test-server children (ps, by parent pid). */
async function childPids(): Promise<number[]> {
  const { execFileSync } = await import("node:child_process");
  const out = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((line) => line.includes(MCP_TEST_SERVER))
    .map((line) => Number.parseInt(line.trim(), 10));
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function gone(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return !alive(pid);
}

describe("loadMcpTools over stdio", () => {
  it("loads the tools under their own names and calls them", async () => {
    const loaded = await load(writeConfig({ mcpServers: { calc: stdioServer() } }));
    expect(loaded.servers).toEqual(["calc"]);
    expect(Object.keys(loaded.tools).sort()).toEqual(["add", "die", "echo", "env", "fail", "slow"]);
    expect(textOf(await call(loaded.tools, "add", { a: 2, b: 3 }))).toBe("5");
    expect(textOf(await call(loaded.tools, "echo", { text: "hi" }))).toBe("hi");
    expect(loaded.tools.add?.description).toBe("Adds two numbers.");
  });

  it("turns an isError result into a thrown error of one line", async () => {
    const loaded = await load(writeConfig({ mcpServers: { calc: stdioServer() } }));
    await expect(call(loaded.tools, "fail", {})).rejects.toThrow(
      'MCP tool "fail" (server "calc") failed: something went wrong on two lines',
    );
  });

  it("passes a minimal environment plus the entry's env, not the user's keys", async () => {
    process.env.RLM_MCP_TEST_SECRET = "sk-secret";
    try {
      const file = writeConfig({
        mcpServers: {
          calc: { ...stdioServer(), env: { GIVEN: "yes", FROM_ENV: "$" + "{RLM_MCP_TEST_SECRET}" } },
        },
      });
      const loaded = await load(file);
      expect(textOf(await call(loaded.tools, "env", { name: "RLM_MCP_TEST_SECRET" }))).toBe("(unset)");
      expect(textOf(await call(loaded.tools, "env", { name: "GIVEN" }))).toBe("yes");
      expect(textOf(await call(loaded.tools, "env", { name: "FROM_ENV" }))).toBe("sk-secret");
      expect(textOf(await call(loaded.tools, "env", { name: "PATH" }))).toBe(process.env.PATH);
    } finally {
      delete process.env.RLM_MCP_TEST_SECRET;
    }
  });

  it("prefixes clashing names with the server's name, and says so", async () => {
    const warnings: string[] = [];
    const file = writeConfig({
      mcpServers: { one: stdioServer(), "two.x": stdioServer(), three: stdioServer("--prefix", "t3_") },
    });
    const loaded = await load(file, { existingNames: ["echo"], onWarning: (line) => warnings.push(line) });
    const names = Object.keys(loaded.tools);
    expect(names).toContain("one_add");
    expect(names).toContain("two_x_add");
    expect(names).toContain("one_echo");
    expect(names).toContain("t3_add");
    expect(names).toContain("t3_echo");
    expect(names).not.toContain("add");
    expect(names).not.toContain("echo");
    expect(warnings).toContain(
      'MCP server "one": tool "echo" is called "one_echo" (a built-in tool has that name).',
    );
    expect(warnings).toContain(
      'MCP server "two.x": tool "add" is called "two_x_add" (another MCP server has a tool of that name).',
    );
    expect(warnings.every((line) => !line.includes("\n"))).toBe(true);
    expect(textOf(await call(loaded.tools, "two_x_add", { a: 1, b: 1 }))).toBe("2");
    // a built-in clash renames only the MCP tool; a prefix-only server keeps its names
    expect(textOf(await call(loaded.tools, "t3_echo", { text: "x" }))).toBe("x");
  });

  it("close() ends the child processes and is idempotent", async () => {
    const before = new Set(await childPids());
    const loaded = await load(writeConfig({ mcpServers: { a: stdioServer(), b: stdioServer() } }));
    const pids = (await childPids()).filter((pid) => !before.has(pid));
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    await Promise.all([loaded.close(), loaded.close()]);
    await loaded.close();
    for (const pid of pids) expect(await gone(pid)).toBe(true);
    await expect(call(loaded.tools, "a_add", { a: 1, b: 2 })).rejects.toThrow(
      /^MCP tool "add" \(server "a"\) failed: /,
    );
  });

  it("closes everything when the signal aborts", async () => {
    const before = new Set(await childPids());
    const controller = new AbortController();
    const loaded = await load(writeConfig({ mcpServers: { calc: stdioServer() } }), {
      signal: controller.signal,
    });
    const [pid] = (await childPids()).filter((p) => !before.has(p));
    expect(pid).toBeDefined();
    controller.abort();
    expect(await gone(pid as number)).toBe(true);
    await loaded.close();
  });

  it("a server that dies mid-call: the call throws one line, the host lives, the others still work", async () => {
    const warnings: string[] = [];
    const file = writeConfig({ mcpServers: { dying: stdioServer("--prefix", "d_"), calc: stdioServer() } });
    const loaded = await load(file, { onWarning: (line) => warnings.push(line) });
    const error = await call(loaded.tools, "d_die", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      'MCP tool "d_die" (server "dying") failed: the server process exited',
    );
    await expect(call(loaded.tools, "d_add", { a: 1, b: 2 })).rejects.toThrow(
      /^MCP tool "d_add" \(server "dying"\) failed: /,
    );
    expect(textOf(await call(loaded.tools, "add", { a: 1, b: 2 }))).toBe("3");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(warnings.some((line) => line.startsWith('MCP server "dying" exited'))).toBe(true);
  });

  it("an aborted call rejects at once", async () => {
    const loaded = await load(writeConfig({ mcpServers: { calc: stdioServer() } }));
    const controller = new AbortController();
    const pending = call(loaded.tools, "slow", { ms: 5000 }, controller.signal);
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toThrow(/^MCP tool "slow" \(server "calc"\) failed: /);
  });
});

describe("loadMcpTools over streamable HTTP", () => {
  let http: Awaited<ReturnType<typeof startHttpMcpServer>>;
  beforeAll(async () => {
    http = await startHttpMcpServer();
  });
  afterAll(() => http.close());

  it("loads the tools and calls them", async () => {
    const loaded = await load(writeConfig({ mcpServers: { remote: { url: http.url } } }));
    expect(loaded.servers).toEqual(["remote"]);
    expect(Object.keys(loaded.tools)).toContain("add");
    expect(textOf(await call(loaded.tools, "add", { a: 40, b: 2 }))).toBe("42");
    await expect(call(loaded.tools, "fail", {})).rejects.toThrow(
      'MCP tool "fail" (server "remote") failed: something went wrong on two lines',
    );
  });

  it("mixes with a stdio server, clashes prefixed", async () => {
    const loaded = await load(
      writeConfig({ mcpServers: { remote: { url: http.url }, local: stdioServer() } }),
    );
    expect(textOf(await call(loaded.tools, "remote_add", { a: 1, b: 1 }))).toBe("2");
    expect(textOf(await call(loaded.tools, "local_add", { a: 2, b: 2 }))).toBe("4");
  });
});

describe("loadMcpTools: bad input is one clear line", () => {
  async function failure(config: unknown, options: Parameters<typeof loadMcpTools>[1] = {}): Promise<Error> {
    const file = typeof config === "string" && config.startsWith("/") ? config : writeConfig(config);
    const error = await loadMcpTools(file, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).not.toContain("\n");
    return error as Error;
  }

  it("a file that is missing or not JSON", async () => {
    const missing = await failure(join(dir, "nope.json"));
    expect(missing).toBeInstanceOf(UsageError);
    expect(missing.message).toBe(`--mcp ${join(dir, "nope.json")}: no such file.`);
    const bad = await failure("{ not json");
    expect(bad).toBeInstanceOf(UsageError);
    expect(bad.message).toMatch(/^--mcp .*servers-\d+\.json: not valid JSON \(.+\)\.$/);
    const shape = await failure({ servers: {} });
    expect(shape.message).toMatch(/needs an object "mcpServers"/);
  });

  it("an entry with neither command nor url, or with bad fields", async () => {
    const none = await failure({ mcpServers: { files: { args: ["x"] } } });
    expect(none).toBeInstanceOf(UsageError);
    expect(none.message).toMatch(/^--mcp .*: server "files": needs "command" or "url"\.$/);
    expect((await failure({ mcpServers: { files: { command: "x", args: "y" } } })).message).toMatch(
      /server "files": "args" must be an array of strings/,
    );
    expect((await failure({ mcpServers: { web: { url: "not a url" } } })).message).toMatch(
      /server "web": "url" is not a URL/,
    );
    expect((await failure({ mcpServers: { web: { command: "x", url: "http://a" } } })).message).toMatch(
      /server "web": has both "command" and "url"/,
    );
    expect(
      (await failure({ mcpServers: { k: { command: "x", env: { K: "$" + "{RLM_MCP_SURELY_UNSET}" } } } }))
        .message,
    ).toMatch(/server "k": the environment variable RLM_MCP_SURELY_UNSET is not set/);
  });

  it("a command that does not exist", async () => {
    const error = await failure({ mcpServers: { ghost: { command: "rlm-no-such-command-xyz" } } });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(
      /^--mcp .*: server "ghost" did not start \("rlm-no-such-command-xyz"\): command not found \(.*ENOENT\)\.$/,
    );
  });

  it("a command that exits at once, and the servers already started are closed", async () => {
    const before = new Set(await childPids());
    const error = await failure({
      mcpServers: {
        good: stdioServer(),
        quitter: {
          command: process.execPath,
          args: ["-e", "console.error('bad config: no token'); process.exit(1)"],
        },
      },
    });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(
      /^--mcp .*: server "quitter" did not start \(".*"\): the process exited \(its last words: bad config: no token\)\.$/,
    );
    const after = (await childPids()).filter((pid) => !before.has(pid));
    for (const pid of after) expect(await gone(pid)).toBe(true);
  });

  it("a server that never answers: the start timeout", async () => {
    const error = await failure(
      { mcpServers: { mute: { command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] } } },
      { startTimeoutMs: 300 },
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/server "mute" did not start \(".*"\): no answer within 0\.3 s\.$/);
  });

  it("an unreachable URL", async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/mcp`;
    const error = await failure({ mcpServers: { remote: { url } } });
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(
      /^--mcp .*servers-\d+\.json: server "remote" did not start \(http:.*\): .*ECONNREFUSED.*\.$/,
    );
  });

  it("an abort while starting", async () => {
    const controller = new AbortController();
    const pending = loadMcpTools(
      writeConfig({
        mcpServers: { mute: { command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] } },
      }),
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toThrow();
  });
});
