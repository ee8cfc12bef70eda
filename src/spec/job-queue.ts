/**
 * The job queue extension point: runs submitted now and worked on later, by this process or by workers
 * elsewhere. `rlm serve`'s `/v1/runs` API depends only on this file; one implementation runs jobs in-process,
 * another keeps them in PostgreSQL (pg-boss) for `rlm worker` processes. One conformance suite
 * (test/job-queue-conformance.ts) for all. Nothing here imports anything else of rlmkit.
 *
 * Rules every queue keeps:
 * - A job ends exactly once (`completed`, `failed` or `cancelled`), with its `result` or `error` stored; a
 *   reader never sees it end twice or go back to `running`.
 * - A job whose worker died is retried (up to `maxAttempts`), then `failed` with the reason; never lost.
 * - Events are numbered from 1 in the order they were emitted and kept with the job; a reader that comes late
 *   or reconnects (`after`) gets the ones it missed, then the live ones.
 * - Specs, results and events are JSON: nothing in them is a live object.
 */

export type JobStatus = "queued" | "running" | "completed" | "failed" | "cancelled";

export const FINAL_JOB_STATUSES: readonly JobStatus[] = ["completed", "failed", "cancelled"];

export interface JobRecord {
  id: string;
  status: JobStatus;
  /** ISO 8601 times. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** How many times a worker started it (a retry after a worker died counts). */
  attempts: number;
  /** What the executor returned (for runs: what `rlm run --json` prints); set when `completed`. */
  result?: unknown;
  /** One line: why it `failed` or was `cancelled`. */
  error?: string;
  /** Who submitted it (an API key's name), for accounting; never a secret. */
  owner?: string;
}

export interface JobEvent {
  /** 1, 2, 3, ... per job. */
  seq: number;
  event: unknown;
}

export interface JobQueue {
  /** Stores a job as `queued` and returns at once. A spec that is not JSON or too large is refused. */
  submit(spec: unknown, options?: { owner?: string }): Promise<JobRecord>;
  /** The job as it is now; undefined for an unknown id. */
  get(id: string): Promise<JobRecord | undefined>;
  /**
   * Cancels a job that has not ended: it ends `cancelled` at once; a queued one never starts, a running one has
   * its signal aborted (what its executor returns afterwards is not kept). Returns the job as it is after the
   * request (an ended job is returned unchanged); undefined for an unknown id.
   */
  cancel(id: string): Promise<JobRecord | undefined>;
  /**
   * The job's events after `after` (default 0): first the stored ones, then live ones as they come; the
   * iteration ends once the job has ended and every event was given, or when `signal` aborts; at once for an
   * unknown id. A retried job's events go on numbering after those of its earlier attempts.
   */
  events(id: string, options?: { after?: number; signal?: AbortSignal }): AsyncIterable<JobEvent>;
  /** Stops taking work and releases connections; running jobs of this process are cancelled. */
  close(): Promise<void>;
}

/**
 * What a worker does with one job. Throwing ends the job `failed` (the first line of the error's message becomes
 * `error`); it is not retried: only attempts cut short by a worker that stopped or died are.
 */
export type JobExecutor = (
  spec: unknown,
  context: { jobId: string; attempt: number; signal: AbortSignal; emit(event: unknown): void },
) => Promise<unknown>;
