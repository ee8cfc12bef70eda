/**
 * The JobQueue without a database: jobs run in this process, at most `concurrency` at once, in the order they
 * were submitted. What `rlm serve` uses without `--db postgres://...`. Nothing survives the process; everything
 * kept is bounded: unfinished jobs (submit refuses past the cap), ended jobs kept for reading (the oldest go
 * first, also past `maxResultBytes` of their results), the specs of queued jobs (`maxQueuedSpecBytes`; a spec is
 * let go once its job starts), and events (per job by JOB_LIMITS, over all jobs by `maxEventBytes`).
 */
import { randomUUID } from "node:crypto";
import { JobError } from "../errors/job-error.ts";
import {
  FINAL_JOB_STATUSES,
  type JobEvent,
  type JobExecutor,
  type JobQueue,
  type JobRecord,
  type JobStatus,
} from "../spec/job-queue.ts";
import { checkedAfter, checkedOwner, EventBudget, errorLine, resultJson, specJson } from "./job-limits.ts";
import { Wakeup } from "./wakeup.ts";

export interface InProcessQueueOptions {
  executor: JobExecutor;
  /** Jobs run at once (default 4). */
  concurrency?: number;
  /** Queued and running jobs at once; submit refuses more with a JobError "full" (default 1000). */
  maxUnfinished?: number;
  /** Ended jobs kept for `get` and `events`; past it the oldest ended job is forgotten (default 1000). */
  maxEndedJobs?: number;
  /** Bytes of events kept over all jobs (default 256 MiB): ended jobs are forgotten first, oldest first. */
  maxEventBytes?: number;
  /** Bytes of the specs of queued jobs (default 256 MiB); submit refuses more with a JobError "full". */
  maxQueuedSpecBytes?: number;
  /** Bytes of the results of ended jobs kept (default 256 MiB); past it the oldest ended jobs are forgotten. */
  maxResultBytes?: number;
}

export const IN_PROCESS_DEFAULTS = {
  concurrency: 4,
  maxUnfinished: 1000,
  maxEndedJobs: 1000,
  maxEventBytes: 256 * 1024 * 1024,
  maxQueuedSpecBytes: 256 * 1024 * 1024,
  maxResultBytes: 256 * 1024 * 1024,
} as const;

/** How long `close()` waits for executors to stop after their signal aborted. */
const CLOSE_WAIT_MS = 10_000;
/** A waiting reader looks again at least this often (a safety net; notifications wake it sooner). */
const READER_RECHECK_MS = 30_000;

type Outcome = { status: "completed"; result: string } | { status: "failed" | "cancelled"; error: string };

interface Entry {
  record: JobRecord;
  /** The spec as JSON text while the job waits (the executor gets its own copy; then it is let go). */
  spec: string | undefined;
  specBytes: number;
  /** The result as JSON text: every reader gets its own copy. */
  result?: string;
  resultBytes: number;
  events: string[];
  eventBytes: number;
  budget: EventBudget;
  /** Set while the executor runs. */
  controller?: AbortController;
  readers: Set<Wakeup>;
}

const isFinal = (status: JobStatus) => FINAL_JOB_STATUSES.includes(status);

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new JobError({
      message: `${name} must be a whole number of 1 or more, got ${value}`,
      reason: "invalid",
    });
  }
  return value;
}

/** Creates the in-process queue; `close()` cancels what has not ended. */
export function createInProcessQueue(options: InProcessQueueOptions): JobQueue {
  return new InProcessQueue(options);
}

class InProcessQueue implements JobQueue {
  private readonly executor: JobExecutor;
  private readonly concurrency: number;
  private readonly maxUnfinished: number;
  private readonly maxEndedJobs: number;
  private readonly maxEventBytes: number;
  private readonly maxQueuedSpecBytes: number;
  private readonly maxResultBytes: number;
  /** Every job kept, oldest first. */
  private readonly jobs = new Map<string, Entry>();
  /** Ids of queued jobs, in order. */
  private readonly waiting: string[] = [];
  /** Ids of ended jobs, in the order they ended (the eviction order). */
  private readonly ended = new Set<string>();
  private readonly runs = new Set<Promise<void>>();
  private eventBytes = 0;
  private queuedSpecBytes = 0;
  private resultBytes = 0;
  private closed = false;

