import { join } from "node:path";
import { answerText } from "../engine/answer-text.ts";
import type { RLMOptions } from "../engine/rlm.ts";
import { asModelClient } from "../models/model-client.ts";
import { resolveStrategy } from "../strategies/resolve-strategy.ts";
import type { TraceWriter } from "../trace/jsonl-trace.ts";
import { type BenchRow, readBenchFile, rowKey, writeAtomically } from "./bench-results.ts";
import { hasLearningCurve, renderLearningCurvePlot } from "./learning-curve.ts";
import { renderPlot } from "./plot.ts";
import { renderMarkdown } from "./report.ts";
import { formatSize } from "./sizes.ts";
import type { BenchSuite } from "./suite.ts";
import { type LearningUsage, openStreamLearning, type StreamLearning } from "./task-learning.ts";
import { buildTaskMemory, parseBenchStrategy, type TaskMemory } from "./task-memory.ts";
import { type BenchTraces, openTaskTrace } from "./task-trace.ts";

export interface BenchOptions {
  suites: readonly BenchSuite[];
  /** Input sizes in tokens. */
  sizes: number[];
  /**
   * Strategy names; `rlm+memory` is the RLM with a memory: per task, the task's history (its earlier sessions)
   * is stored as dated episodes in a fresh SQLite memory and consolidated with the sub-model (else the root
   * model) before the run, which then recalls from it. Plain `rlm` sees only the context.
   */
  strategies: string[];
  /**
   * `rlm+learning` keeps one memory per suite and size (the stream) in this SQLite file (or postgres:// URL),
   * each stream in a scope of its own, so an interrupted stream resumes with what it had learned. Without it the
   * memory is a temporary file, and a stream that was cut short is run again from its first task.
   */
  learningDb?: string;
  /** Tasks per suite and size. */
  tasks: number;
  /** Model, sub-model, limits, sandbox...: what every strategy run gets. */
  run: RLMOptions;
  /** Output directory for results.json, results.md and plot.svg. */
  out: string;
  seed?: number;
  /** A line for the top of results.md (e.g. that the model is scripted). */
  note?: string;
  /** Writes one JSONL trace per task run into this folder; each row's `trace` names its file. */
  traces?: BenchTraces;
  /** Told what goes wrong beside a task's result (a trace that could not be written); the row keeps it too. */
  onWarning?: (message: string) => void;
  /** Cancels the task in flight. */
  signal?: AbortSignal;
  /** Lets the task in flight finish, then stops (what a first Ctrl-C does). */
  stopAfterTask?: AbortSignal;
  onProgress?: (progress: { done: number; total: number; skipped: number; current: string }) => void;
}

/**
 * Runs every suite x size x task with every strategy and writes DIR/results.json after each task (an interrupted
 * run resumes where it stopped), then DIR/results.md and DIR/plot.svg.
 */
