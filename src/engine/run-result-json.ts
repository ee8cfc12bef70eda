import type { RunResult } from "./rlm.ts";

/**
 * What `rlm run --json` prints for a run: the answer, how it ended, what it spent. Also the `result` of a job of
 * `rlm serve`'s /v1/runs and of `rlm worker`, so the three never drift apart. Plain JSON (no trace, no live
 * objects).
 */
export interface RunResultJson {
  runId?: string;
  answer: unknown;
  status: RunResult["status"];
  usage: RunResult["usage"];
  iterations: number;
  subcalls: number;
  durationMs: number;
  error?: string;
  partialAnswer?: string;
  warnings?: string[];
  verification?: RunResult["verification"];
}

export function runResultJson(result: RunResult): RunResultJson {
  const { answer, status, usage, iterations, subcalls, durationMs } = result;
  return {
    ...(result.runId ? { runId: result.runId } : {}),
    answer,
    status,
    usage,
    iterations,
    subcalls,
    durationMs: Math.round(durationMs),
    ...(result.error ? { error: result.error } : {}),
    ...(result.partialAnswer === undefined ? {} : { partialAnswer: result.partialAnswer }),
    ...(result.warnings ? { warnings: result.warnings } : {}),
    ...(result.verification ? { verification: result.verification } : {}),
  };
}
