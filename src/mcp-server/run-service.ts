import { join } from "node:path";
import type { ContextInput } from "../context/context-input.ts";
import { createRLM, type RLMOptions, type RunResult } from "../engine/rlm.ts";
import type { RunEvent, RunEventListener } from "../engine/run-events.ts";
import { DEFAULT_RUN_LIMITS, type RunLimits } from "../engine/run-limits.ts";
import { formatCost } from "../models/usage.ts";
import { createJsonlTraceWriter, type TraceWriter } from "../trace/jsonl-trace.ts";
import { readPaths } from "./read-paths.ts";

/** The limits an MCP call may set: each one only lowers the server's. */
export type CallLimits = Pick<
  RunLimits,
  "maxIterations" | "maxSubcalls" | "maxTokens" | "maxCostUsd" | "timeoutMs"
>;

/** One `rlm_run` call, its arguments checked for shape (by the tool's schema). */
export interface RunCall {
  query: string;
  /** The context as text; or `paths`, never both. */
  context?: string;
  paths?: string[];
  limits?: CallLimits;
}

export interface RunServiceOptions {
  /** Models, sandbox, memory and learners, and the server's limits (calls may lower them, never raise them). */
  rlm: RLMOptions;
  /** The folder `paths` are relative to and may not leave. */
  root: string;
  /** Total bytes `paths` may read for one run. */
  maxInputBytes: number;
  /** Runs at once; more wait in order. */
  maxConcurrentRuns: number;
  /** Runs that may wait for a slot; past it a call is refused at once (the server is busy). */
  maxWaitingRuns: number;
  /** Each run's trace is written to DIR/<runId>.jsonl. */
  traceDir?: string;
  /** Values redacted from traces (API keys). */
  secrets: string[];
  /** One line per run to the server's log (stderr). */
  log?: (line: string) => void;
}

export interface RunCallOptions {
  /** The request's signal: the client cancelled it, or the connection went away. */
  signal: AbortSignal;
  onEvent?: RunEventListener;
}

export interface ServiceRunResult {
  result: RunResult;
  /** Notes for the client: a limit it asked for that the server's limit replaced. */
  notes: string[];
}

/** The names the limits have in `rlm_run`'s arguments, for the notes. */
const CALL_LIMIT_NAMES: Record<keyof CallLimits, string> = {
  maxIterations: "max_iterations",
  maxSubcalls: "max_subcalls",
  maxTokens: "max_tokens",
  maxCostUsd: "max_cost",
  timeoutMs: "timeout",
};

/**
 * What `rlm_run` does, apart from the protocol: reads the context, lowers the limits as a call asks, runs the RLM
 * in one of a few slots (the rest wait, up to a bound), writes its trace, and cancels it when the call's signal
 * fires. `close()` cancels every run and waits for them to end.
 */
export class RunService {
  readonly #options: RunServiceOptions;
  readonly #slots: number;
  readonly #closing = new AbortController();
  readonly #running = new Set<Promise<unknown>>();
  /** Runs holding a slot, and the calls waiting for one (each leaves the line when its call is cancelled). */
  #active = 0;
  readonly #line: Array<() => void> = [];
  #waiting = 0;

  constructor(options: RunServiceOptions) {
    this.#options = options;
    this.#slots = Math.max(1, Math.floor(options.maxConcurrentRuns));
  }