export async function runBench(options: BenchOptions): Promise<BenchRow[]> {
  const seed = options.seed ?? 1;
  const defaults = {
    settings: options.run.settings,
    prices: options.run.prices,
    cache: options.run.responseCache,
  };
  const root = asModelClient(options.run.model, defaults);
  const sub = options.run.subModel === undefined ? root : asModelClient(options.run.subModel, defaults);
  // Tasks run one at a time, so the events of the task in flight go to its trace.
  let trace: TraceWriter | undefined;
  const onEvent = options.run.onEvent;
  const shared: RLMOptions = {
    ...options.run,
    model: root,
    subModel: sub,
    onEvent: (event) => {
      onEvent?.(event);
      trace?.listener(event);
    },
  };
  const header = { model: root.label, subModel: sub.label, seed };
  const resultsPath = join(options.out, "results.json");
  // A task that failed for the infrastructure (HTTP errors, timeouts: status "failed") is not done: a rerun tries
  // it again, in place of its row.
  const rows = readBenchFile(resultsPath, { version: 1, ...header }).filter((row) => row.status !== "failed");
  // Every name is checked (and each strategy built once) before any work; a +memory one is built per task.
  const strategies = options.strategies.map((name) => {
    const { base, memory, learning } = parseBenchStrategy(name);
    return { name, base, memory, learning, strategy: resolveStrategy(base, shared) };
  });
  // A +learning stream that was cut short, with its memory gone (no --learning-db), runs again from task 0:
  // resuming it in the middle would run later tasks without what the earlier ones taught.
  if (options.learningDb === undefined) {
    for (const strategy of strategies.filter((item) => item.learning)) {
      for (const suite of options.suites) {
        for (const size of options.sizes) {
          const ofStream = (row: BenchRow) =>
            row.suite === suite.name && row.size === size && row.strategy === strategy.name;
          const doneTasks = new Set(rows.filter(ofStream).map((row) => row.task));
          const complete = Array.from({ length: options.tasks }, (_, task) => task).every((task) =>
            doneTasks.has(task),
          );
          if (doneTasks.size === 0 || complete) continue;
          options.onWarning?.(
            `${strategy.name} on ${suite.name} ${formatSize(size)}: the stream was cut short and its memory was temporary, so it runs again from task 0 (give --learning-db FILE to keep what a stream learned between runs)`,
          );
          rows.splice(0, rows.length, ...rows.filter((row) => !ofStream(row)));
        }
      }
    }
  }
  const done = new Set(rows.map(rowKey));
  // +learning: one memory per suite and size, opened at the stream's first task to run, closed after its last.
  let stream: StreamLearning | undefined;
  const closeStream = async () => {
    const closing = stream;
    stream = undefined;
    await closing?.close();
  };

  const writeReport = () => {
    const note = options.note ? { note: options.note } : {};
    writeAtomically(join(options.out, "results.md"), renderMarkdown(rows, { ...header, ...note }));
    writeAtomically(join(options.out, "plot.svg"), renderPlot(rows));
    if (hasLearningCurve(rows)) {
      writeAtomically(join(options.out, "learning-curve.svg"), renderLearningCurvePlot(rows));
    }
  };
  const total = options.suites.length * options.sizes.length * options.tasks * strategies.length;
  let finished = 0;
  const skipped = done.size;
  try {
    for (const suite of options.suites) {
      for (const size of options.sizes) {
        await closeStream();
        for (let task = 0; task < options.tasks; task++) {
          const generated = suite.generate(size, seed, task);
          for (const strategy of strategies) {
            const key = { suite: suite.name, size, strategy: strategy.name, task };
            if (done.has(rowKey(key))) {
              finished++;
              continue;
            }
            if (options.signal?.aborted || options.stopAfterTask?.aborted) {
              writeReport();
              return rows;
            }
            options.onProgress?.({
              done: finished,
              total,
              skipped,
              current: `${suite.name} ${size} ${strategy.name} #${task}`,
            });
            // +memory: a fresh memory of the task's history, consolidated before the run starts.
            let taskMemory: TaskMemory | undefined;
            if (strategy.memory) {
              taskMemory = await buildTaskMemory(generated.history ?? [], sub, {
                ...(options.signal ? { signal: options.signal } : {}),
                onBatch: (report) =>
                  options.onProgress?.({
                    done: finished,
                    total,
                    skipped,
                    current: `${suite.name} ${size} ${strategy.name} #${task}: memory (${report.calls} calls)`,
                  }),
              });
            }
            if (strategy.learning && stream === undefined) {
              stream = await openStreamLearning({
                ...(options.learningDb === undefined ? {} : { path: options.learningDb }),
                scope: `bench-${suite.name}-${formatSize(size)}-seed${seed}`,
                reflector: sub,
                ...(options.onWarning ? { onWarning: options.onWarning } : {}),
              });
            }
            const learning = strategy.learning ? stream : undefined;
            try {
              if (options.signal?.aborted) {
                writeReport();
                return rows;
              }
              const memoryRow = taskMemory ? memoryFields(taskMemory) : {};
              if (taskMemory?.failure !== undefined) {
                // Consolidation could not reach the model: like an HTTP error in a run, a rerun tries again.
                rows.push({
                  ...key,
                  score: 0,
                  accuracy: 0,
                  inputTokens: taskMemory.report.usage.inputTokens,
                  outputTokens: taskMemory.report.usage.outputTokens,
                  costUsd: memoryRow.memoryCostUsd ?? null,
                  latencyMs: 0,
                  subcalls: 0,
                  status: "failed",
                  answer: "",
                  expected: generated.expected.slice(0, 2000),
                  error: taskMemory.failure,
                  ...memoryRow,
                  ...(taskMemory.warnings.length > 0 ? { warnings: taskMemory.warnings } : {}),
                });
                finished++;
                writeAtomically(resultsPath, `${JSON.stringify({ version: 1, ...header, rows }, null, 1)}\n`);
                continue;
              }
              const runner = taskMemory
                ? resolveStrategy(strategy.base, { ...shared, memory: taskMemory.memory })
                : learning
                  ? resolveStrategy(strategy.base, {
                      ...shared,
                      learners: [...(shared.learners ?? []), ...learning.learners],
                    })
                  : strategy.strategy;
              const opened = options.traces ? openTaskTrace(options.traces, key) : undefined;
              trace = opened && "writer" in opened ? opened.writer : undefined;
              const result = await runner
                .run({ context: generated.context, query: generated.query, signal: options.signal })
                .finally(() => {
                  trace?.close();
                  trace = undefined;
                });
              if (result.status === "cancelled") {
                writeReport();
                return rows;
              }
              // A trace that could not be written costs the trace, never the result: it becomes a warning.
              const traceWarning = opened && ("warning" in opened ? opened.warning : opened.writer.failure);
              if (traceWarning) options.onWarning?.(traceWarning);
              for (const warning of taskMemory?.warnings ?? []) options.onWarning?.(warning);
              const failed = result.status === "failed";
              const score = result.answer === null || failed ? 0 : generated.score(result.answer);
              // +learning: the score is the run's outcome for the case bank and the playbook's reflection. An
              // infrastructure failure teaches nothing (a rerun retries the task).
              let learned: { warnings: string[]; usage: LearningUsage } | undefined;
              if (learning && result.runId !== undefined) {
                if (failed) learning.forget(result.runId);
                else {
                  learned = await learning.learn({
                    runId: result.runId,
                    score,
                    expected: generated.expected,
                  });
                  for (const warning of learned.warnings) options.onWarning?.(warning);
                }
              }
              const warnings = [
                ...(taskMemory?.warnings ?? []),
                ...(traceWarning ? [traceWarning] : []),
                ...(learned?.warnings ?? []),
              ];
              // Unknown stays unknown: a failed task with no priced call, or any unpriced call, has no cost figure.
              const runCost =
                result.usage.total.unpricedCalls > 0 || (failed && result.usage.total.costUsd === null)
                  ? null
                  : (result.usage.total.costUsd ?? 0);
              const memoryCost = taskMemory ? (memoryRow.memoryCostUsd ?? null) : 0;
              const learningCost = learned ? learned.usage.costUsd : 0;
              rows.push({
                ...key,
                score,
                accuracy: score,
                // Memory on pays for its consolidation: its tokens and cost are in the totals.
                // Learning on pays for its reflection too.
                inputTokens:
                  result.usage.total.inputTokens +
                  (taskMemory?.report.usage.inputTokens ?? 0) +
                  (learned?.usage.inputTokens ?? 0),
                outputTokens:
                  result.usage.total.outputTokens +
                  (taskMemory?.report.usage.outputTokens ?? 0) +
                  (learned?.usage.outputTokens ?? 0),
                costUsd:
                  runCost === null || memoryCost === null || learningCost === null
                    ? null
                    : runCost + memoryCost + learningCost,
                latencyMs: Math.round(result.durationMs),
                subcalls: result.subcalls,
                status: result.status,
                answer: answerText(result.answer ?? "").slice(0, 2000),
                expected: generated.expected.slice(0, 2000),
                ...(result.error ? { error: result.error } : {}),
                ...(opened && "name" in opened ? { trace: opened.name } : {}),
                ...(warnings.length > 0 ? { warnings } : {}),
                ...memoryRow,
                ...(learned
                  ? {
                      learningCalls: learned.usage.calls,
                      learningInputTokens: learned.usage.inputTokens,
                      learningOutputTokens: learned.usage.outputTokens,
                      learningCostUsd: learned.usage.costUsd,
                      learningLatencyMs: learned.usage.latencyMs,
                    }
                  : {}),
              });
            } finally {
              await taskMemory?.close();
            }
            finished++;
            writeAtomically(resultsPath, `${JSON.stringify({ version: 1, ...header, rows }, null, 1)}\n`);
          }
        }
      }
    }
  } finally {
    await closeStream();
  }
  options.onProgress?.({ done: finished, total, skipped, current: "writing the report" });
  writeReport();
  return rows;
}

/** The row fields of a task's memory build. */
function memoryFields(taskMemory: TaskMemory): Partial<BenchRow> {
  const { usage } = taskMemory.report;
  return {
    memoryEpisodes: taskMemory.episodes,
    memoryCalls: taskMemory.report.calls,
    memoryFacts: taskMemory.report.facts,
    memoryInputTokens: usage.inputTokens,
    memoryOutputTokens: usage.outputTokens,
    memoryCostUsd: usage.unpricedCalls > 0 ? null : (usage.costUsd ?? 0),
    memoryLatencyMs: Math.round(taskMemory.latencyMs),
  };
}
