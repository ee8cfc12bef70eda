import type { Context, ExternalCopy, Isolate } from "isolated-vm";
import { ConfigError } from "../../errors/config-error.ts";
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
import { limitMessage, lineFromStack } from "../cell-messages.ts";
import { ASYNC_PREFIX, transformCell } from "../cell-transform.ts";
import { guestPrelude } from "../guest-prelude.ts";

type IsolatedVm = typeof import("isolated-vm");

export const DEFAULT_LIMITS: Required<SandboxLimits> = {
  cellTimeoutMs: 30_000,
  cellWallTimeoutMs: 3_600_000,
  memoryLimitMb: 1024,
  outputLimitChars: 20_000,
};

/** How often the watchdog looks at a running cell. */
const WATCH_INTERVAL_MS = 25;
/** CPU time past the limit before the watchdog disposes the isolate (the isolate's own timeout goes first). */
const WATCHDOG_GRACE_MS = 250;
/** A cell with no CPU use and no host call for this long is waiting on nothing. */
const STUCK_AFTER_MS = 1_000;

interface GuestCellResult {
  output: string;
  cut: number;
  error?: { name: string; message: string; stack: string };
  final?: { value: unknown };
}

let loading: Promise<IsolatedVm> | undefined;

function loadIsolatedVm(): Promise<IsolatedVm> {
  loading ??= import("isolated-vm").then(
    (module) => ((module as { default?: IsolatedVm }).default ?? module) as IsolatedVm,
    (error: unknown) => {
      loading = undefined;
      throw new ConfigError({
        message: `The isolated-vm sandbox could not load its native module (${(error as Error).message}). Reinstall with \`npm install\` on Node 22 or 24.`,
        cause: error,
      });
    },
  );
  return loading;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One REPL session in its own V8 isolate. */
class IsolatedVmSession implements SandboxSession {
  private isolate!: Isolate;
  private context!: Context;
  private readonly persistent = new Map<string, ExternalCopy>();
  private readonly hostNames: string[];
  private readonly limits: Required<SandboxLimits>;
  private cells = 0;
  private inFlight = 0;
  private lastActivity = 0;
  private disposed = false;
  /** Cells and variable access run one at a time. */
  private readonly turn = new Semaphore(1);

  private readonly ivm: IsolatedVm;
  private readonly options: SandboxOptions;

  constructor(ivm: IsolatedVm, options: SandboxOptions) {
    this.ivm = ivm;
    this.options = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.hostNames = Object.keys(options.hostFunctions ?? {});
    for (const [name, value] of Object.entries(options.globals ?? {})) {
      this.persistent.set(name, new ivm.ExternalCopy(value));
    }
  }

  /** Creates the isolate, runs the prelude, installs host functions and the persistent inputs. */
  async start(): Promise<void> {
    this.isolate = new this.ivm.Isolate({ memoryLimit: this.limits.memoryLimitMb });
    this.context = await this.isolate.createContext();
    await this.context.eval(guestPrelude(this.limits.outputLimitChars));
    for (const [name, fn] of Object.entries(this.options.hostFunctions ?? {})) await this.install(name, fn);
    for (const [name, copy] of this.persistent) {
      await this.context.global.set(name, copy.copyInto({ transferIn: false }));
    }
    for (const code of this.options.setupCode ?? []) await this.context.eval(code);
  }

  private async callHost(fn: HostFunction, args: unknown[]): Promise<unknown> {
    this.inFlight++;
    this.lastActivity = performance.now();
    try {
      return await fn(...args);
    } catch (error) {
      throw new Error(errorText(error));
    } finally {
      this.inFlight--;
      this.lastActivity = performance.now();
    }
  }

  /** A value the blocking call path can hand back: primitives as they are, anything else as a copy. */
  private transferable(value: unknown): unknown {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return value;
    try {
      return new this.ivm.ExternalCopy(value).copyInto({ release: true });
    } catch {
      return String(value);
    }
  }

  private async install(name: string, fn: HostFunction): Promise<void> {
    const blocking = async (...args: unknown[]) => this.transferable(await this.callHost(fn, args));
    const concurrent = (...args: unknown[]) => this.callHost(fn, args);
    await this.context.evalClosure(
      `const define = (key, value) => Object.defineProperty(globalThis, key, { value, writable: true, configurable: true, enumerable: false });
      define(${JSON.stringify(name)}, (...args) => $0.applySyncPromise(undefined, args, { arguments: { copy: true } }));
      define(${JSON.stringify(ASYNC_PREFIX + name)}, (...args) => $1.apply(undefined, args, { arguments: { copy: true }, result: { promise: true, copy: true } }));`,
      [blocking, concurrent],
      { arguments: { reference: true } },
    );
  }

  private async restart(): Promise<void> {
    if (!this.isolate.isDisposed) this.isolate.dispose();
    await this.start();
  }

  private assertOpen(): void {
    if (this.disposed) throw new Error("This sandbox session was disposed.");
  }

  execute(code: string, options: { signal?: AbortSignal } = {}): Promise<CellResult> {
    return this.turn.run(() => this.runCell(code, options.signal));
  }

  private async runCell(code: string, signal: AbortSignal | undefined): Promise<CellResult> {
    this.assertOpen();
    const started = performance.now();
    const result = (fields: Partial<CellResult>): CellResult => ({
      output: "",
      truncatedChars: 0,
      stateLost: false,
      durationMs: performance.now() - started,
      ...fields,
    });
    const transformed = transformCell(code, this.hostNames);
    if (!transformed.ok) return result({ error: transformed.error });

    const filename = `cell-${++this.cells}.js`;
    const isolate = this.isolate;
    let script: Awaited<ReturnType<Isolate["compileScript"]>>;
    try {
      script = await isolate.compileScript(transformed.cell.script, { filename });
    } catch (error) {
      return result({ error: { name: "SyntaxError", message: errorText(error) } });
    }

    let stop: (limit: CellLimit) => void = () => {};
    const stopped = new Promise<CellLimit>((resolve) => {
      stop = (limit) => {
        if (limit !== "stuck" && !isolate.isDisposed) isolate.dispose();
        resolve(limit);
      };
    });
    const cpuStart = isolate.cpuTime;
    let lastCpu = cpuStart;
    this.lastActivity = performance.now();
    const watchdog = setInterval(() => {
      if (isolate.isDisposed) return;
      const now = performance.now();
      const cpu = isolate.cpuTime;
      if (Number(cpu - cpuStart) / 1e6 > this.limits.cellTimeoutMs + WATCHDOG_GRACE_MS) stop("time");
      else if (now - started > this.limits.cellWallTimeoutMs) stop("time");
      else if (cpu !== lastCpu) {
        lastCpu = cpu;
        this.lastActivity = now;
      } else if (this.inFlight === 0 && now - this.lastActivity > STUCK_AFTER_MS) stop("stuck");
    }, WATCH_INTERVAL_MS);
    const onAbort = () => stop("cancelled");
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });

    const run = script
      .run(this.context, { timeout: this.limits.cellTimeoutMs, promise: true, copy: true })
      .then(
        (value) => ({ value: value as GuestCellResult }),
        (error: unknown) => ({ error }),
      );
    const outcome = await Promise.race([run, stopped.then((limit) => ({ limit }))]);
    clearInterval(watchdog);
    signal?.removeEventListener("abort", onAbort);
    script.release();

    if ("value" in outcome && outcome.value) return this.cellResult(outcome.value, filename, result);
    let limit: CellLimit;
    if ("limit" in outcome) limit = outcome.limit;
    else {
      const message = "error" in outcome ? errorText(outcome.error) : "the cell returned no result";
      if (isolate.isDisposed) limit = /memory limit/i.test(message) ? "memory" : "time";
      else if (/timed out/i.test(message)) limit = "time";
      else return result({ error: { name: "Error", message } });
    }
    const stateLost = isolate.isDisposed;
    let partial: GuestCellResult | undefined;
    if (stateLost) await this.restart();
    else partial = await this.partialOutput();
    return result({
      output: partial?.output ?? "",
      truncatedChars: partial?.cut ?? 0,
      limit,
      stateLost,
      error: limitMessage(limit, {
        seconds: this.limits.cellTimeoutMs / 1000,
        memoryMb: this.limits.memoryLimitMb,
        stateLost,
      }),
    });
  }

  private async partialOutput(): Promise<GuestCellResult | undefined> {
    try {
      return (await this.context.eval("__rlm.partial()", { copy: true, timeout: 1000 })) as GuestCellResult;
    } catch {
      return undefined;
    }
  }

  private cellResult(
    guest: GuestCellResult,
    filename: string,
    result: (fields: Partial<CellResult>) => CellResult,
  ): CellResult {
    let error: CellError | undefined;
    if (guest.error) {
      const line = lineFromStack(guest.error.stack, filename);
      error = {
        name: guest.error.name,
        message: guest.error.message,
        ...(line === undefined ? {} : { line }),
      };
    }
    return result({
      output: String(guest.output ?? ""),
      truncatedChars: Number(guest.cut ?? 0),
      ...(error ? { error } : {}),
      ...(guest.final ? { final: { value: guest.final.value } } : {}),
    });
  }

  getVariable(name: string): Promise<{ value: unknown } | undefined> {
    return this.turn.run(async () => {
      this.assertOpen();
      const read = await this.context.evalClosure("return __rlm.read($0)", [name], {
        arguments: { copy: true },
        result: { copy: true },
      });
      return (read as { value: unknown } | undefined) ?? undefined;
    });
  }

  setVariable(name: string, value: unknown): Promise<void> {
    return this.turn.run(async () => {
      this.assertOpen();
      const copy = new this.ivm.ExternalCopy(value);
      this.persistent.get(name)?.release();
      this.persistent.set(name, copy);
      await this.context.global.set(name, copy.copyInto({ transferIn: false }));
    });
  }

  listVariables(): Promise<VariableInfo[]> {
    return this.turn.run(async () => {
      this.assertOpen();
      return (await this.context.eval("__rlm.describe()", { copy: true })) as VariableInfo[];
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const isolate = this.isolate as Isolate | undefined;
    if (isolate !== undefined && !isolate.isDisposed) isolate.dispose();
    for (const copy of this.persistent.values()) copy.release();
    this.persistent.clear();
  }
}

/**
 * The default sandbox: each session is a separate V8 isolate (isolated-vm) with its own heap and no access to
 * Node: no require, process, files, network or timers. Host functions are the only way out, and they see copies.
 */
export function createIsolatedVmSandbox(defaults: SandboxLimits = {}): Sandbox {
  return {
    name: "isolated-vm",
    language: "javascript",
    isolated: true,
    async create(options: SandboxOptions = {}) {
      const ivm = await loadIsolatedVm();
      const session = new IsolatedVmSession(ivm, { ...options, limits: { ...defaults, ...options.limits } });
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
