/**
 * The worker side of the PostgreSQL queue (pg-boss-queue.ts): takes jobs from pg-boss, runs the executor, stores
 * events and the one ending in our `jobs_` tables. What `rlm worker` runs; any number of workers on any
 * machines share the queue.
 *
 * - A job's worker heartbeats through pg-boss (every half of the job's `heartbeatSeconds`); when a worker dies,
 *   pg-boss's supervisor (any process's) sees the silence and puts the job back, and another worker claims it:
 *   one more attempt. After the last attempt pg-boss moves it to the abandoned queue, where a worker ends it
 *   `failed` ("the worker running it stopped N times").
 * - A job ends by one conditional UPDATE fenced by status and attempt (postgres/job-rows.ts), so a worker whose
 *   claim lapsed, or that finishes after a cancel, changes nothing: never reported done twice.
 * - A cancel made anywhere reaches the worker by LISTEN/NOTIFY (`s:<id>` on `rlm_jobs`) and aborts the
 *   executor's signal at once; if the notification is lost, pg-boss's next heartbeat finds the job taken from
 *   this worker (the queue cancels it in pg-boss too) and aborts the signal then.
 * - An executor that throws fails the job at once, without retry: a run's error is rarely transient (model calls
 *   retry inside), and a retry would spend its budget again.
 */
import { hostname } from "node:os";
import type { Db, Job, PgBoss } from "pg-boss";
import { JobError } from "../errors/job-error.ts";
import type { JobExecutor } from "../spec/job-queue.ts";
import { EventBudget, errorLine, resultJson } from "./job-limits.ts";
import { EventWriter } from "./postgres/event-writer.ts";
import {
  claimRecord,
  deleteOldRecords,
  type Ending,
  endRecord,
  failAbandonedRecord,
  isPlausibleId,
} from "./postgres/job-rows.ts";
import { JOBS_CHANNEL, type ListenHandle } from "./postgres/job-tables.ts";
import { abandonedQueueName, DEFAULT_QUEUE_NAME, openJobBoss } from "./postgres/open-job-boss.ts";

export interface JobWorkerOptions {
  url: string;
  executor: JobExecutor;
  /** Jobs this worker runs at once (default 2). */
  concurrency?: number;
  /** The queue to take jobs from (default "rlm-runs", as createPgBossQueue). */
  queueName?: string;
  /**
   * How often an idle worker looks for jobs that no notification announces (retries of jobs whose worker died)
   * (default 2 s; at least 0.5). New jobs wake it at once.
   */
  pollingIntervalSeconds?: number;
  /** How often this worker looks for jobs whose worker went silent (default 15 s). */
  superviseIntervalSeconds?: number;
  /** Ended jobs are deleted this many days after they ended (default 7). */
  retentionDays?: number;
  /** Names this worker in `jobs_records.worker` and `jobs_endings` (default host:pid). */
  name?: string;
  /** Errors the worker lives through: pg-boss's, a lost event batch, a failed housekeeping pass. */
  onError?: (error: Error) => void;
  /** Hears how each attempt this worker made ended. */
  onJobEnd?: (report: JobReport) => void;
}

/**
 * How one attempt ended on this worker: `completed`/`failed`/`cancelled` as stored; `released` when it went back
 * to the queue (this worker stopped, or pg-boss took the job back); `superseded` when its ending did not take
 * (another attempt holds the job, or it was cancelled as it ended).
 */
export interface JobReport {
  id: string;
  attempt: number;
  outcome: "completed" | "failed" | "cancelled" | "released" | "superseded";
  seconds: number;
}

export interface JobWorker {
  /** host:pid unless named. */
  readonly name: string;
  /** Jobs running now. */
  readonly running: number;
  /**
   * Stops taking jobs; running ones get `graceMs` (default 10 s) to finish, then their signals abort and they
   * go back to the queue for another worker (that counts as an attempt). Then the connections close. A second
   * call while stopping cuts the grace to its own `graceMs`.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
}

export const WORKER_DEFAULTS = {
  concurrency: 2,
  pollingIntervalSeconds: 2,
  superviseIntervalSeconds: 15,
  retentionDays: 7,
  graceMs: 10_000,
} as const;

/** Why a running job's signal aborted. */
const CANCELLED = "cancelled";
const RELEASED = "released";

/** After the grace, how long stop() waits for aborted executors to return before closing anyway. */
const ABORT_WAIT_MS = 10_000;
/** Tries of the final write before the attempt is given up (and the job retried elsewhere). */
const END_TRIES = 3;
const HOUSEKEEPING_MS = 60 * 60 * 1000;
const HOUSEKEEPING_BATCH = 1000;

interface Running {
  controller: AbortController;
  attempt: number;
}

function checkNumber(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  integer: boolean,
) {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min || (integer && !Number.isSafeInteger(value))) {
    throw new JobError({
      message: `${name} must be ${integer ? "a whole number" : "a number"} of ${min} or more, got ${value}`,
      reason: "invalid",
    });
  }
  return value;
}