  constructor(options: InProcessQueueOptions) {
    this.executor = options.executor;
    this.concurrency = positive("concurrency", options.concurrency, IN_PROCESS_DEFAULTS.concurrency);
    this.maxUnfinished = positive("maxUnfinished", options.maxUnfinished, IN_PROCESS_DEFAULTS.maxUnfinished);
    this.maxEndedJobs = positive("maxEndedJobs", options.maxEndedJobs, IN_PROCESS_DEFAULTS.maxEndedJobs);
    this.maxEventBytes = positive("maxEventBytes", options.maxEventBytes, IN_PROCESS_DEFAULTS.maxEventBytes);
    this.maxQueuedSpecBytes = positive(
      "maxQueuedSpecBytes",
      options.maxQueuedSpecBytes,
      IN_PROCESS_DEFAULTS.maxQueuedSpecBytes,
    );
    this.maxResultBytes = positive(
      "maxResultBytes",
      options.maxResultBytes,
      IN_PROCESS_DEFAULTS.maxResultBytes,
    );
  }

  async submit(spec: unknown, options: { owner?: string } = {}): Promise<JobRecord> {
    const json = specJson(spec);
    const owner = checkedOwner(options.owner);
    if (this.closed) throw new JobError({ message: "the job queue is closed", reason: "unavailable" });
    if (this.jobs.size - this.ended.size >= this.maxUnfinished) {
      throw new JobError({
        message: `the job queue is full (${this.maxUnfinished} jobs queued or running); try again later`,
        reason: "full",
      });
    }
    const specBytes = Buffer.byteLength(json);
    if (this.queuedSpecBytes + specBytes > this.maxQueuedSpecBytes) {
      throw new JobError({
        message: `the job queue is full (${this.queuedSpecBytes} bytes of specs wait to run); try again later`,
        reason: "full",
      });
    }
    this.queuedSpecBytes += specBytes;
    const record: JobRecord = {
      id: randomUUID(),
      status: "queued",
      createdAt: new Date().toISOString(),
      attempts: 0,
      ...(owner === undefined ? {} : { owner }),
    };
    this.jobs.set(record.id, {
      record,
      spec: json,
      specBytes,
      resultBytes: 0,
      events: [],
      eventBytes: 0,
      budget: new EventBudget(),
      readers: new Set(),
    });
    this.waiting.push(record.id);
    const submitted = { ...record };
    this.startWaiting();
    return submitted;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const entry = this.jobs.get(id);
    return entry ? this.copy(entry) : undefined;
  }

  async cancel(id: string): Promise<JobRecord | undefined> {
    const entry = this.jobs.get(id);
    if (!entry) return undefined;
    if (!isFinal(entry.record.status)) {
      this.end(entry, { status: "cancelled", error: "cancelled by request" });
      entry.controller?.abort(new Error("the job was cancelled"));
    }
    return this.copy(entry);
  }

