import { Semaphore } from "../../shared/semaphore.ts";
import type {
  CellLimit,
  CellResult,
  HostFunction,
  Sandbox,
  SandboxLimits,
  SandboxOptions,
  SandboxSession,
  VariableInfo,
} from "../../spec/sandbox.ts";
import { limitMessage } from "../cell-messages.ts";
import { DEFAULT_LIMITS } from "../isolated-vm/isolated-vm-sandbox.ts";
import {
  type ChildReply,
  PythonPool,
  type PythonProcess,
  type PythonProcessOptions,
  treeRss,
} from "./python-process.ts";

const WATCH_INTERVAL_MS = 50;

interface PythonCellReply {
  output?: string;
  cut?: number;
  error?: { name: string; message: string; line?: number | null; traceback?: string };
  final?: { value: unknown };
}

/** One Python REPL session in its own locked-down process. */
class PythonSession implements SandboxSession {
  private process!: PythonProcess;
  private readonly pool: PythonPool;
  private readonly options: SandboxOptions;
  private readonly limits: Required<SandboxLimits>;
  private readonly persistent = new Map<string, unknown>();
  private disposed = false;
  private restartPending = false;
  /** Cells and variable access run one at a time. */
  private readonly turn = new Semaphore(1);

  constructor(pool: PythonPool, options: SandboxOptions) {
    this.pool = pool;
    this.options = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const [name, value] of Object.entries(options.globals ?? {})) this.persistent.set(name, value);
  }

  private async expect(reply: Promise<ChildReply>, type: string): Promise<ChildReply> {
    const message = await reply;
    if (message.type !== type)
      throw new Error(`the Python process answered ${message.type}: ${String(message.error ?? "")}`);
    return message;
  }

  /** Takes a warm process, installs host functions and reinjects the inputs. */
  async start(): Promise<void> {
    this.process = await this.pool.take();
    const hostFunctions: Record<string, HostFunction> = this.options.hostFunctions ?? {};
    this.process.setHostFunctions(hostFunctions);
    this.process.ref();
    try {
      await this.expect(
        this.process.request({
          type: "setup",
          hostNames: Object.keys(hostFunctions),
          outputLimit: this.limits.outputLimitChars,
        }),
        "done",
      );
      for (const [name, value] of this.persistent) {
        await this.expect(this.process.request({ type: "set", name, value }), "done");
      }
      for (const code of this.options.setupCode ?? []) {
        const reply = await this.expect(this.process.request({ type: "execute", code }), "result");
        const error = (reply as unknown as PythonCellReply).error;
        if (error) throw new Error(`the Python setup code failed: ${error.name}: ${error.message}`);
      }
    } finally {
      this.process.unref();
    }
  }

  /** Throws after dispose; starts the replacement process after a kill. */
  private async ready(): Promise<void> {
    if (this.disposed) throw new Error("This sandbox session was disposed.");
    if (this.restartPending) {
      this.restartPending = false;
      await this.start();
    }
  }

  execute(code: string, options: { signal?: AbortSignal } = {}): Promise<CellResult> {
    return this.turn.run(() => this.runCell(code, options.signal));
  }

  private async runCell(code: string, signal: AbortSignal | undefined): Promise<CellResult> {
    await this.ready();
    const started = performance.now();
    const process = this.process;
    process.hostCallMs = 0;
    let limit: CellLimit | undefined;
    const stop = (reason: CellLimit) => {
      limit ??= reason;
      process.kill();
    };
    const pid = process.child.pid ?? 0;
    const watchdog = setInterval(() => {
      const busy = performance.now() - started - process.hostCallMs;
      if (busy > this.limits.cellTimeoutMs || performance.now() - started > this.limits.cellWallTimeoutMs)
        stop("time");
      else if (treeRss(pid) > this.limits.memoryLimitMb * 1024 * 1024) stop("memory");
    }, WATCH_INTERVAL_MS);
    const onAbort = () => stop("cancelled");
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    process.ref();
    let reply: ChildReply | undefined;
    let failure: string | undefined;
    try {
      reply = await process.request({ type: "execute", code });
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    } finally {
      clearInterval(watchdog);
      signal?.removeEventListener("abort", onAbort);
      process.unref();
    }
    const durationMs = performance.now() - started;
    if (reply !== undefined && reply.type === "result") {
      const cell = reply as unknown as PythonCellReply;
      const traceback = cell.error?.traceback
        ? `\nTraceback (most recent call last):\n${cell.error.traceback}`
        : "";
      return {
        output: `${cell.output ?? ""}${traceback}`,
        truncatedChars: cell.cut ?? 0,
        stateLost: false,
        durationMs,
        ...(cell.error
          ? {
              error: {
                name: cell.error.name,
                message: cell.error.message,
                ...(cell.error.line ? { line: cell.error.line } : {}),
              },
            }
          : {}),
        ...(cell.final ? { final: { value: cell.final.value } } : {}),
      };
    }
    // The process was stopped (a limit) or died (a crash): a fresh one with the inputs is started before the next
    // use, so a cancelled run does not wait for it.
    const reason: CellLimit = limit ?? "memory";
    const crashed = limit === undefined;
    process.kill();
    this.restartPending = true;
    const message = limitMessage(reason, {
      seconds: this.limits.cellTimeoutMs / 1000,
      memoryMb: this.limits.memoryLimitMb,
      stateLost: true,
    });
    return {
      output: "",
      truncatedChars: 0,
      stateLost: true,
      durationMs,
      limit: reason,
      error: crashed
        ? { name: "SandboxCrash", message: `${failure ?? "the Python process ended"}. ${message.message}` }
        : message,
    };
  }

  getVariable(name: string): Promise<{ value: unknown } | undefined> {
    return this.turn.run(async () => {
      await this.ready();
      const reply = await this.expect(this.process.request({ type: "get", name }), "value");
      return "value" in reply ? { value: reply.value } : undefined;
    });
  }

  setVariable(name: string, value: unknown): Promise<void> {
    return this.turn.run(async () => {
      await this.ready();
      this.persistent.set(name, value);
      this.process.ref();
      try {
        await this.expect(this.process.request({ type: "set", name, value }), "done");
      } finally {
        this.process.unref();
      }
    });
  }

  listVariables(): Promise<VariableInfo[]> {
    return this.turn.run(async () => {
      await this.ready();
      const reply = await this.expect(this.process.request({ type: "list" }), "value");
      return reply.value as VariableInfo[];
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    (this.process as PythonProcess | undefined)?.kill();
  }
}

export interface PythonSandboxOptions extends PythonProcessOptions {
  limits?: SandboxLimits;
}

const pools = new Map<string, PythonPool>();

/** One pool per packages folder, shared by every Python sandbox of this process. */
function poolFor(options: PythonProcessOptions): PythonPool {
  const key = options.packagesDirectory ?? "";
  let pool = pools.get(key);
  if (pool === undefined) {
    pool = new PythonPool(options);
    pools.set(key, pool);
  }
  return pool;
}

/**
 * The Python sandbox: CPython (Pyodide, WASM) in a child process under Node's permission model, with code
 * generation from strings off, network and process functions removed, and on Linux its own empty network and pid
 * namespaces. Its only way out is a pipe to this process. A warm process starts loading as soon as the sandbox is
 * created and one is kept in reserve.
 */
export function createPythonSandbox(options: PythonSandboxOptions = {}): Sandbox {
  const pool = poolFor(options);
  pool.warm();
  return {
    name: "python",
    language: "python",
    isolated: true,
    async create(sessionOptions: SandboxOptions = {}) {
      const session = new PythonSession(pool, {
        ...sessionOptions,
        limits: { ...options.limits, ...sessionOptions.limits },
      });
      await session.start();
      return session;
    },
  };
}

/** Starts a Python process in the background, so the first session does not wait for Pyodide to load. */
export function warmPythonSandbox(options: PythonProcessOptions = {}): void {
  poolFor(options).warm();
}