async function until(done: () => boolean, ms: number, cut?: AbortSignal): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline && !cut?.aborted)
    await new Promise((resolve) => setTimeout(resolve, 50));
}

/** Starts a worker on the queue at `url`; resolves once it takes jobs. */
export async function startJobWorker(options: JobWorkerOptions): Promise<JobWorker> {
  const concurrency = checkNumber("concurrency", options.concurrency, WORKER_DEFAULTS.concurrency, 1, true);
  const pollingIntervalSeconds = checkNumber(
    "pollingIntervalSeconds",
    options.pollingIntervalSeconds,
    WORKER_DEFAULTS.pollingIntervalSeconds,
    0.5,
    false,
  );
  const superviseIntervalSeconds = checkNumber(
    "superviseIntervalSeconds",
    options.superviseIntervalSeconds,
    WORKER_DEFAULTS.superviseIntervalSeconds,
    1,
    true,
  );
  const retentionDays = checkNumber(
    "retentionDays",
    options.retentionDays,
    WORKER_DEFAULTS.retentionDays,
    1,
    false,
  );
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  const onError = options.onError ?? (() => {});
  const { boss, db } = await openJobBoss({
    url: options.url,
    queueName,
    // Each job holds no connection while it runs; fetches, heartbeats and event writes take one briefly.
    poolSize: Math.min(4 + concurrency, 20),
    superviseIntervalSeconds,
    listenForJobs: true,
    onError,
  });
  const worker = new Worker(boss, db, {
    executor: options.executor,
    queueName,
    name: options.name ?? `${hostname()}:${process.pid}`,
    onError,
    onJobEnd: options.onJobEnd ?? (() => {}),
  });
  try {
    await worker.start(concurrency, pollingIntervalSeconds, retentionDays);
  } catch (error) {
    await worker.stop({ graceMs: 0 });
    throw error;
  }
  return worker;
}

class Worker implements JobWorker {
  readonly name: string;
  private readonly boss: PgBoss;
  private readonly db: Db;
  private readonly executor: JobExecutor;
  private readonly queueName: string;
  private readonly onError: (error: Error) => void;
  private readonly onJobEnd: (report: JobReport) => void;
  private readonly jobs = new Map<string, Running>();
  private readonly workIds: string[] = [];
  /** pg-boss handlers in progress (a job's handler outlives its executor by the final writes). */
  private handlers = 0;
  private listener: ListenHandle | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private readonly graceCut = new AbortController();

  constructor(
    boss: PgBoss,
    db: Db,
    settings: {
      executor: JobExecutor;
      queueName: string;
      name: string;
      onError: (error: Error) => void;
      onJobEnd: (report: JobReport) => void;
    },
  ) {
    this.boss = boss;
    this.db = db;
    this.executor = settings.executor;
    this.queueName = settings.queueName;
    this.name = settings.name;
    this.onError = settings.onError;
    this.onJobEnd = settings.onJobEnd;
  }

  get running(): number {
    return this.jobs.size;
  }

  async start(concurrency: number, pollingIntervalSeconds: number, retentionDays: number): Promise<void> {
    if (this.db.listen) {
      this.listener = await this.db
        .listen(
          JOBS_CHANNEL,
          (payload) => {
            if (payload.startsWith("s:")) this.jobs.get(payload.slice(2))?.controller.abort(CANCELLED);
          },
          // Cancels made while the connection was down sent notifications nobody heard: look them up.
          () => void this.abortEnded(),
        )
        .catch((error) => {
          this.onError(error);
          return undefined;
        });
    }
    const polling = { pollingIntervalSeconds, notifyPollingIntervalSeconds: pollingIntervalSeconds };
    // One pg-boss worker per slot, so each can be told to fetch again the moment its job ends (pg-boss's loop
    // would otherwise wait out its polling interval even with a backlog).
    for (let slot = 0; slot < concurrency; slot++) {
      let workId = "";
      workId = await this.boss.work<{ jobId?: unknown }>(
        this.queueName,
        { ...polling, batchSize: 1, localConcurrency: 1 },
        async (jobs) => {
          this.handlers += 1;
          try {
            for (const job of jobs) await this.handle(job);
          } finally {
            this.handlers -= 1;
            if (!this.stopping) this.boss.notifyWorker(workId);
          }
        },
      );
      this.workIds.push(workId);
    }
    this.workIds.push(
      await this.boss.work<{ jobId?: unknown }>(abandonedQueueName(this.queueName), polling, async (jobs) => {
        for (const job of jobs) {
          const id = job.data?.jobId;
          if (isPlausibleId(id)) await failAbandonedRecord(this.db, id, `${this.name} (abandoned)`);
        }
      }),
    );
    this.housekeeping = setInterval(() => {
      void this.removeOldJobs(retentionDays);
    }, HOUSEKEEPING_MS);
    this.housekeeping.unref();
  }

