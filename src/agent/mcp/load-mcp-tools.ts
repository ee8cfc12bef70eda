/**
 * `--mcp FILE`: starts every MCP server of an `mcpServers` file through the AI SDK's MCP client (stdio children,
 * streamable HTTP) and hands back their tools as AI SDK tools, with one close() for all of them.
 *
 * - Names: a tool keeps its own name unless it clashes (with a tool of another server, or with `existingNames`):
 *   then every clashing MCP tool is renamed `server_tool` (the server's name cut down to [A-Za-z0-9_-]), with a
 *   warning. A tool name with other characters is cut down the same way.
 * - Errors: a file that does not parse, a bad entry, a server that does not start: one-line UsageError /
 *   ConfigError, the servers already started closed first. A tool call that fails (an isError result, a server
 *   that died, a timeout) throws an Error of one line from the tool's execute.
 * - Environment: a stdio child gets a minimal environment plus its entry's `env` (see stdio-child-transport.ts).
 */
import { createMCPClient, type MCPClient, type MCPTransport } from "@ai-sdk/mcp";
import type { Tool } from "ai";
import { ConfigError } from "../../errors/config-error.ts";
import { type McpServerConfig, readMcpConfig } from "./mcp-config.ts";
import { StdioChildTransport } from "./stdio-child-transport.ts";

export interface LoadMcpToolsOptions {
  /** Aborting it closes every server (while starting: the load fails). */
  signal?: AbortSignal;
  /** How long each server may take to start and list its tools (default 20 s). */
  startTimeoutMs?: number;
  /** Names already taken (built-in tools): an MCP tool of the same name is prefixed with its server's name. */
  existingNames?: string[];
  /** One line per thing worth telling the user: a renamed tool, a server that exited during the run. */
  onWarning?: (line: string) => void;
}

export interface McpTools {
  /** AI SDK tools by the name the model sees. */
  tools: Record<string, Tool>;
  /** The names of the servers started, in the file's order. */
  servers: string[];
  /** Closes every client and ends every stdio child; idempotent. */
  close(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 20_000;

interface StartedServer {
  config: McpServerConfig;
  client: MCPClient;
  /** The stdio child's transport; none for HTTP (the client owns it). */
  transport?: StdioChildTransport;
  tools: Record<string, Tool>;
}

function oneLine(text: string, max = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return oneLine(String(error));
  let message = error.message;
  // fetch's "fetch failed" says nothing; its cause says what (ECONNREFUSED, a DNS failure...).
  const cause = error.cause;
  if (cause instanceof Error && cause.message && !message.includes(cause.message)) {
    message = `${message}: ${cause.message}`;
  }
  return oneLine(message);
}

function sanitize(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9_-]/g, "_");
  return clean === "" ? "_" : clean;
}

/** The text of an MCP tool result's content, on one line. */
function resultText(result: { content?: unknown }): string {
  const parts = Array.isArray(result.content) ? result.content : [];
  const texts = parts.map((part: { type?: string; text?: string }) =>
    part?.type === "text" && typeof part.text === "string" ? part.text : `[${part?.type ?? "content"}]`,
  );
  return oneLine(texts.join(" "), 1_000);
}

/**
 * Wraps an MCP tool so that every failure is a thrown Error of one line: the AI SDK's MCP tools return an
 * isError result as a value, and reject with the client's own errors when the server is gone.
 */
function wrapTool(
  tool: Tool,
  server: string,
  toolName: string,
  child: StdioChildTransport | undefined,
): Tool {
  const execute = tool.execute;
  if (!execute) return tool;
  const where = `MCP tool "${toolName}" (server "${server}")`;
  return {
    ...tool,
    execute: async (input: unknown, options: Parameters<NonNullable<Tool["execute"]>>[1]) => {
      let result: unknown;
      try {
        result = await execute(input, options);
      } catch (error) {
        if (child?.exited && !child.closing) {
          const stderr = child.lastStderrLine();
          throw new Error(
            `${where} failed: the server process exited${stderr ? ` (its last words: ${oneLine(stderr, 200)})` : ""}`,
            { cause: error },
          );
        }
        throw new Error(`${where} failed: ${messageOf(error)}`, { cause: error });
      }
      if (
        typeof result === "object" &&
        result !== null &&
        (result as { isError?: unknown }).isError === true
      ) {
        throw new Error(
          `${where} failed: ${resultText(result as { content?: unknown }) || "an error, with no text"}`,
        );
      }
      return result;
    },
  } as Tool;
}

function transportFor(
  config: McpServerConfig,
): MCPTransport | { type: "http" | "sse"; url: string; headers: Record<string, string> } {
  if (config.kind === "stdio") return new StdioChildTransport(config);
  return { type: config.kind, url: config.url, headers: config.headers };
}

async function closeQuietly(server: { client?: MCPClient; transport?: StdioChildTransport }): Promise<void> {
  try {
    await server.client?.close();
  } catch {
    // the transport's close below is what matters
  }
  if (server.transport) {
    try {
      await server.transport.close();
    } catch {
      // nothing more to do
    }
  }
}

