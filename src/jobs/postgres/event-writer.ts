import type { Db } from "pg-boss";
import type { EventBudget } from "../job-limits.ts";
import { appendEvents } from "./job-rows.ts";

/** Events and bytes per statement. */
const BATCH_EVENTS = 200;
const BATCH_BYTES = 4 * 1024 * 1024;
/** Events waiting for the database at most; past it new ones are dropped, and one marker says so. */
const MAX_PENDING = 2000;

/**
 * Writes one attempt's events to `jobs_events` as the executor emits them. `emit` is synchronous, so events wait
 * in a small buffer; one statement at a time stores whatever has gathered (so a burst becomes a few statements,
 * and a lone event goes out at once). Stops for good once the job no longer runs under this attempt.
 */
export class EventWriter {
  private readonly db: Db;
  private readonly job: { id: string; attempt: number };
  private readonly budget: EventBudget;
  private readonly onError: (error: unknown) => void;
  private pending: string[] = [];
  private overflowed = false;
  private flushing: Promise<void> | undefined;
  private stopped = false;

  constructor(
    db: Db,
    job: { id: string; attempt: number },
    budget: EventBudget,
    onError: (error: unknown) => void,
  ) {
    this.db = db;
    this.job = job;
    this.budget = budget;
    this.onError = onError;
  }

  push(event: unknown): void {
    if (this.stopped) return;
    if (this.pending.length >= MAX_PENDING) {
      this.overflowed = true;
      return;
    }
    const json = this.budget.admit(event);
    if (json === undefined) return;
    this.pending.push(json);
    this.flushing ??= this.flush();
  }

  /** Stores what is buffered, then takes nothing more. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.stopped = true;
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.stopped) {
        if (this.overflowed && this.pending.length < MAX_PENDING) {
          this.overflowed = false;
          this.budget.exhaust();
          this.pending.push(
            JSON.stringify({ type: "events-dropped", reason: "the database did not keep up" }),
          );
        }
        const batch: string[] = [];
        let bytes = 0;
        while (this.pending.length > 0 && batch.length < BATCH_EVENTS && bytes < BATCH_BYTES) {
          const json = this.pending.shift() as string;
          batch.push(json);
          bytes += Buffer.byteLength(json);
        }
        try {
          const stored = await appendEvents(this.db, this.job, batch, bytes);
          if (stored === 0) this.stopped = true;
        } catch (error) {
          // The batch is lost, the run goes on: its result matters more than its progress.
          this.onError(error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
