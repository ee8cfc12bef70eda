import type { Context, ExternalCopy, Isolate, Reference, Script } from "isolated-vm";
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
import {
  droppedCallsNote,
  LEFTOVER_WORK,
  limitMessage,
  lineFromStack,
  restartedBeforeCellMessage,
  scrubHostPaths,
} from "../cell-messages.ts";
import { transformCell } from "../cell-transform.ts";
import {
  guestPrelude,
  HOST_IN_FLIGHT_CHARS,
  LISTED_VARIABLES_LIMIT,
  PRELUDE_FILENAME,
  type PreludeFunction,
  VALUE_LIMIT_CHARS,
} from "../guest-prelude.ts";
import { limitOutput } from "../output-limit.ts";

type IsolatedVm = typeof import("isolated-vm");

export const DEFAULT_LIMITS: Required<SandboxLimits> = {
  cellTimeoutMs: 30_000,
  cellWallTimeoutMs: 3_600_000,
  memoryLimitMb: 1024,
  outputLimitChars: 20_000,
};

/** How often the watchdog looks at the isolate. */
const WATCH_INTERVAL_MS = 25;
/** CPU time past an allowance before the watchdog disposes the isolate (the isolate's own timeout goes first). */
const WATCHDOG_GRACE_MS = 250;
/** A cell with no CPU use and no host call for this long is waiting on nothing. */
const STUCK_AFTER_MS = 1_000;
/** CPU the isolate may use between operations. Nothing of the guest's should run then; this absorbs V8's housekeeping. */
const IDLE_CPU_ALLOWANCE_MS = 1_000;
/** Host-side reads (getVariable, listVariables, partial output) get the cell's CPU limit, within these bounds. */
const READ_TIMEOUT_MIN_MS = 1_000;
const READ_TIMEOUT_MAX_MS = 5_000;
/** Longest error name or variable name the host passes on. */
const NAME_LIMIT_CHARS = 200;
/** Longest host error message handed to the guest. */
const HOST_MESSAGE_LIMIT_CHARS = 10_000;
/** Error names the guest may see for a host error (anything else becomes "Error"). */
const ERROR_NAME = /^[A-Za-z_$][\w$]{0,63}$/;

/** The answer of a host function as it crosses into the guest: host functions never throw across the boundary. */
type Envelope = { ok: true; value: unknown } | { ok: false; name: string; message: string };

