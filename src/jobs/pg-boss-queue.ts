/**
 * The JobQueue on PostgreSQL: what `rlm serve --db postgres://...` uses. pg-boss holds the queue (which job
 * waits, which worker holds it, heartbeats and retries); our `jobs_` tables hold each job's status, result and
 * events (postgres/job-tables.ts). This side submits, reads and cancels; `rlm worker` processes
 * (job-worker.ts) run the jobs, on any machine that reaches the database.
 *
 * Live events come by LISTEN/NOTIFY: a worker's event write notifies `rlm_jobs` in the same statement, and a
 * waiting reader wakes and reads what is new from the table. One listening connection per process serves
 * every reader, and a reader costs nothing while nothing happens (polling would cost a query per reader per
 * interval). Notifications are only a wake-up: the table is the truth, so a reader also looks again every
 * few seconds (every second while the listener is down), and a lost notification only delays it.
 */
import { randomUUID } from "node:crypto";
import type { Db, PgBoss } from "pg-boss";
import { JobError } from "../errors/job-error.ts";
import { FINAL_JOB_STATUSES, type JobEvent, type JobQueue, type JobRecord } from "../spec/job-queue.ts";
import { checkedAfter, checkedOwner, specJson } from "./job-limits.ts";
import {
  cancelRecord,
  countUnfinished,
  insertRecord,
  isPlausibleId,
  readEvents,
  readRecord,
} from "./postgres/job-rows.ts";
import { inTransaction, JOBS_CHANNEL, type ListenHandle } from "./postgres/job-tables.ts";
import { DEFAULT_QUEUE_NAME, openJobBoss } from "./postgres/open-job-boss.ts";
import { Wakeup } from "./wakeup.ts";

export interface PgBossQueueOptions {
  /** postgres://user:password@host:5432/database (the memory store may share the database). */
  url: string;
  /** pg-boss's queue; workers must use the same (default "rlm-runs"). */
  queueName?: string;
  /**
   * Starts a job may take (default 3): a worker that dies or is stopped mid-run uses one. After the last, the job
   * ends `failed` ("the worker running it stopped N times"). An executor that throws fails the job at once.
   */
  maxAttempts?: number;
  /**
   * A worker proves every half of this that it still runs a job; a job whose worker was silent this long goes
   * to another worker (default 30; pg-boss's minimum is 10).
   */
  heartbeatSeconds?: number;
  /** The longest one attempt may run before pg-boss takes it back (default 6 hours; at most 24). */
  maxRunSeconds?: number;
  /** Queued and running jobs at most; submit refuses more with a JobError "full" (default 10,000). */
  maxUnfinished?: number;
  /** How often this process looks for jobs whose worker went silent (default 15 s). */
  superviseIntervalSeconds?: number;
  /** pg-boss's own errors (a lost connection, a failed maintenance pass); by default ignored. */
  onError?: (error: Error) => void;
}

export const PG_QUEUE_DEFAULTS = {
  maxAttempts: 3,
  heartbeatSeconds: 30,
  maxRunSeconds: 6 * 60 * 60,
  maxUnfinished: 10_000,
  superviseIntervalSeconds: 15,
} as const;

/** Events read per query. */
const PAGE = 100;
/** A waiting reader looks again this often, notified or not. */
const RECHECK_MS = 5_000;
const RECHECK_WITHOUT_LISTENER_MS = 1_000;

function wholeNumber(name: string, value: number | undefined, fallback: number, min: number, max: number) {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new JobError({
      message: `${name} must be a whole number from ${min} to ${max}, got ${value}`,
      reason: "invalid",
    });
  }
  return value;
}

/** Opens the queue (creating pg-boss's schema and our tables when missing). */
export async function createPgBossQueue(options: PgBossQueueOptions): Promise<JobQueue> {
  const settings = {
    queueName: options.queueName ?? DEFAULT_QUEUE_NAME,
    maxAttempts: wholeNumber("maxAttempts", options.maxAttempts, PG_QUEUE_DEFAULTS.maxAttempts, 1, 100),
    heartbeatSeconds: wholeNumber(
      "heartbeatSeconds",
      options.heartbeatSeconds,
      PG_QUEUE_DEFAULTS.heartbeatSeconds,
      10,
      3600,
    ),
    maxRunSeconds: wholeNumber(
      "maxRunSeconds",
      options.maxRunSeconds,
      PG_QUEUE_DEFAULTS.maxRunSeconds,
      1,
      24 * 3600,
    ),
    maxUnfinished: wholeNumber(
      "maxUnfinished",
      options.maxUnfinished,
      PG_QUEUE_DEFAULTS.maxUnfinished,
      1,
      10_000_000,
    ),
  };
  const superviseIntervalSeconds = wholeNumber(
    "superviseIntervalSeconds",
    options.superviseIntervalSeconds,
    PG_QUEUE_DEFAULTS.superviseIntervalSeconds,
    1,
    3600,
  );
  const onError = options.onError ?? (() => {});
  const { boss, db } = await openJobBoss({
    url: options.url,
    queueName: settings.queueName,
    poolSize: 6,
    superviseIntervalSeconds,
    listenForJobs: false,
    onError,
  });
  const queue = new PgBossQueue(boss, db, settings);
  await queue.listen(onError);
  return queue;
}