  /** Runs one call; throws an Error with a one-line message for arguments it cannot run with. */
  async run(call: RunCall, options: RunCallOptions): Promise<ServiceRunResult> {
    if (this.#closing.signal.aborted) throw new Error("the server is shutting down");
    if ((call.context === undefined) === (call.paths === undefined)) {
      throw new Error("give the input as exactly one of context (text) or paths (files, folders or globs)");
    }
    const { limits, notes } = lowerLimits(
      { ...DEFAULT_RUN_LIMITS, ...this.#options.rlm.limits },
      call.limits ?? {},
    );
    // The RLM is built before the wait, so a limit it refuses (a cost limit over a model of unknown price) is
    // reported at once.
    let trace: TraceWriter | undefined;
    const onEvent = (event: RunEvent) => {
      trace = this.#trace(trace, event);
      trace?.listener(event);
      options.onEvent?.(event);
      // The server's own listener (rlm mcp --otel), which the run's onEvent below would otherwise replace.
      this.#options.rlm.onEvent?.(event);
    };
    const rlm = createRLM({
      ...this.#options.rlm,
      limits: { ...this.#options.rlm.limits, ...limits },
      onEvent,
    });
    const signal = AbortSignal.any([options.signal, this.#closing.signal]);
    if (this.#active >= this.#slots && this.#waiting >= this.#options.maxWaitingRuns) {
      throw new Error(
        `the server is busy (${this.#options.maxConcurrentRuns} runs running, ${this.#waiting} waiting); try again later`,
      );
    }
    const work = (async () => {
      if (!(await this.#slot(signal))) return undefined;
      try {
        if (signal.aborted) return undefined;
        const context: ContextInput =
          call.paths === undefined
            ? (call.context as string)
            : await readPaths(call.paths, {
                root: this.#options.root,
                maxBytes: this.#options.maxInputBytes,
                signal,
              });
        try {
          return await rlm.run({ context, query: call.query, signal });
        } finally {
          trace?.close();
        }
      } finally {
        this.#free();
      }
    })();
    this.#running.add(work);
    try {
      // rlm.run never rejects: what throws here is the input (paths) or a cancellation before the start.
      const result = await work.catch((error: unknown) => {
        throw signal.aborted ? new Error("the run was cancelled before it started") : error;
      });
      if (result === undefined) throw new Error("the run was cancelled before it started");
      const failure = trace?.failure;
      this.#log(result);
      return { result, notes: failure ? [...notes, failure] : notes };
    } finally {
      this.#running.delete(work);
    }
  }

  /**
   * A run slot: at once when one is free, else in order. A call cancelled while it waits leaves the line at once
   * (false): a client that times out and retries must not leave dead calls holding the waiting places.
   */
  async #slot(signal: AbortSignal): Promise<boolean> {
    if (this.#active < this.#slots) {
      this.#active++;
      return true;
    }
    if (signal.aborted) return false;
    this.#waiting++;
    try {
      return await new Promise<boolean>((resolve) => {
        const enter = () => {
          signal.removeEventListener("abort", leave);
          resolve(true);
        };
        const leave = () => {
          const at = this.#line.indexOf(enter);
          if (at >= 0) this.#line.splice(at, 1);
          resolve(false);
        };
        signal.addEventListener("abort", leave, { once: true });
        this.#line.push(enter);
      });
    } finally {
      this.#waiting--;
    }
  }

  /** Hands the slot to the first call waiting, or frees it. */
  #free(): void {
    const next = this.#line.shift();
    if (next) next();
    else this.#active--;
  }

  /** Cancels every run (waiting ones end at once) and waits for them to end. */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#running]);
  }

  /** The run's trace file, opened at the root's run-start (its id names the file). */
  #trace(current: TraceWriter | undefined, event: RunEvent): TraceWriter | undefined {
    const folder = this.#options.traceDir;
    if (current !== undefined || folder === undefined || event.type !== "run-start" || event.depth !== 0)
      return current;
    try {
      return createJsonlTraceWriter(join(folder, `${event.runId}.jsonl`), this.#options.secrets);
    } catch (error) {
      this.#options.log?.(`warning: ${(error as Error).message}`);
      return undefined;
    }
  }

  #log(result: RunResult): void {
    const total = result.usage.total;
    this.#options.log?.(
      `run ${result.runId ?? "(not started)"} ${result.status} · ${result.iterations} iterations · ${result.subcalls} sub-calls · ${(total.inputTokens + total.outputTokens).toLocaleString("en-US")} tokens · ${formatCost(total)} · ${(result.durationMs / 1000).toFixed(1)} s`,
    );
  }
}

/** The server's limits with a call's lower ones in their place; a higher one is replaced and noted. */
export function lowerLimits(server: RunLimits, call: CallLimits): { limits: CallLimits; notes: string[] } {
  const limits: CallLimits = {};
  const notes: string[] = [];
  for (const field of Object.keys(CALL_LIMIT_NAMES) as Array<keyof CallLimits>) {
    const asked = call[field];
    if (asked === undefined) continue;
    const cap = server[field];
    if (cap !== undefined && asked > cap) {
      const unit = field === "timeoutMs" ? 1000 : 1;
      notes.push(
        `${CALL_LIMIT_NAMES[field]} ${asked / unit} is over the server's limit of ${cap / unit}; the server's limit applies`,
      );
      continue;
    }
    limits[field] = asked;
  }
  return { limits, notes };
}
