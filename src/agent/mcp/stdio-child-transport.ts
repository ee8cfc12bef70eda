/**
 * The stdio transport for the AI SDK's MCP client: the official SDK's StdioClientTransport (spawn, framing,
 * a graceful close: stdin ended, then SIGTERM, then SIGKILL), wrapped so that we know the child's pid, whether it
 * is still running (to end it by that pid, sooner than the SDK would), and the tail of what it wrote to stderr (for the message when it does not start).
 */
import type { JSONRPCMessage, MCPTransport } from "@ai-sdk/mcp";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { StdioServerConfig } from "./mcp-config.ts";

const STDERR_TAIL = 4_000;
/** How long close() gives the child to exit once its stdin is closed, before a SIGTERM. */
const STDIN_GRACE_MS = 500;
/** How long close() waits after each signal (SIGTERM, then SIGKILL). */
const KILL_WAIT_MS = 1_500;

/**
 * The child's environment. By default the minimal one of the official SDK (HOME, LOGNAME, PATH, SHELL, TERM,
 * USER; the Windows equivalents there) with the entry's `env` over it: the user's API keys do not reach a server
 * unless the entry names them (`"KEY": "${KEY}"`) or asks for everything with `"inheritEnv": true`.
 */
export function childEnvironment(config: StdioServerConfig): Record<string, string> {
  const base: Record<string, string> = {};
  if (config.inheritEnv) {
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined) base[key] = value;
  } else {
    Object.assign(base, getDefaultEnvironment());
  }
  return { ...base, ...config.env };
}

export class StdioChildTransport implements MCPTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /** The child's pid once spawned. */
  pid: number | undefined;
  /** True once the child has exited (or never started). */
  exited = false;
  /** True once close() was called: an exit after it is expected. */
  closing = false;
  private stderrTail = "";
  private readonly inner: StdioClientTransport;
  private readonly exitListeners = new Set<() => void>();
  private closed: Promise<void> | undefined;

  constructor(config: StdioServerConfig) {
    this.inner = new StdioClientTransport({
      command: config.command,
      args: config.args,
      env: childEnvironment(config),
      stderr: "pipe",
      ...(config.cwd ? { cwd: config.cwd } : {}),
    });
    this.inner.stderr?.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-STDERR_TAIL);
    });
    this.inner.onclose = () => {
      this.markExited();
      this.onclose?.();
    };
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onmessage = (message) => this.onmessage?.(message as JSONRPCMessage);
  }

  /** The last non-empty line the child wrote to stderr, if any. */
  lastStderrLine(): string | undefined {
    const lines = this.stderrTail.split(/\r?\n/).filter((line) => line.trim() !== "");
    return lines.at(-1)?.trim();
  }

  async start(): Promise<void> {
    try {
      await this.inner.start();
    } catch (error) {
      this.markExited();
      throw error;
    }
    this.pid = this.inner.pid ?? undefined;
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.exited) return Promise.reject(new Error("the server process has exited"));
    return this.inner.send(message as Parameters<StdioClientTransport["send"]>[0]);
  }

  /** Ends the child: stdin closed, then SIGTERM, then SIGKILL, each to its own pid only while it runs. Idempotent. */
  close(): Promise<void> {
    this.closing = true;
    this.closed ??= this.closeOnce();
    return this.closed;
  }

  private async closeOnce(): Promise<void> {
    if (this.exited) return;
    // The SDK's close ends stdin and waits 2 s before its SIGTERM; we send our own sooner, to this pid only.
    const graceful = this.inner.close().catch(() => {});
    await this.waitForExit(STDIN_GRACE_MS);
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      if (this.exited || this.pid === undefined) break;
      try {
        process.kill(this.pid, signal);
      } catch {
        break; // already gone
      }
      await this.waitForExit(KILL_WAIT_MS);
    }
    await graceful;
  }

  /** Calls `listener` once when the child exits (at once if it has). */
  onExit(listener: () => void): void {
    if (this.exited) listener();
    else this.exitListeners.add(listener);
  }

  /** Resolves when the child has exited, or after `ms`. */
  waitForExit(ms: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.exitListeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.exitListeners.add(done);
    });
  }

  private markExited(): void {
    if (this.exited) return;
    this.exited = true;
    const listeners = [...this.exitListeners];
    this.exitListeners.clear();
    for (const listener of listeners) listener();
  }
}