  async *events(id: string, options: { after?: number; signal?: AbortSignal } = {}): AsyncIterable<JobEvent> {
    let after = checkedAfter(options.after);
    const { signal } = options;
    const entry = this.jobs.get(id);
    if (!entry) return;
    const wakeup = new Wakeup();
    entry.readers.add(wakeup);
    try {
      while (!signal?.aborted && this.jobs.get(id) === entry) {
        // Read before looking at the status: an ended job has all its events stored.
        const ended = isFinal(entry.record.status);
        while (after < entry.events.length) {
          const text = entry.events[after] as string;
          after += 1;
          yield { seq: after, event: JSON.parse(text) };
          if (signal?.aborted || this.jobs.get(id) !== entry) return;
        }
        if (ended) return;
        await wakeup.wait(READER_RECHECK_MS, signal);
      }
    } finally {
      entry.readers.delete(wakeup);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of this.waiting.splice(0)) {
      const entry = this.jobs.get(id);
      if (entry) this.end(entry, { status: "cancelled", error: "the server stopped before the job ran" });
    }
    for (const entry of this.jobs.values()) {
      if (entry.record.status !== "running") continue;
      this.end(entry, { status: "cancelled", error: "the server stopped while the job ran" });
      entry.controller?.abort(new Error("the job queue was closed"));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.runs]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  private copy(entry: Entry): JobRecord {
    const record = { ...entry.record };
    if (entry.result !== undefined) record.result = JSON.parse(entry.result);
    return record;
  }

  private startWaiting(): void {
    while (!this.closed && this.runningCount() < this.concurrency && this.waiting.length > 0) {
      const entry = this.jobs.get(this.waiting.shift() as string);
      if (entry?.record.status !== "queued") continue;
      const run = this.run(entry).finally(() => {
        this.runs.delete(run);
        this.startWaiting();
      });
      this.runs.add(run);
    }
  }

  private runningCount(): number {
    return this.runs.size;
  }

  private async run(entry: Entry): Promise<void> {
    const { record } = entry;
    const controller = new AbortController();
    entry.controller = controller;
    record.status = "running";
    record.attempts += 1;
    record.startedAt ??= new Date().toISOString();
    this.notifyReaders(entry);
    const attempt = record.attempts;
    let outcome: Outcome;
    try {
      const spec = JSON.parse(entry.spec ?? "null");
      this.letSpecGo(entry);
      const result = await this.executor(spec, {
        jobId: record.id,
        attempt,
        signal: controller.signal,
        emit: (event) => this.addEvent(entry, attempt, event),
      });
      const stored = resultJson(result);
      outcome =
        "json" in stored
          ? { status: "completed", result: stored.json }
          : { status: "failed", error: stored.error };
    } catch (error) {
      outcome = { status: "failed", error: errorLine(error) };
    } finally {
      entry.controller = undefined;
    }
    // A job cancelled meanwhile has ended already: what the executor gave back is not kept.
    if (record.status === "running" && record.attempts === attempt) this.end(entry, outcome);
  }

  private addEvent(entry: Entry, attempt: number, event: unknown): void {
    if (entry.record.status !== "running" || entry.record.attempts !== attempt) return;
    let json = entry.budget.admit(event);
    if (json === undefined) return;
    const bytes = Buffer.byteLength(json);
    if (this.eventBytes + bytes > this.maxEventBytes) this.forgetEnded(bytes);
    if (this.eventBytes + bytes > this.maxEventBytes) {
      // Running jobs alone hold the whole budget: this job says so once and keeps nothing more.
      entry.budget.exhaust();
      json = JSON.stringify({ type: "events-dropped", reason: "the server keeps no more events in memory" });
    }
    entry.events.push(json);
    entry.eventBytes += Buffer.byteLength(json);
    this.eventBytes += Buffer.byteLength(json);
    this.notifyReaders(entry);
  }

  private end(entry: Entry, outcome: Outcome): void {
    const { record } = entry;
    record.status = outcome.status;
    record.finishedAt = new Date().toISOString();
    this.letSpecGo(entry);
    if (outcome.status === "completed") {
      entry.result = outcome.result;
      entry.resultBytes = Buffer.byteLength(outcome.result);
      this.resultBytes += entry.resultBytes;
    } else record.error = outcome.error;
    this.ended.add(record.id);
    this.notifyReaders(entry);
    this.forgetEnded(0);
  }

  /** A job that started or ended no longer needs its spec. */
  private letSpecGo(entry: Entry): void {
    if (entry.spec === undefined) return;
    entry.spec = undefined;
    this.queuedSpecBytes -= entry.specBytes;
  }

  /**
   * Forgets the oldest ended jobs while more are kept than allowed, their results take more than allowed, or
   * `extraBytes` more events would not fit.
   */
  private forgetEnded(extraBytes: number): void {
    for (const id of this.ended) {
      const tooMany = this.ended.size > this.maxEndedJobs;
      const tooLarge = this.resultBytes > this.maxResultBytes;
      if (!tooMany && !tooLarge && this.eventBytes + extraBytes <= this.maxEventBytes) return;
      const entry = this.jobs.get(id);
      this.ended.delete(id);
      this.jobs.delete(id);
      if (entry) {
        this.eventBytes -= entry.eventBytes;
        this.resultBytes -= entry.resultBytes;
        this.notifyReaders(entry);
      }
    }
  }

  private notifyReaders(entry: Entry): void {
    for (const reader of entry.readers) reader.notify();
  }
}
