import { existsSync } from "node:fs";
import { join } from "node:path";
import { createJsonlTraceWriter, type TraceWriter } from "../trace/jsonl-trace.ts";
import type { BenchRow } from "./bench-results.ts";
import { formatSize } from "./sizes.ts";

/** Where `rlm bench --trace DIR` writes one JSONL trace per task run (the format of `rlm run --trace`). */
export interface BenchTraces {
  /** An existing, writable folder. */
  dir: string;
  /** Key values to redact (default: those in the environment). */
  secrets?: string[];
}

type TaskKey = Pick<BenchRow, "suite" | "size" | "strategy" | "task">;

/**
 * The trace file name of a task run, `sniah-8k-rlm-0.jsonl`; when an earlier attempt's trace is there (a failed
 * task retried, a run interrupted), the next free `sniah-8k-rlm-0-attempt2.jsonl`: a trace is never overwritten.
 */
export function traceFileName(dir: string, key: TaskKey): string {
  const base = `${key.suite}-${formatSize(key.size)}-${key.strategy}-${key.task}`;
  let name = `${base}.jsonl`;
  for (let attempt = 2; existsSync(join(dir, name)); attempt++) name = `${base}-attempt${attempt}.jsonl`;
  return name;
}

/** The trace of one task run: its file name and writer, or why it could not be opened (a warning, not a failure). */
export type TaskTrace = { name: string; writer: TraceWriter } | { warning: string };

export function openTaskTrace(traces: BenchTraces, key: TaskKey): TaskTrace {
  const name = traceFileName(traces.dir, key);
  try {
    return { name, writer: createJsonlTraceWriter(join(traces.dir, name), traces.secrets) };
  } catch (error) {
    return { warning: (error as Error).message };
  }
}
