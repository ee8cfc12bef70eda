/**
 * The sandbox extension point: a persistent REPL session that runs model-written code.
 * The RLM engine depends only on this file. Nothing here imports anything else of rlmkit.
 */

/**
 * A host function callable from guest code. Arguments and results cross the boundary as copies.
 * The guest receives the result directly, even from an async function (the cell waits for it); written as
 * `await fn(...)`, calls run concurrently, so `await Promise.all(xs.map(async (x) => await fn(x)))` is parallel.
 */
export type HostFunction = (...args: unknown[]) => unknown;

export interface SandboxLimits {
  /** CPU time one cell may use, in ms (default 30,000). Waiting for host functions does not count. */
  cellTimeoutMs?: number;
  /** Wall time one cell may take, host calls included, in ms (default 3,600,000). */
  cellWallTimeoutMs?: number;
  /** Heap limit of the guest in MiB (default 1,024). */
  memoryLimitMb?: number;
  /** Printed output returned per cell, in characters (default 20,000); head and tail are kept. */
  outputLimitChars?: number;
}

export interface SandboxOptions {
  /** Values copied into the guest as globals before the first cell (strings, arrays, plain JSON objects). */
  globals?: Record<string, unknown>;
  /** Functions of the host, visible in the guest as plain global functions. */
  hostFunctions?: Record<string, HostFunction>;
  /** Guest code run after globals and host functions are in place, at start and after every restart. */
  setupCode?: string[];
  limits?: SandboxLimits;
}

/** Why a cell was stopped from outside. */
export type CellLimit = "time" | "memory" | "cancelled" | "stuck";

export interface CellError {
  name: string;
  message: string;
  /** 1-based line in the cell's code, when known. */
  line?: number;
}

/** The outcome of one cell. A guest error is a result, never an exception of `execute`. */
export interface CellResult {
  /** What the cell printed (print, console.log), then the value of a last expression, truncated. */
  output: string;
  /** Characters cut from the middle of the output. */
  truncatedChars: number;
  error?: CellError;
  /** Set when a limit stopped the cell. */
  limit?: CellLimit;
  /** True when the guest's variables were lost (the session restarted after a limit). */
  stateLost: boolean;
  durationMs: number;
  /** Present when the cell called FINAL(value) or FINAL_VAR(name). */
  final?: { value: unknown };
}

export interface VariableInfo {
  name: string;
  type: string;
  /** Length for strings and arrays, key count for objects. */
  size?: number;
}

export interface SandboxSession {
  /** Runs one cell. Never throws for guest errors; rejects only if the session was disposed. */
  execute(code: string, options?: { signal?: AbortSignal }): Promise<CellResult>;
  /** A copy of a guest variable's value, or undefined when it does not exist. */
  getVariable(name: string): Promise<{ value: unknown } | undefined>;
  /** Sets a guest global; it survives session restarts after limits. */
  setVariable(name: string, value: unknown): Promise<void>;
  /** The variables the guest code defined (not the built-ins). */
  listVariables(): Promise<VariableInfo[]>;
  dispose(): void;
}

/** Creates sessions. `name` is what `--sandbox` takes. */
export interface Sandbox {
  readonly name: string;
  /** The language cells are written in; it picks the fenced code blocks the engine runs and its prompt. */
  readonly language: "javascript" | "python";
  /** False for modes without an isolation boundary (a warning is printed on every run). */
  readonly isolated: boolean;
  create(options?: SandboxOptions): Promise<SandboxSession>;
}