/** Starts one server and lists its tools; on failure it is closed and a ConfigError of one line is thrown. */
async function startServer(
  config: McpServerConfig,
  where: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onUncaughtError: (error: unknown) => void,
): Promise<StartedServer> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error("start timeout")), timeoutMs);
  const startSignal = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
  const transportOrConfig = transportFor(config);
  const transport = transportOrConfig instanceof StdioChildTransport ? transportOrConfig : undefined;
  let client: MCPClient | undefined;
  try {
    client = await createMCPClient({
      transport: transportOrConfig,
      clientName: "rlmkit",
      initializationOptions: { signal: startSignal },
      onUncaughtError,
    });
    const listed = await client.listTools({ options: { signal: startSignal } });
    const definitions = [...listed.tools];
    let cursor = listed.nextCursor;
    while (cursor != null) {
      const page = await client.listTools({ params: { cursor }, options: { signal: startSignal } });
      definitions.push(...page.tools);
      cursor = page.nextCursor;
    }
    const tools = client.toolsFromDefinitions({ ...listed, tools: definitions }) as Record<string, Tool>;
    return { config, client, ...(transport ? { transport } : {}), tools };
  } catch (error) {
    await closeQuietly({ ...(client ? { client } : {}), ...(transport ? { transport } : {}) });
    if (signal?.aborted) throw signal.reason ?? error;
    let reason: string;
    if (timeout.signal.aborted) {
      reason = `no answer within ${Math.round(timeoutMs / 100) / 10} s`;
    } else if (transport?.exited) {
      const stderr = transport.lastStderrLine();
      const code = (error as NodeJS.ErrnoException | undefined)?.code;
      reason =
        code === "ENOENT"
          ? `command not found (${messageOf(error)})`
          : code !== undefined && error instanceof Error && /spawn/.test(error.message)
            ? messageOf(error)
            : `the process exited${stderr ? ` (its last words: ${oneLine(stderr, 200)})` : ""}`;
    } else {
      reason = messageOf(error);
    }
    // a URL is shown without its query and credentials, where a key may sit
    const what =
      config.kind === "stdio"
        ? `"${config.command}"`
        : `${new URL(config.url).origin}${new URL(config.url).pathname}`;
    throw new ConfigError({
      message: `${where}: server "${config.name}" did not start (${what}): ${reason.replace(/\.+$/, "")}.`,
    });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Picks the name each tool gets: its own, unless another server has one of the same name or it is in `taken`;
 * then `server_tool` for every MCP tool of that name.
 */
function nameTools(
  servers: StartedServer[],
  taken: Set<string>,
  warn: (line: string) => void,
): Record<string, Tool> {
  const count = new Map<string, number>();
  for (const server of servers) {
    for (const name of Object.keys(server.tools)) {
      const clean = sanitize(name);
      count.set(clean, (count.get(clean) ?? 0) + 1);
    }
  }
  const out: Record<string, Tool> = {};
  const used = new Set(taken);
  for (const server of servers) {
    for (const [name, tool] of Object.entries(server.tools)) {
      const clean = sanitize(name);
      let chosen = clean;
      let why: string | undefined;
      if (taken.has(clean)) why = "a built-in tool has that name";
      else if ((count.get(clean) ?? 0) > 1) why = "another MCP server has a tool of that name";
      if (why) chosen = `${sanitize(server.config.name)}_${clean}`;
      if (used.has(chosen)) {
        let n = 2;
        while (used.has(`${chosen}_${n}`)) n++;
        chosen = `${chosen}_${n}`;
        why ??= "the name is taken";
      }
      if (chosen !== name) {
        warn(
          `MCP server "${server.config.name}": tool "${name}" is called "${chosen}" (${why ?? "the name may only have letters, digits, _ and -"}).`,
        );
      }
      used.add(chosen);
      out[chosen] = wrapTool(tool, server.config.name, name, server.transport);
    }
  }
  return out;
}

/**
 * Reads the `mcpServers` file, starts every server (at once, each within `startTimeoutMs`), and returns their
 * tools. Any failure closes what was started and throws one line naming the file and the server.
 */
export async function loadMcpTools(file: string, options: LoadMcpToolsOptions = {}): Promise<McpTools> {
  const where = `--mcp ${file}`;
  const warn = options.onWarning ?? (() => {});
  const { signal } = options;
  signal?.throwIfAborted();
  const configs = await readMcpConfig(file);
  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  let started = false;
  let closing = false;
  const reported = new Set<string>();
  const uncaught = (name: string) => (error: unknown) => {
    if (!started || closing) return;
    const line = `MCP server "${name}": ${messageOf(error)}`;
    if (reported.has(line)) return;
    reported.add(line);
    warn(line);
  };

  const outcomes = await Promise.allSettled(
    configs.map((config) => startServer(config, where, timeoutMs, signal, uncaught(config.name))),
  );
  const servers = outcomes.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing = true;
    signal?.removeEventListener("abort", onAbort);
    closed ??= Promise.all(servers.map((server) => closeQuietly(server))).then(() => {});
    return closed;
  };
  const onAbort = () => void close();

  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) {
    await close();
    throw failed.reason;
  }
  if (signal?.aborted) {
    await close();
    signal.throwIfAborted();
  }
  signal?.addEventListener("abort", onAbort, { once: true });

  for (const server of servers) {
    const transport = server.transport;
    if (transport) {
      transport.onExit(() => {
        if (!transport.closing && !closing) {
          const stderr = transport.lastStderrLine();
          warn(
            `MCP server "${server.config.name}" exited${stderr ? ` (its last words: ${oneLine(stderr, 200)})` : ""}; its tools will fail.`,
          );
        }
      });
    }
  }

  let tools: Record<string, Tool>;
  try {
    tools = nameTools(servers, new Set(options.existingNames ?? []), warn);
  } catch (error) {
    await close();
    throw error;
  }
  started = true;
  return { tools, servers: servers.map((server) => server.config.name), close };
}
