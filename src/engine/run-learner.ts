import type { UsageTotals } from "../models/usage.ts";
import type { RunEvent } from "./run-events.ts";

/**
 * Something that learns from runs (the case bank, the playbook): before a root run it may add a block of text to
 * the first message (worked examples, lessons: data for the model, never instructions that override the task),
 * and after the run it hears how the run went. Learners run for root runs only and never fail a run: an error in
 * `prepare` means no block, an error in `finish` becomes a warning of the result.
 */
export interface RunLearner {
  /** For warnings and traces, e.g. "case bank". */
  readonly name: string;
  /** Text for the root's first message, or "" for none. */
  prepare(run: { runId: string; query: string; signal?: AbortSignal }): Promise<string>;
  /** Records the finished run; resolves to a warning line when it could not, else undefined. */
  finish(run: FinishedRun): Promise<string | undefined>;
}

/** What a learner hears about a finished root run. */
export interface FinishedRun {
  runId: string;
  query: string;
  answer: unknown;
  status: string;
  error?: string;
  iterations: number;
  /** What the whole run tree spent. */
  usage: UsageTotals;
  /** The root model's label. */
  model: string;
  /** Every event of the run tree so far (cells with their code, sub-calls, the root's replies). */
  events: readonly RunEvent[];
}
