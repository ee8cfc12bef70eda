import { UsageError } from "../errors/usage-error.ts";
import type { CallUsage } from "../models/usage.ts";
import type { HostFunction } from "../spec/sandbox.ts";
import type { Tools } from "../spec/tool.ts";
import type { Budget } from "./budget.ts";
import type { RunEvent } from "./run-events.ts";
import { MAX_TIMER_MS } from "./run-limits.ts";
import { createToolLoop, DEFAULT_SUB_TOOL_STEPS, type ToolLoop } from "./sub-tools.ts";
import {
  DEFAULT_TOOL_TIMEOUT_MS,
  type PreparedTool,
  prepareTools,
  toolFunctions,
  toolListing,
} from "./user-tools.ts";

/** What createRLM takes about the user's tools. */
export interface ToolOptions {
  tools?: Tools;
  subTools?: Tools;
  toolTimeoutMs?: number;
  subToolSteps?: number;
}

/** The tools of an RLM, checked once. */
export interface RunToolSet {
  tools: PreparedTool[];
  subTools: PreparedTool[];
  timeoutMs: number;
  subToolSteps: number;
  language: "javascript" | "python";
}

/** Checks the tool options at createRLM; throws a UsageError that names what is wrong. */
export function prepareRunTools(options: ToolOptions, language: "javascript" | "python"): RunToolSet {
  const timeoutMs = options.toolTimeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
  if (!(typeof timeoutMs === "number" && timeoutMs >= 1 && timeoutMs <= MAX_TIMER_MS)) {
    throw new UsageError({
      message: `toolTimeoutMs must be a number from 1 to ${MAX_TIMER_MS}, got ${String(timeoutMs)}.`,
    });
  }
  const subToolSteps = options.subToolSteps ?? DEFAULT_SUB_TOOL_STEPS;
  if (!(Number.isInteger(subToolSteps) && subToolSteps >= 1 && subToolSteps <= 100)) {
    throw new UsageError({
      message: `subToolSteps must be a whole number from 1 to 100, got ${String(subToolSteps)}.`,
    });
  }
  return {
    tools: prepareTools(options.tools, language),
    subTools: prepareTools(options.subTools, undefined),
    timeoutMs,
    subToolSteps,
    language,
  };
}

/** The system prompt's list of the REPL's tools (undefined when there are none). */
export function toolPromptEntries(set: RunToolSet): Array<{ call: string; description: string }> | undefined {
  return set.tools.length === 0 ? undefined : toolListing(set.tools, set.language);
}

/** What one run gives its tools. */
export interface RunToolsContext {
  runId: string;
  depth: number;
  parentRunId?: string;
  budget: Budget;
  emit: (event: RunEvent) => void;
  record: (model: string, usage: CallUsage) => void;
  /** The run's calls in flight: it waits for them (and their events) before it ends. */
  inFlight: Set<Promise<unknown>>;
  /** The signal of the cell running now. */
  signal: () => AbortSignal;
}

/** One run's host functions for the REPL's tools, and the tool loop of its llm_query when it has sub-tools. */
export function bindRunTools(
  set: RunToolSet,
  run: RunToolsContext,
): { hostFunctions: Record<string, HostFunction>; toolLoop?: ToolLoop } {
  const context = {
    runId: run.runId,
    depth: run.depth,
    ...(run.parentRunId ? { parentRunId: run.parentRunId } : {}),
    budget: run.budget,
    emit: run.emit,
    timeoutMs: set.timeoutMs,
    track: (work: Promise<unknown>) => {
      run.inFlight.add(work);
      void work.then(
        () => run.inFlight.delete(work),
        () => run.inFlight.delete(work),
      );
    },
  };
  return {
    hostFunctions: toolFunctions(set.tools, { ...context, signal: run.signal }),
    ...(set.subTools.length === 0
      ? {}
      : {
          toolLoop: createToolLoop(set.subTools, {
            ...context,
            record: run.record,
            maxSteps: set.subToolSteps,
          }),
        }),
  };
}