  stop(options: { graceMs?: number } = {}): Promise<void> {
    const graceMs = options.graceMs ?? WORKER_DEFAULTS.graceMs;
    if (this.stopping) {
      if (graceMs === 0) this.graceCut.abort();
      return this.stopping;
    }
    this.stopping = this.shutDown(graceMs);
    return this.stopping;
  }

  private async shutDown(graceMs: number): Promise<void> {
    clearInterval(this.housekeeping);
    const queues = [this.queueName, abandonedQueueName(this.queueName)];
    await Promise.allSettled(
      this.workIds.flatMap((id) => queues.map((queue) => this.boss.offWork(queue, { id, wait: false }))),
    );
    await until(() => this.handlers === 0, graceMs, this.graceCut.signal);
    for (const job of this.jobs.values()) job.controller.abort(RELEASED);
    await until(() => this.handlers === 0, ABORT_WAIT_MS);
    await this.listener?.close().catch(() => {});
    // Whatever pg-boss still holds is failed back to the queue, to be retried by another worker.
    await this.boss.stop({ graceful: true, timeout: 2_000 }).catch((error) => this.onError(error));
  }

  private async handle(job: Job<{ jobId?: unknown }>): Promise<void> {
    const id = isPlausibleId(job.data?.jobId) ? job.data.jobId : job.id;
    const claim = await claimRecord(this.db, id, this.name);
    // Ended (cancelled, done), over its attempts (ended `failed` by the claim), or unknown: nothing to run.
    if (claim?.status !== "running") return;
    const attempt = claim.attempts;
    const started = Date.now();
    const report = (outcome: JobReport["outcome"]) =>
      this.onJobEnd({ id, attempt, outcome, seconds: (Date.now() - started) / 1000 });
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, job.signal]);
    const writer = new EventWriter(
      this.db,
      { id, attempt },
      new EventBudget(claim.eventCount, claim.eventBytes),
      (error) => this.onError(error as Error),
    );
    this.jobs.set(id, { controller, attempt });
    let ending: Ending;
    // Whether the attempt was stopped before the executor answered: then what it answered (a throw, or a result
    // such as the RLM's `status: "cancelled"`) is the stop's doing, not the run's end.
    let interrupted = false;
    try {
      const result = await this.executor(claim.spec, {
        jobId: id,
        attempt,
        signal,
        emit: (event) => writer.push(event),
      });
      interrupted = signal.aborted;
      const stored = resultJson(result);
      ending =
        "json" in stored
          ? { status: "completed", result: stored.json }
          : { status: "failed", error: stored.error };
    } catch (error) {
      interrupted = signal.aborted;
      ending = { status: "failed", error: errorLine(error) };
    } finally {
      this.jobs.delete(id);
    }
    await writer.close();
    const reason = controller.signal.reason;
    // Cancelled: the record ended when the cancel was made.
    if (reason === CANCELLED) return report("cancelled");
    if (interrupted && (reason === RELEASED || job.signal.aborted)) {
      // It was stopped (this worker is stopping, or pg-boss took the job back) before it ended: not the run's
      // end. Failing the pg-boss job sends it to another worker while attempts remain.
      report("released");
      throw new Error("the worker stopped before the job ended");
    }
    report((await this.end(id, attempt, ending)) ? ending.status : "superseded");
  }

  /** The one write that ends the job, tried a few times: giving up means running the whole job again. */
  private async end(id: string, attempt: number, ending: Ending): Promise<boolean> {
    for (let tries = 1; ; tries++) {
      try {
        return await endRecord(this.db, { id, attempt, ending, endedBy: this.name });
      } catch (error) {
        if (tries >= END_TRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000 * tries));
      }
    }
  }

  /** Aborts the running jobs whose records ended meanwhile (cancelled elsewhere). */
  private async abortEnded(): Promise<void> {
    const ids = [...this.jobs.keys()];
    if (ids.length === 0) return;
    try {
      const { rows } = await this.db.executeSql(
        "SELECT id FROM jobs_records WHERE id = ANY($1) AND status <> 'running'",
        [ids],
      );
      for (const row of rows) this.jobs.get(row.id)?.controller.abort(CANCELLED);
    } catch (error) {
      this.onError(error as Error);
    }
  }

  private async removeOldJobs(days: number): Promise<void> {
    try {
      while ((await deleteOldRecords(this.db, days, HOUSEKEEPING_BATCH)) === HOUSEKEEPING_BATCH) {
        if (this.stopping) return;
      }
    } catch (error) {
      this.onError(error as Error);
    }
  }
}
