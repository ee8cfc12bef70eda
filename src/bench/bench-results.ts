import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../errors/usage-error.ts";

/** One task run by one strategy. */
export interface BenchRow {
  suite: string;
  /** Input size in tokens. */
  size: number;
  strategy: string;
  task: number;
  score: number;
  /** The row's own score; results.md shows the mean of each group. */
  accuracy: number;
  inputTokens: number;
  outputTokens: number;
  /** Null when a model's price is unknown. */
  costUsd: number | null;
  latencyMs: number;
  subcalls: number;
  status: string;
  answer: string;
  expected: string;
  error?: string;
  /** The task run's trace file in the `--trace` folder, when traces are written. */
  trace?: string;
  /** What went wrong beside the result, e.g. a trace that could not be written. */
  warnings?: string[];
  /**
   * `+memory` strategies: building the task's memory before the run (episodes consolidated into facts). Its
   * tokens and cost are also in the row's totals, so memory on and off compare honestly; its time is not in
   * `latencyMs` (a memory is built ahead of the question).
   */
  memoryEpisodes?: number;
  /** Consolidation model calls, the facts they stored, and their tokens, cost (null: unpriced) and time. */
  memoryCalls?: number;
  memoryFacts?: number;
  memoryInputTokens?: number;
  memoryOutputTokens?: number;
  memoryCostUsd?: number | null;
  memoryLatencyMs?: number;
  /**
   * `+learning` strategies: the learning after the task was scored (the playbook's reflector; the case bank makes
   * no model call). Its tokens and cost are in the row's totals too; its time is not in `latencyMs`.
   */
  learningCalls?: number;
  learningInputTokens?: number;
  learningOutputTokens?: number;
  /** Null when the reflector's price is unknown. */
  learningCostUsd?: number | null;
  learningLatencyMs?: number;
}

export interface BenchFile {
  version: 1;
  model: string;
  subModel: string;
  seed: number;
  rows: BenchRow[];
}

export function rowKey(row: Pick<BenchRow, "suite" | "size" | "strategy" | "task">): string {
  return `${row.suite}|${row.size}|${row.strategy}|${row.task}`;
}

/** Writes through a temporary file and a rename, so an interrupted run never leaves half a file. */
export function writeAtomically(
  path: string,
  text: string,
  options: { createFolders?: boolean; mode?: number } = {},
): void {
  if (options.createFolders !== false) mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${randomUUID()}.tmp`;
  writeFileSync(temporary, text, options.mode === undefined ? {} : { mode: options.mode });
  renameSync(temporary, path);
}

/** Reads earlier results to resume; refuses a file made with another model or seed. */
export function readBenchFile(path: string, expected: Omit<BenchFile, "rows">): BenchRow[] {
  if (!existsSync(path)) return [];
  let file: BenchFile;
  try {
    file = JSON.parse(readFileSync(path, "utf8")) as BenchFile;
  } catch {
    throw new UsageError({ message: `${path} is not a results file of rlm bench; choose another --out.` });
  }
  if (file.model !== expected.model || file.subModel !== expected.subModel || file.seed !== expected.seed) {
    throw new UsageError({
      message: `${path} holds results for model ${file.model} (sub-model ${file.subModel}, seed ${file.seed}); use another --out for ${expected.model} (sub-model ${expected.subModel}, seed ${expected.seed}).`,
    });
  }
  return file.rows ?? [];
}