/** A promise that never settles: what a host call made outside its cell resolves to, so nothing is delivered. */
const NEVER = new Promise<never>(() => {});

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
  try {
    return error instanceof Error ? String(error.message) : String(error);
  } catch {
    return "unknown error";
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/** At most `limit` characters of a name, marked when cut. */
function clipName(name: string, limit = NAME_LIMIT_CHARS): string {
  return name.length <= limit ? name : `${name.slice(0, limit)}…`;
}

/** What a failing host function tells the guest: its error's name and message, without host paths or stack. */
function hostErrorEnvelope(error: unknown): Envelope {
  let name = "Error";
  try {
    if (error instanceof Error && ERROR_NAME.test(error.name)) name = error.name;
  } catch {
    // a getter that throws: keep "Error"
  }
  const message = scrubHostPaths(limitOutput(errorText(error), HOST_MESSAGE_LIMIT_CHARS).output);
  return { ok: false, name, message };
}

/** What the watchdog enforces while it is armed. */
interface Allowance {
  /** CPU time the isolate may use, from when the allowance was armed. */
  cpuMs: number;
  /** Wall time, from when the allowance was armed. */
  wallMs: number;
  /** Called once the allowance is used up; the isolate is disposed by then. */
  onOverrun: () => void;
  /** Called on every check within the allowance. */
  onCheck?: (cpu: bigint, now: number) => void;
  /** Host time charged to the operation besides the isolate's own CPU (host functions' work for it). */
  chargedMs?: () => number;
}

/**
 * Keeps every moment an isolate runs under a CPU budget. One timer for the isolate's whole life: each operation
 * that lets guest code run (a cell, a host-side read, the setup) arms its own allowance, and between operations
 * the idle allowance applies, counted afresh from the end of the last one. Going over an allowance disposes the
 * isolate, the one way to stop code that is not under isolated-vm's own timeout (a continuation resumed by a
 * host call's answer, or code that runs while the host waits to compile the next cell).
 */
class Watchdog {
  private allowance: Allowance;
  private cpuStart = 0n;
  private wallStart = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly isolate: Isolate;
  private readonly idle: Allowance;

  constructor(isolate: Isolate, idle: Allowance) {
    this.isolate = isolate;
    this.idle = idle;
    this.allowance = idle;
    this.arm(idle);
    this.timer = setInterval(() => this.check(), WATCH_INTERVAL_MS);
    // An idle session must not keep the process alive.
    this.timer.unref();
  }

  /** Runs `work` under `allowance`; afterwards the idle allowance applies again. */
  async under<T>(allowance: Allowance, work: () => Promise<T>): Promise<T> {
    this.arm(allowance);
    try {
      return await work();
    } finally {
      this.arm(this.idle);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private arm(allowance: Allowance): void {
    this.allowance = allowance;
    this.cpuStart = this.cpuTime() ?? 0n;
    this.wallStart = performance.now();
  }

  private cpuTime(): bigint | undefined {
    if (this.isolate.isDisposed) return undefined;
    try {
      return this.isolate.cpuTime;
    } catch {
      return undefined;
    }
  }

  private check(): void {
    const cpu = this.cpuTime();
    if (cpu === undefined) {
      this.stop();
      return;
    }
    const now = performance.now();
    const allowance = this.allowance;
    const used = Number(cpu - this.cpuStart) / 1e6 + (allowance.chargedMs?.() ?? 0);
    if (used > allowance.cpuMs || now - this.wallStart > allowance.wallMs) {
      this.stop();
      this.isolate.dispose();
      allowance.onOverrun();
      return;
    }
    allowance.onCheck?.(cpu, now);
  }
}

/** A host function as the guest gets it: the blocking call and its concurrent twin, both answering envelopes. */
interface HostBinding {
  name: string;
  blocking: (...args: unknown[]) => Promise<unknown>;
  concurrent: (...args: unknown[]) => Promise<unknown>;
}

/** What a Guest is started with. */
interface GuestSetup {
  limits: Required<SandboxLimits>;
  hostFunctions: HostBinding[];
  inputs: Map<string, ExternalCopy>;
  setupCode: string[];
  /** The isolate used CPU between operations beyond the idle allowance, and was disposed. */
  onIdleOverrun: () => void;
}

/**
 * One isolate with the prelude loaded, the host functions installed and the inputs set, and the watchdog that
 * keeps it under a budget. The host reaches the prelude only through References taken before any guest code ran.
 */
class Guest {
  readonly isolate: Isolate;
  readonly watchdog: Watchdog;
  private context: Context | undefined;
  private prelude: Partial<Record<PreludeFunction, Reference>> = {};
  private readonly references: Reference[] = [];
  private readonly readTimeoutMs: number;

  private constructor(ivm: IsolatedVm, setup: GuestSetup) {
    this.isolate = new ivm.Isolate({ memoryLimit: setup.limits.memoryLimitMb });
    this.watchdog = new Watchdog(this.isolate, {
      cpuMs: IDLE_CPU_ALLOWANCE_MS,
      wallMs: Number.POSITIVE_INFINITY,
      onOverrun: setup.onIdleOverrun,
    });
    this.readTimeoutMs = Math.min(
      READ_TIMEOUT_MAX_MS,
      Math.max(READ_TIMEOUT_MIN_MS, setup.limits.cellTimeoutMs),
    );
  }

  static async start(ivm: IsolatedVm, setup: GuestSetup): Promise<Guest> {
    const guest = new Guest(ivm, setup);
    try {
      const setupCpuMs =
        guest.readTimeoutMs + setup.limits.cellTimeoutMs * setup.setupCode.length + WATCHDOG_GRACE_MS;
      await guest.watchdog.under(
        { cpuMs: setupCpuMs, wallMs: Number.POSITIVE_INFINITY, onOverrun: () => {} },
        () => guest.load(ivm, setup),
      );
      return guest;
    } catch (error) {
      guest.dispose();
      throw error;
    }
  }

  get isDisposed(): boolean {
    return this.isolate.isDisposed;
  }

  /** Runs the prelude and keeps References to its functions, then installs host functions, inputs and setup code. */
  private async load(ivm: IsolatedVm, setup: GuestSetup): Promise<void> {
    const context = await this.isolate.createContext();
    this.context = context;
    const internals = (await context.eval(guestPrelude(setup.limits.outputLimitChars), {
      reference: true,
      timeout: this.readTimeoutMs,
      filename: PRELUDE_FILENAME,
    })) as Reference;
    this.references.push(internals);
    for (const name of ["run", "partial", "read", "describe", "install", "define", "seal"] as const) {
      const reference = (await internals.get(name, { reference: true })) as Reference;
      this.references.push(reference);
      this.prelude[name] = reference;
    }
    for (const binding of setup.hostFunctions) {
      const blocking = new ivm.Reference(binding.blocking);
      const concurrent = new ivm.Reference(binding.concurrent);
      this.references.push(blocking, concurrent);
      await this.apply("install", [binding.name, blocking, concurrent]);
    }
    for (const [name, copy] of setup.inputs) {
      await this.apply("define", [name, copy.copyInto({ transferIn: false }), true]);
    }
    for (const code of setup.setupCode) {
      try {
        await context.eval(code, { timeout: setup.limits.cellTimeoutMs });
      } catch (error) {
        throw new Error(`The sandbox's setup code failed: ${scrubHostPaths(errorText(error))}`);
      }
    }
    await this.apply("seal", []);
  }

  private apply(name: PreludeFunction, args: unknown[], options: object = {}): Promise<unknown> {
    const reference = this.prelude[name];
    if (reference === undefined) return Promise.reject(new Error("The sandbox is not started."));
    return reference.apply(undefined, args, { timeout: this.readTimeoutMs, ...options });
  }

  /** Calls a prelude function for the host (a read, a definition), under the read timeout and allowance. */
  call(name: PreludeFunction, args: unknown[]): Promise<unknown> {
    return this.watchdog.under(
      {
        cpuMs: this.readTimeoutMs + WATCHDOG_GRACE_MS,
        wallMs: 2 * this.readTimeoutMs + WATCHDOG_GRACE_MS,
        onOverrun: () => {},
      },
      () => this.apply(name, args, { result: { copy: true } }),
    );
  }

  compile(script: string, filename: string): Promise<Script> {
    return this.isolate.compileScript(script, { filename });
  }

  /**
   * Runs a compiled cell: the script only declares the cell's names and evaluates to its async function, which
   * the prelude's `run` (a Reference, not a global) calls. isolated-vm's timeout stops the synchronous part and
   * keeps the isolate; what runs later (after an await) is the watchdog's.
   */
  async runCell(script: Script, timeoutMs: number): Promise<unknown> {
    const context = this.context;
    if (context === undefined) throw new Error("The sandbox is not started.");
    const cell = (await script.run(context, { reference: true, timeout: this.readTimeoutMs })) as Reference;
    try {
      return await this.apply("run", [cell.derefInto()], {
        timeout: timeoutMs,
        result: { promise: true, copy: true },
      });
    } finally {
      cell.release();
    }
  }

  dispose(): void {
    this.watchdog.stop();
    if (!this.isolate.isDisposed) this.isolate.dispose();
    for (const reference of this.references.splice(0)) {
      try {
        reference.release();
      } catch {
        // already released with the isolate
      }
    }
  }
}

/** The cell running now: host calls answer into the isolate only while it is open. */
interface RunningCell {
  open: boolean;
  /** Compiled and handed to the guest: its own code may have run. */
  started: boolean;
  inFlight: number;
  lastActivity: number;
  /**
   * Time the host's thread spent inside host functions for this cell before they returned or handed back a
   * promise (count_tokens, chunk...): work done for the guest, charged to the cell's CPU limit. Waiting for a
   * promise (a model call, a grep in its worker) is not charged.
   */
  hostMs: number;
}

/** Arguments as the prelude packs them: strings and primitives as they are, anything else as `{ json }`. */
function unpackArgs(packed: unknown[]): { args: unknown[]; chars: number } {
  let chars = 0;
  const args = packed.map((item) => {
    if (typeof item === "string") {
      chars += item.length;
      return item;
    }
    if (item !== null && typeof item === "object" && typeof (item as { json?: unknown }).json === "string") {
      const json = (item as { json: string }).json;
      chars += json.length;
      return JSON.parse(json);
    }
    return item;
  });
  return { args, chars };
}

type CellOutcome = { value: unknown } | { error: unknown } | { syntaxError: string } | { limit: CellLimit };

/** One REPL session: a Guest (restarted after a limit) and the state that outlives it. */
class IsolatedVmSession implements SandboxSession {
  private guest: Guest | undefined;
  /** Why the guest was stopped between cells; the next cell reports it instead of running. */
  private lostBetweenCells: string | undefined;
  private cell: RunningCell | undefined;
  private readonly inputs = new Map<string, ExternalCopy>();
  private readonly hostFunctions: HostBinding[];
  private readonly hostNames: string[];
  private readonly limits: Required<SandboxLimits>;
  private readonly setupCode: string[];
  private cells = 0;
  /** Characters of arguments held by host calls in flight (see HOST_IN_FLIGHT_CHARS). */
  private inFlightChars = 0;
  private disposed = false;
  /** Cells and variable access run one at a time. */
  private readonly turn = new Semaphore(1);
  private readonly ivm: IsolatedVm;

  constructor(ivm: IsolatedVm, options: SandboxOptions) {
    this.ivm = ivm;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.setupCode = [...(options.setupCode ?? [])];
    this.hostFunctions = Object.entries(options.hostFunctions ?? {}).map(([name, fn]) => ({
      name,
      blocking: (...args: unknown[]) => this.callBlocking(fn, args),
      concurrent: (...args: unknown[]) => this.callConcurrently(fn, args),
    }));
    this.hostNames = this.hostFunctions.map((binding) => binding.name);
    for (const [name, value] of Object.entries(options.globals ?? {})) {
      this.inputs.set(name, new ivm.ExternalCopy(value));
    }
  }

  /** The running guest, started (again) if there is none. */
  async ready(): Promise<Guest> {
    if (this.guest !== undefined && !this.guest.isDisposed) return this.guest;
    this.guest?.dispose();
    this.guest = undefined;
    const guest = await Guest.start(this.ivm, {
      limits: this.limits,
      hostFunctions: this.hostFunctions,
      inputs: this.inputs,
      setupCode: this.setupCode,
      // Only the current guest's watchdog can fire: a replaced guest's is stopped when it is disposed.
      onIdleOverrun: () => {
        this.lostBetweenCells ??= LEFTOVER_WORK;
      },
    });
    if (this.disposed) {
      guest.dispose();
      throw this.disposedError();
    }
    this.guest = guest;
    return guest;
  }

  /**
   * The blocking path (applySyncPromise): the guest's thread waits for this, so it always answers; outside a
   * cell (a getter run by a host-side read) with a refusal.
   */
  private async callBlocking(fn: HostFunction, args: unknown[]): Promise<unknown> {
    const cell = this.cell;
    if (cell === undefined || !cell.open) {
      return this.transfer({
        ok: false,
        name: "Error",
        message: "host functions can only be called while a cell runs",
      });
    }
    return this.transfer(await this.callHost(cell, fn, args));
  }

  /**
   * The concurrent path (`await f()`): the answer goes into the isolate only while the cell that made the call is
   * still running. Afterwards it would resume guest code outside any cell's budget, so it is dropped: the guest's
   * promise never settles, and nothing of the guest's runs.
   */
  private async callConcurrently(fn: HostFunction, args: unknown[]): Promise<unknown> {
    const cell = this.cell;
    if (cell === undefined || !cell.open) return NEVER;
    const envelope = await this.callHost(cell, fn, args);
    return cell.open ? this.transfer(envelope) : NEVER;
  }

  private async callHost(cell: RunningCell, fn: HostFunction, packed: unknown[]): Promise<Envelope> {
    // Refused before any work: a cell whose CPU limit the host's work for it has used up (the watchdog cannot
    // stop host work in progress, so it is not started), and arguments over the session's in-flight budget.
    if (cell.hostMs > this.limits.cellTimeoutMs) {
      return hostErrorEnvelope(
        new RangeError(
          `this cell used its ${this.limits.cellTimeoutMs / 1000} s of CPU time in host functions; do less per cell`,
        ),
      );
    }
    let unpacked: { args: unknown[]; chars: number };
    try {
      unpacked = unpackArgs(Array.isArray(packed) ? packed : []);
    } catch (error) {
      return hostErrorEnvelope(error);
    }
    if (this.inFlightChars + unpacked.chars > HOST_IN_FLIGHT_CHARS) {
      return hostErrorEnvelope(
        new RangeError(
          `host calls in flight already hold ${this.inFlightChars} characters of arguments (at most ${HOST_IN_FLIGHT_CHARS}); await some before sending more`,
        ),
      );
    }
    this.inFlightChars += unpacked.chars;
    cell.inFlight++;
    cell.lastActivity = performance.now();
    const started = performance.now();
    try {
      let pending: unknown;
      try {
        pending = fn(...unpacked.args);
      } finally {
        cell.hostMs += performance.now() - started;
      }
      return { ok: true, value: await pending };
    } catch (error) {
      return hostErrorEnvelope(error);
    } finally {
      this.inFlightChars -= unpacked.chars;
      cell.inFlight--;
      cell.lastActivity = performance.now();
    }
  }

  /** The envelope as a copy the guest receives; a value that cannot be copied arrives as its text. */
  private transfer(envelope: Envelope): unknown {
    try {
      return new this.ivm.ExternalCopy(envelope).copyInto({ release: true });
    } catch {
      const value = envelope.ok ? envelope.value : undefined;
      return new this.ivm.ExternalCopy({ ok: true, value: errorText(value) }).copyInto({ release: true });
    }
  }

  private assertOpen(): void {
    if (this.disposed) throw this.disposedError();
  }

  private disposedError(): Error {
    return new Error("This sandbox session was disposed.");
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
    if (this.lostBetweenCells !== undefined) {
      const cause = this.lostBetweenCells;
      this.lostBetweenCells = undefined;
      await this.ready();
      return result({ limit: "time", stateLost: true, error: restartedBeforeCellMessage(cause) });
    }
    const transformed = transformCell(code, this.hostNames);
    if (!transformed.ok) return result({ error: transformed.error });

    const guest = await this.ready();
    const filename = `cell-${++this.cells}.js`;
    const cell: RunningCell = {
      open: true,
      started: false,
      inFlight: 0,
      lastActivity: performance.now(),
      hostMs: 0,
    };
    this.cell = cell;
    let outcome: CellOutcome;
    try {
      outcome = await this.watchCell(guest, cell, transformed.cell.script, filename, signal);
    } finally {
      cell.open = false;
      this.cell = undefined;
    }
    if (this.disposed) throw this.disposedError();
    if ("value" in outcome) return this.finishedCell(outcome.value, filename, cell.inFlight, result);
    if ("syntaxError" in outcome)
      return result({ error: { name: "SyntaxError", message: outcome.syntaxError } });
    return this.stoppedCell(guest, cell, outcome, result);
  }

  /** Compiles and runs the cell under the cell's allowance, which the watchdog arms before compiling. */
  private async watchCell(
    guest: Guest,
    cell: RunningCell,
    script: string,
    filename: string,
    signal: AbortSignal | undefined,
  ): Promise<CellOutcome> {
    let stop: (limit: CellLimit) => void = () => {};
    const stopped = new Promise<CellOutcome>((resolve) => {
      stop = (limit) => resolve({ limit });
    });
    let lastCpu: bigint | undefined;
    const allowance: Allowance = {
      cpuMs: this.limits.cellTimeoutMs + WATCHDOG_GRACE_MS,
      wallMs: this.limits.cellWallTimeoutMs,
      chargedMs: () => cell.hostMs,
      onOverrun: () => stop("time"),
      onCheck: (cpu, now) => {
        if (cpu !== lastCpu) {
          lastCpu = cpu;
          cell.lastActivity = now;
        } else if (cell.inFlight === 0 && now - cell.lastActivity > STUCK_AFTER_MS) stop("stuck");
      },
    };
    const onAbort = () => {
      guest.dispose();
      stop("cancelled");
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await guest.watchdog.under(allowance, () =>
        Promise.race([this.compileAndRun(guest, cell, script, filename), stopped]),
      );
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private async compileAndRun(
    guest: Guest,
    cell: RunningCell,
    script: string,
    filename: string,
  ): Promise<CellOutcome> {
    let compiled: Script;
    try {
      compiled = await guest.compile(script, filename);
    } catch (error) {
      return guest.isDisposed ? { error } : { syntaxError: scrubHostPaths(errorText(error)) };
    }
    try {
      cell.started = true;
      return { value: await guest.runCell(compiled, this.limits.cellTimeoutMs) };
    } catch (error) {
      return { error };
    } finally {
      compiled.release();
    }
  }

  /** A cell a limit stopped: restarts the guest if the limit cost it, otherwise keeps what the cell printed. */
  private async stoppedCell(
    guest: Guest,
    cell: RunningCell,
    outcome: { error: unknown } | { limit: CellLimit },
    result: (fields: Partial<CellResult>) => CellResult,
  ): Promise<CellResult> {
    let limit: CellLimit;
    if ("limit" in outcome) limit = outcome.limit;
    else {
      const message = errorText(outcome.error);
      if (guest.isDisposed) limit = /memory limit/i.test(message) ? "memory" : "time";
      else if (/timed out/i.test(message)) limit = "time";
      else {
        const text = scrubHostPaths(limitOutput(message, this.limits.outputLimitChars).output);
        return result({ error: { name: "Error", message: text } });
      }
    }
    const partial = guest.isDisposed ? undefined : await this.partialOutput(guest);
    const stateLost = guest.isDisposed;
    if (stateLost) await this.ready();
    if (stateLost && limit === "time" && !cell.started) {
      return result({ limit, stateLost, error: restartedBeforeCellMessage(LEFTOVER_WORK) });
    }
    return result({
      output: partial?.output ?? "",
      truncatedChars: partial?.truncatedChars ?? 0,
      limit,
      stateLost,
      error: limitMessage(limit, {
        seconds: this.limits.cellTimeoutMs / 1000,
        memoryMb: this.limits.memoryLimitMb,
        stateLost,
      }),
    });
  }

  private async partialOutput(guest: Guest): Promise<{ output: string; truncatedChars: number } | undefined> {
    try {
      const partial = await guest.call("partial", []);
      if (!isRecord(partial)) return undefined;
      return limitOutput(partial.output, this.limits.outputLimitChars, partial.cut);
    } catch {
      return undefined;
    }
  }

  /** A cell that ended by itself. Everything from the guest is checked and bounded again here. */
  private finishedCell(
    raw: unknown,
    filename: string,
    droppedCalls: number,
    result: (fields: Partial<CellResult>) => CellResult,
  ): CellResult {
    const guest = isRecord(raw) ? raw : {};
    const { output, truncatedChars } = limitOutput(guest.output, this.limits.outputLimitChars, guest.cut);
    const final = this.finalAnswer(guest.final);
    const error = this.cellError(guest.error, filename) ?? ("problem" in final ? final.problem : undefined);
    return result({
      output: droppedCalls > 0 ? `${output}${droppedCallsNote(droppedCalls)}` : output,
      truncatedChars,
      ...(error ? { error } : {}),
      ...("value" in final ? { final: { value: final.value } } : {}),
    });
  }

  private cellError(raw: unknown, filename: string): CellError | undefined {
    if (!isRecord(raw)) return undefined;
    const name = typeof raw.name === "string" && raw.name !== "" ? clipName(raw.name) : "Error";
    const message = limitOutput(raw.message, this.limits.outputLimitChars).output;
    const stack = typeof raw.stack === "string" ? raw.stack.slice(0, 20_000) : undefined;
    const line = lineFromStack(stack, filename);
    return { name, message, ...(line === undefined ? {} : { line }) };
  }

  /** FINAL's snapshot (JSON text, or null for undefined), parsed here if it is within the value limit. */
  private finalAnswer(raw: unknown): { value: unknown } | { problem: CellError } | { none: true } {
    if (!isRecord(raw)) return { none: true };
    const json = raw.json;
    if (json === null) return { value: undefined };
    if (typeof json !== "string") return { none: true };
    if (json.length > VALUE_LIMIT_CHARS) {
      return {
        problem: {
          name: "RangeError",
          message: `FINAL: the answer is too large (${json.length} characters as JSON, over the limit of ${VALUE_LIMIT_CHARS}). Return a shorter answer.`,
        },
      };
    }
    try {
      return { value: JSON.parse(json) };
    } catch {
      return { problem: { name: "Error", message: "FINAL: the answer could not be read back." } };
    }
  }

  /** A host-side read or definition in the guest, with what went wrong said in terms of `what`. */
  private async guestCall(
    guest: Guest,
    name: PreludeFunction,
    args: unknown[],
    what: string,
  ): Promise<unknown> {
    try {
      return await guest.call(name, args);
    } catch (error) {
      if (guest.isDisposed) {
        this.lostBetweenCells ??= `${what.toLowerCase()} went over the sandbox's memory or time limit`;
        throw new Error(
          `${what} went over the sandbox's memory or time limit, so the sandbox was restarted: every variable is gone except the inputs.`,
        );
      }
      const message = errorText(error);
      if (/timed out/i.test(message)) {
        throw new Error(
          `${what} took too long and was stopped (a getter, toJSON or proxy in the value may never end). Variables are intact.`,
        );
      }
      throw new Error(
        `${what} failed: ${scrubHostPaths(limitOutput(message, HOST_MESSAGE_LIMIT_CHARS).output)}`,
      );
    }
  }

  getVariable(name: string): Promise<{ value: unknown } | undefined> {
    return this.turn.run(async () => {
      this.assertOpen();
      const what = `Reading the variable "${clipName(name)}"`;
      const read = await this.guestCall(await this.ready(), "read", [name], what);
      if (!isRecord(read) || read.found !== true) return undefined;
      const json = read.json;
      if (typeof json !== "string" || json.length > VALUE_LIMIT_CHARS) {
        const size = typeof json === "string" ? json.length : Number(read.tooLarge);
        throw new Error(
          `The variable "${clipName(name)}" is too large to read (${size} characters as JSON, over the limit of ${VALUE_LIMIT_CHARS}).`,
        );
      }
      return { value: JSON.parse(json) };
    });
  }

  setVariable(name: string, value: unknown): Promise<void> {
    return this.turn.run(async () => {
      this.assertOpen();
      const copy = new this.ivm.ExternalCopy(value);
      this.inputs.get(name)?.release();
      this.inputs.set(name, copy);
      // A guest started now gets every input, this one included; defining it once more does no harm.
      const guest = await this.ready();
      const args = [name, copy.copyInto({ transferIn: false }), true];
      await this.guestCall(guest, "define", args, `Setting the variable "${clipName(name)}"`);
    });
  }

  listVariables(): Promise<VariableInfo[]> {
    return this.turn.run(async () => {
      this.assertOpen();
      const listed = await this.guestCall(
        await this.ready(),
        "describe",
        [],
        "Listing the sandbox's variables",
      );
      return Array.isArray(listed) ? listed.slice(0, LISTED_VARIABLES_LIMIT).flatMap(variableInfo) : [];
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.cell) this.cell.open = false;
    this.guest?.dispose();
    for (const copy of this.inputs.values()) copy.release();
    this.inputs.clear();
  }
}

/** One entry of the guest's variable list, checked: what the guest reports is not trusted. */
function variableInfo(raw: unknown): VariableInfo[] {
  if (!isRecord(raw) || typeof raw.name !== "string" || typeof raw.type !== "string") return [];
  const info: VariableInfo = { name: clipName(raw.name), type: clipName(raw.type, 20) };
  if (typeof raw.size === "number" && Number.isFinite(raw.size) && raw.size >= 0) info.size = raw.size;
  return [info];
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
        await session.ready();
      } catch (error) {
        session.dispose();
        throw error;
      }
      return session;
    },
  };
}
