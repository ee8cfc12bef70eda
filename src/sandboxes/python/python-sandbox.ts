import { Semaphore } from "../../shared/semaphore.ts";
import type {
  CellError,
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
import { limitOutput } from "../output-limit.ts";
import {
  type ChildReply,
  type HostRequest,
  MAX_VALUE_CHARS,
  ProtocolViolation,
  PythonPool,
  type PythonProcess,
  type PythonProcessOptions,
  treeRss,
} from "./python-process.ts";

const WATCH_INTERVAL_MS = 50;
/** The most characters of a guest traceback shown after the output. */
const TRACEBACK_CHARS = 4000;
/** The most characters of a guest error's name. */
const ERROR_NAME_CHARS = 200;

/**
 * Why a request got no usable reply: a limit, a broken protocol, the process ending on its own (a crash), or the
 * child's runtime reporting that it failed.
 */
type Stop =
  | { kind: "limit"; limit: CellLimit; seconds: number }
  | { kind: "violation"; reason: string }
  | { kind: "crash"; message: string }
  | { kind: "failure"; message: string };

type Outcome = { reply: ChildReply; durationMs: number } | { stop: Stop; durationMs: number };

const SURVIVAL =
  "The sandbox was restarted: every variable is gone except the inputs (such as context); recreate what you need.";

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

  /**
   * Sends one request under the watchdog: CPU-ish time (wall time less time spent waiting for host calls), wall
   * time and memory are checked, and the process is killed when one runs over, or when `signal` aborts. Every
   * kind of request goes through here: guest code can run inside any of them (a __repr__, a __len__, a prelude
   * function the guest replaced). The request holds the process referenced, so the parent waits for the reply.
   * Any outcome but a reply leaves the process dead and a restart pending.
   */
  private async guarded(request: HostRequest, signal?: AbortSignal): Promise<Outcome> {
    const started = performance.now();
    const process = this.process;
    process.resetHostWait();
    let limit: { limit: CellLimit; seconds: number } | undefined;
    const stop = (reason: CellLimit, seconds = 0) => {
      limit ??= { limit: reason, seconds };
      process.kill();
    };
    const { cellTimeoutMs, cellWallTimeoutMs, memoryLimitMb } = this.limits;
    const watchdog = setInterval(() => {
      const elapsed = performance.now() - started;
      if (elapsed > cellWallTimeoutMs) stop("time", cellWallTimeoutMs / 1000);
      else if (elapsed - process.hostWaitMs() > cellTimeoutMs) stop("time", cellTimeoutMs / 1000);
      else if (treeRss(process.pid) > memoryLimitMb * 1024 * 1024) stop("memory");
    }, WATCH_INTERVAL_MS);
    const onAbort = () => stop("cancelled");
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let reply: ChildReply | undefined;
    let failure: unknown;
    try {
      reply = await process.request(request);
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(watchdog);
      signal?.removeEventListener("abort", onAbort);
    }
    const durationMs = performance.now() - started;
    // A reply that raced the kill still counts as stopped: the process (and its state) is gone either way.
    if (reply !== undefined && limit === undefined) return { reply, durationMs };
    process.kill();
    this.restartPending = true;
    if (limit !== undefined) return { stop: { kind: "limit", ...limit }, durationMs };
    if (failure instanceof ProtocolViolation)
      return { stop: { kind: "violation", reason: failure.message }, durationMs };
    const message = failure instanceof Error ? failure.message : "the Python process ended";
    return { stop: { kind: "crash", message }, durationMs };
  }

  /** The error a stopped request is reported with (as a cell error, or in a rejection). */
  private stopError(stop: Stop): CellError {
    switch (stop.kind) {
      case "limit":
        return limitMessage(stop.limit, {
          seconds: stop.seconds,
          memoryMb: this.limits.memoryLimitMb,
          stateLost: true,
        });
      case "violation":
        return {
          name: "SandboxProtocolError",
          message: `${capitalized(stop.reason)}, which breaks the sandbox protocol, so it was stopped. ${SURVIVAL}`,
        };
      case "crash":
      case "failure":
        return { name: "SandboxCrash", message: `${stop.message}. ${SURVIVAL}` };
    }
  }

  /** Throws a clear error for a request other than a cell that did not get its reply. */
  private failed(what: string, outcome: Outcome): never {
    if ("reply" in outcome) {
      const reason =
        outcome.reply.type === "error" ? outcome.reply.error : `an unexpected ${outcome.reply.type}`;
      throw new Error(`${what} failed: ${reason}`);
    }
    const error = this.stopError(outcome.stop);
    if (outcome.stop.kind === "limit" && outcome.stop.limit === "time")
      throw new Error(`${what} ran past the sandbox's time limit of ${outcome.stop.seconds} s. ${SURVIVAL}`);
    throw new Error(`${what} failed: ${error.name}: ${error.message}`);
  }

  /** Takes a warm process, installs host functions and reinjects the inputs. */
  async start(): Promise<void> {
    this.process = await this.pool.take();
    // Until this start completes, the next use starts again from a fresh process.
    this.restartPending = true;
    try {
      await this.install();
    } catch (error) {
      this.process.kill();
      throw error;
    }
    this.restartPending = false;
  }

  private async install(): Promise<void> {
    const hostFunctions: Record<string, HostFunction> = this.options.hostFunctions ?? {};
    this.process.setHostFunctions(hostFunctions);
    const setup = await this.guarded({
      type: "setup",
      hostNames: Object.keys(hostFunctions),
      outputLimit: this.limits.outputLimitChars,
      maxValueChars: MAX_VALUE_CHARS,
    });
    if (!("reply" in setup) || setup.reply.type !== "done") this.failed("Starting the Python sandbox", setup);
    for (const [name, value] of this.persistent) {
      const set = await this.guarded({ type: "set", name, value });
      if (!("reply" in set) || set.reply.type !== "done")
        this.failed(`Setting the Python input ${name}`, set);
    }
    for (const code of this.options.setupCode ?? []) {
      const run = await this.guarded({ type: "execute", code });
      if (!("reply" in run) || run.reply.type !== "result") this.failed("The Python setup code", run);
      if (run.reply.error)
        throw new Error(`the Python setup code failed: ${run.reply.error.name}: ${run.reply.error.message}`);
    }
  }

  /** Throws after dispose; starts the replacement process after a kill. */
  private async ready(): Promise<void> {
    if (this.disposed) throw new Error("This sandbox session was disposed.");
    if (this.restartPending) await this.start();
  }

  execute(code: string, options: { signal?: AbortSignal } = {}): Promise<CellResult> {
    return this.turn.run(() => this.runCell(code, options.signal));
  }

  private async runCell(code: string, signal: AbortSignal | undefined): Promise<CellResult> {
    await this.ready();
    const outcome = await this.guarded({ type: "execute", code }, signal);
    if ("reply" in outcome && outcome.reply.type === "result") return this.cellResult(outcome.reply, outcome);
    // The process was stopped (a limit, a broken protocol) or died (a crash), or its runtime failed: a fresh one
    // with the inputs is started before the next use, so a cancelled run does not wait for it.
    let stop: Stop;
    if ("stop" in outcome) stop = outcome.stop;
    else {
      this.process.kill();
      this.restartPending = true;
      const detail = outcome.reply.type === "error" ? outcome.reply.error : outcome.reply.type;
      stop = { kind: "failure", message: `the Python runtime failed: ${detail}` };
    }
    return {
      output: "",
      truncatedChars: 0,
      stateLost: true,
      durationMs: outcome.durationMs,
      ...(stop.kind === "limit" ? { limit: stop.limit } : {}),
      // A crash is most often memory running out inside WASM, where our own watchdog did not see it first.
      ...(stop.kind === "crash" ? { limit: "memory" as const } : {}),
      error: this.stopError(stop),
    };
  }

  /** A cell's reply made safe to show: output, traceback and error cut here, whatever the guest reported. */
  private cellResult(
    reply: Extract<ChildReply, { type: "result" }>,
    outcome: { durationMs: number },
  ): CellResult {
    const outputLimit = this.limits.outputLimitChars;
    const { output, truncatedChars } = limitOutput(reply.output, outputLimit, reply.cut);
    const error = reply.error;
    const tracebackChars = Math.min(TRACEBACK_CHARS, Math.max(200, Math.floor(outputLimit / 2)));
    const traceback = error?.traceback
      ? `\nTraceback (most recent call last):\n${error.traceback.slice(-tracebackChars)}`
      : "";
    return {
      output: `${output}${traceback}`,
      truncatedChars,
      stateLost: false,
      durationMs: outcome.durationMs,
      ...(error
        ? {
            error: {
              name: error.name.slice(0, ERROR_NAME_CHARS),
              message: limitOutput(error.message, outputLimit).output,
              ...(error.line !== undefined && Number.isSafeInteger(error.line) && error.line > 0
                ? { line: error.line }
                : {}),
            },
          }
        : {}),
      ...(reply.final ? { final: { value: reply.final.value } } : {}),
    };
  }

  getVariable(name: string): Promise<{ value: unknown } | undefined> {
    return this.turn.run(async () => {
      await this.ready();
      const outcome = await this.guarded({ type: "get", name, maxChars: MAX_VALUE_CHARS });
      if (!("reply" in outcome) || outcome.reply.type !== "value")
        this.failed(`Reading the Python variable ${name}`, outcome);
      return outcome.reply.found ? { value: outcome.reply.value } : undefined;
    });
  }

  setVariable(name: string, value: unknown): Promise<void> {
    return this.turn.run(async () => {
      await this.ready();
      this.persistent.set(name, value);
      const outcome = await this.guarded({ type: "set", name, value });
      if (!("reply" in outcome) || outcome.reply.type !== "done")
        this.failed(`Setting the Python variable ${name}`, outcome);
    });
  }

  listVariables(): Promise<VariableInfo[]> {
    return this.turn.run(async () => {
      await this.ready();
      const outcome = await this.guarded({ type: "list", maxChars: MAX_VALUE_CHARS });
      if (!("reply" in outcome) || outcome.reply.type !== "value")
        this.failed("Listing the Python variables", outcome);
      const list = variableList(outcome.reply.value);
      if (list === undefined) throw new Error("Listing the Python variables failed: the list was malformed");
      return list;
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    (this.process as PythonProcess | undefined)?.kill();
  }
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The variable list as the guest reported it, if it has the right shape. */
function variableList(value: unknown): VariableInfo[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const list: VariableInfo[] = [];
  for (const entry of value as unknown[]) {
    if (typeof entry !== "object" || entry === null) return undefined;
    const { name, type, size } = entry as Record<string, unknown>;
    if (typeof name !== "string" || typeof type !== "string") return undefined;
    if (size !== undefined && typeof size !== "number") return undefined;
    list.push({ name, type, ...(typeof size === "number" ? { size } : {}) });
  }
  return list;
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
 * namespaces. Its only way out is a pipe to this process, on which every message it sends is signed and checked.
 * A warm process starts loading as soon as the sandbox is created and one is kept in reserve.
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
      try {
        await session.start();
      } catch (error) {
        session.dispose();
        throw error;
      }
      return session;
    },
  };
}

/** Starts a Python process in the background, so the first session does not wait for Pyodide to load. */
export function warmPythonSandbox(options: PythonProcessOptions = {}): void {
  poolFor(options).warm();
}