class PgBossQueue implements JobQueue {
  private readonly boss: PgBoss;
  private readonly db: Db;
  private readonly settings: {
    queueName: string;
    maxAttempts: number;
    heartbeatSeconds: number;
    maxRunSeconds: number;
    maxUnfinished: number;
  };
  /** Waiting readers by job id. */
  private readonly readers = new Map<string, Set<Wakeup>>();
  private listener: ListenHandle | undefined;
  private closed = false;

  constructor(boss: PgBoss, db: Db, settings: PgBossQueue["settings"]) {
    this.boss = boss;
    this.db = db;
    this.settings = settings;
  }

  /** Starts the one listening connection; without it (an adapter that cannot listen) readers poll. */
  async listen(onError: (error: Error) => void): Promise<void> {
    if (!this.db.listen) return;
    try {
      this.listener = await this.db.listen(
        JOBS_CHANNEL,
        (payload) => this.wake(payload.slice(2)),
        // Notifications sent while the connection was down are lost: every reader looks again.
        () => {
          for (const id of this.readers.keys()) this.wake(id);
        },
      );
    } catch (error) {
      onError(error as Error);
    }
  }

  async submit(spec: unknown, options: { owner?: string } = {}): Promise<JobRecord> {
    const json = specJson(spec);
    const owner = checkedOwner(options.owner);
    if (this.closed) throw new JobError({ message: "the job queue is closed", reason: "unavailable" });
    const { queueName, maxAttempts, heartbeatSeconds, maxRunSeconds, maxUnfinished } = this.settings;
    // A count, then an insert: submitters racing may pass the cap by a few, never by many.
    if ((await countUnfinished(this.db, queueName)) >= maxUnfinished) {
      throw new JobError({
        message: `the job queue is full (${maxUnfinished} jobs queued or running); try again later`,
        reason: "full",
      });
    }
    const id = randomUUID();
    // The record and pg-boss's job commit together: a worker never takes a job without a record, and a record
    // never waits for a job that was not queued.
    return inTransaction(this.db, async (tx) => {
      const record = await insertRecord(tx, { id, queue: queueName, spec: json, owner, maxAttempts });
      await this.boss.send(
        queueName,
        { jobId: id },
        {
          id,
          db: tx,
          retryLimit: maxAttempts - 1,
          heartbeatSeconds,
          expireInSeconds: maxRunSeconds,
        },
      );
      return record;
    });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    return readRecord(this.db, id);
  }

  async cancel(id: string): Promise<JobRecord | undefined> {
    const outcome = await cancelRecord(this.db, id);
    if (outcome?.changed) {
      // Our record has ended; taking the job out of pg-boss too means no worker starts it, and the worker
      // running it loses its claim at its next heartbeat even if it missed the notification.
      await this.boss.cancel(outcome.queue, id).catch(() => {});
    }
    return outcome?.record;
  }

  async *events(id: string, options: { after?: number; signal?: AbortSignal } = {}): AsyncIterable<JobEvent> {
    let after = checkedAfter(options.after);
    const { signal } = options;
    if (!isPlausibleId(id)) return;
    const wakeup = new Wakeup();
    const waiting = this.readers.get(id) ?? new Set<Wakeup>();
    this.readers.set(id, waiting);
    waiting.add(wakeup);
    try {
      while (!signal?.aborted && !this.closed) {
        const page = await readEvents(this.db, id, after, PAGE);
        if (!page) return;
        for (const event of page.events) {
          after = event.seq;
          yield event;
          if (signal?.aborted || this.closed) return;
        }
        if (page.events.length === PAGE) continue;
        // Read in one snapshot with the events: an ended job's events are all there.
        if (FINAL_JOB_STATUSES.includes(page.status)) return;
        await wakeup.wait(this.listener ? RECHECK_MS : RECHECK_WITHOUT_LISTENER_MS, signal);
      }
    } finally {
      waiting.delete(wakeup);
      if (waiting.size === 0 && this.readers.get(id) === waiting) this.readers.delete(id);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of this.readers.keys()) this.wake(id);
    await this.listener?.close().catch(() => {});
    await this.boss.stop({ graceful: false, timeout: 5_000 }).catch(() => {});
  }

  private wake(id: string): void {
    const waiting = this.readers.get(id);
    if (waiting) for (const wakeup of waiting) wakeup.notify();
  }
}
