import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FinishedRun, RunLearner } from "../engine/run-learner.ts";
import { type CaseBank, createCaseBank } from "../learning/case-bank.ts";
import { createPlaybook } from "../learning/playbook.ts";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import type { ModelClient, ModelRequest } from "../models/model-client.ts";
import type { MemoryStore } from "../spec/memory-store.ts";

/**
 * `rlm bench --strategies rlm+learning`: the RLM with the case bank and the playbook as learners, over ONE memory
 * for a whole stream of tasks (per suite and size), run in order. After each task is scored, the score goes to
 * the case bank as the run's outcome (`feedback(runId, score, {source: "scorer"})`), and the playbook's reflector
 * reviews the run knowing the scorer's verdict and the expected answer (as ACE's reflector uses ground truth
 * where it has it): without the verdict it would only know that the run completed, not that it fell into a trap.
 */

/** What one task's learning spent: the reflector's calls (the case bank makes none: keyword similarity only). */
export interface LearningUsage {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** Null when a call had no known price. */
  costUsd: number | null;
  latencyMs: number;
}

export interface StreamLearning {
  /** For `RLMOptions.learners`: the case bank, and the playbook whose reflection waits for the score. */
  learners: RunLearner[];
  caseBank: CaseBank;
  store: MemoryStore;
  scope: string;
  /**
   * After a task is scored: its outcome to the case bank, then the playbook's reflection on it. Never throws:
   * what goes wrong is a warning line.
   */
  learn(run: { runId: string; score: number; expected: string }): Promise<{
    warnings: string[];
    usage: LearningUsage;
  }>;
  /** Forgets a run that gets no outcome (an infrastructure failure: a rerun retries it). */
  forget(runId: string): void;
  /** Closes the store; a temporary one is deleted. */
  close(): Promise<void>;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A view of `client` whose `generate` counts what it spends; everything else is the client's own. */
function countingClient(client: ModelClient, onUsage: (usage: Omit<LearningUsage, "latencyMs">) => void) {
  const counting = Object.create(client) as ModelClient;
  counting.generate = async (request: ModelRequest) => {
    const response = await client.generate(request);
    onUsage({
      calls: 1,
      inputTokens: response.usage.inputTokens,
      outputTokens: response.usage.outputTokens,
      costUsd: response.cached ? 0 : response.usage.costUsd,
    });
    return response;
  };
  return counting;
}

/**
 * Opens the stream's memory: `path` (a SQLite file or postgres:// URL kept between runs, `--learning-db`), else a
 * temporary SQLite file deleted by `close`. `scope` keeps one stream's cases and lessons apart from another's.
 */
export async function openStreamLearning(options: {
  path?: string;
  scope: string;
  /** The reflector's model: the sub-model, else the model. */
  reflector: ModelClient;
  playbookBudget?: number;
  onWarning?: (line: string) => void;
}): Promise<StreamLearning> {
  const dir = options.path === undefined ? mkdtempSync(join(tmpdir(), "rlm-bench-learning-")) : undefined;
  const location = options.path ?? join(dir as string, "learning.db");
  let store: MemoryStore;
  try {
    store = await openMemoryStore(location, options.onWarning ? { warn: options.onWarning } : {});
  } catch (error) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const caseBank = createCaseBank({ store, scope: options.scope });
  let spent: Omit<LearningUsage, "latencyMs"> = { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
  const reflector = countingClient(options.reflector, (usage) => {
    spent = {
      calls: spent.calls + usage.calls,
      inputTokens: spent.inputTokens + usage.inputTokens,
      outputTokens: spent.outputTokens + usage.outputTokens,
      costUsd: spent.costUsd === null || usage.costUsd === null ? null : spent.costUsd + usage.costUsd,
    };
  });
  const playbook = createPlaybook({
    store,
    scope: options.scope,
    ...(options.playbookBudget === undefined ? {} : { budgetTokens: options.playbookBudget }),
  }).learner({ model: reflector });
  // The engine calls `finish` as the run ends, before the scorer has spoken: the run waits here for `learn`.
  const pending = new Map<string, FinishedRun>();
  const deferredPlaybook: RunLearner = {
    name: playbook.name,
    prepare: (run) => playbook.prepare(run),
    async finish(run) {
      pending.set(run.runId, run);
      return undefined;
    },
  };
  return {
    learners: [caseBank, deferredPlaybook],
    caseBank,
    store,
    scope: options.scope,
    async learn({ runId, score, expected }) {
      const warnings: string[] = [];
      spent = { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
      const started = performance.now();
      try {
        await caseBank.feedback(runId, score, { source: "scorer" });
      } catch (error) {
        warnings.push(`case bank: the score could not be recorded (${message(error)})`);
      }
      const run = pending.get(runId);
      pending.delete(runId);
      if (run) {
        const right = score >= 0.5;
        const verdict = right
          ? `the benchmark's scorer accepted the answer (score ${score})`
          : `the benchmark's scorer rejected the answer (score ${score}; run status ${run.status}); the expected answer was ${JSON.stringify(expected.slice(0, 200))}`;
        // A wrong answer is a failure for the playbook: bullets the run cited are tagged harmful.
        const failure = await playbook
          .finish({ ...run, status: right ? "completed" : "failed", error: verdict })
          .catch((error: unknown) => `could not update the playbook (${message(error)})`);
        if (failure) warnings.push(`playbook: ${failure}`);
      }
      return { warnings, usage: { ...spent, latencyMs: Math.round(performance.now() - started) } };
    },
    forget(runId) {
      pending.delete(runId);
    },
    async close() {
      try {
        await store.close();
      } finally {
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
