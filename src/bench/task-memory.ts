import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors/usage-error.ts";
import type { ConsolidationReport } from "../memory/consolidate.ts";
import { createMemory, type Memory } from "../memory/memory.ts";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import type { ModelClient } from "../models/model-client.ts";
import { checkStrategyName } from "../strategies/resolve-strategy.ts";
import type { BenchTask } from "./suite.ts";

/** `rlm bench --strategies rlm+memory`: the RLM with a memory built from the task's history. */
export const MEMORY_SUFFIX = "+memory";

/** `rlm bench --strategies rlm+learning`: the RLM learning over a stream of tasks (case bank and playbook). */
export const LEARNING_SUFFIX = "+learning";

/** Strategies that take a memory (the memory is an RLM option) or learners (RLMOptions.learners). */
const WITH_MEMORY = ["rlm"];

/**
 * A `--strategies` entry: a strategy name, with `+memory` when the run gets a memory of the task's history, or
 * `+learning` when the runs of a stream learn from each other (see task-learning.ts).
 */
export function parseBenchStrategy(name: string): { base: string; memory: boolean; learning: boolean } {
  const suffix = [MEMORY_SUFFIX, LEARNING_SUFFIX].find((known) => name.endsWith(known));
  if (suffix === undefined) {
    checkStrategyName(name);
    return { base: name, memory: false, learning: false };
  }
  const base = name.slice(0, -suffix.length);
  checkStrategyName(base);
  if (!WITH_MEMORY.includes(base)) {
    throw new UsageError({
      message: `"${name}": only ${WITH_MEMORY.map((known) => known + suffix).join(", ")} takes ${suffix === MEMORY_SUFFIX ? "a memory" : "learners"}; ${base} has none.`,
    });
  }
  return { base, memory: suffix === MEMORY_SUFFIX, learning: suffix === LEARNING_SUFFIX };
}

/**
 * Consolidation shows each episode up to 4,000 characters (consolidation-prompt.ts): a longer session is stored
 * as several episodes of the same date, cut at line ends.
 */
const MAX_EPISODE_CHARS = 3500;
/** Episodes per consolidation call: prompts of about 9k tokens, which most models take. */
const CONSOLIDATION_BATCH = 10;

export function episodeTexts(text: string, max = MAX_EPISODE_CHARS): string[] {
  const pieces: string[] = [];
  let current = "";
  for (const line of text.split("\n")) {
    for (let start = 0; start < Math.max(1, line.length); start += max) {
      const part = line.slice(start, start + max);
      if (current !== "" && current.length + 1 + part.length > max) {
        pieces.push(current);
        current = "";
      }
      current = current === "" ? part : `${current}\n${part}`;
    }
  }
  if (current.trim() !== "") pieces.push(current);
  return pieces;
}

/** A fresh memory of one task's history, consolidated, in a temporary SQLite file. */
export interface TaskMemory {
  memory: Memory;
  episodes: number;
  report: ConsolidationReport;
  latencyMs: number;
  /** Store warnings and batches whose reply could not be used (the run goes on with what was stored). */
  warnings: string[];
  /** A consolidation call that failed (HTTP error, timeout): the task is an infrastructure failure. */
  failure?: string;
  /** Closes the store and deletes its folder. */
  close(): Promise<void>;
}

/**
 * Stores each history session as episodes dated by it (validFrom and createdAt), and consolidates them with
 * `model` into facts, latest wins by key, with the past kept.
 */
export async function buildTaskMemory(
  history: NonNullable<BenchTask["history"]>,
  model: ModelClient,
  options: { signal?: AbortSignal; onBatch?: (report: ConsolidationReport) => void } = {},
): Promise<TaskMemory> {
  const dir = mkdtempSync(join(tmpdir(), "rlm-bench-memory-"));
  const warnings: string[] = [];
  const started = performance.now();
  let memory: Memory | undefined;
  const close = async () => {
    try {
      await memory?.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    const store = await openMemoryStore(join(dir, "memory.db"), { warn: (line) => warnings.push(line) });
    memory = createMemory({ store, model });
    const episodes = history.flatMap((session) => {
      const at = new Date(session.at).toISOString();
      return episodeTexts(session.text).map((text) => ({
        kind: "episode" as const,
        text,
        validFrom: at,
        createdAt: at,
        metadata: { bench: "history" },
      }));
    });
    if (episodes.length > 0) await memory.insert(episodes);
    const report = await memory.consolidate({
      batchSize: CONSOLIDATION_BATCH,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onBatch ? { onBatch: options.onBatch } : {}),
    });
    // consolidate reports errors as text: a failed call ("model call failed: ...") or an unusable reply.
    const failed = report.errors.filter((error) => error.startsWith("model call failed"));
    warnings.push(
      ...report.errors.filter((error) => !failed.includes(error)).map((error) => `memory: ${error}`),
    );
    return {
      memory,
      episodes: episodes.length,
      report,
      latencyMs: performance.now() - started,
      warnings,
      ...(failed.length > 0 ? { failure: `memory consolidation: ${failed[0]}` } : {}),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
