import { type Db, PgBoss } from "pg-boss";
import { JobError } from "../../errors/job-error.ts";
import { failureReason } from "../../memory/stores/postgres/postgres-errors.ts";
import { isPostgresUrl, urlWithoutPassword } from "../../shared/postgres-url.ts";
import { ensureJobTables } from "./job-tables.ts";

/** The pg-boss queue runs go through unless told otherwise; `rlm serve` and `rlm worker` use it. */
export const DEFAULT_QUEUE_NAME = "rlm-runs";

/** Where pg-boss puts a job it gave up on (its retries spent); a worker ends such jobs `failed`. */
export const abandonedQueueName = (queue: string) => `${queue}-abandoned`;

export interface JobBossOptions {
  url: string;
  queueName: string;
  /** Connections in pg-boss's pool, which our statements share. */
  poolSize: number;
  /**
   * How often this process looks for jobs whose worker went silent (pg-boss's supervise and monitor passes; one
   * instance in the whole deployment does each pass, whichever comes first).
   */
  superviseIntervalSeconds: number;
  /** Lets pg-boss wake this process's workers the moment a job is queued (workers only). */
  listenForJobs: boolean;
  onError: (error: Error) => void;
}

/** Starts pg-boss on `url` and makes sure its queues and our tables exist. */
export async function openJobBoss(options: JobBossOptions): Promise<{ boss: PgBoss; db: Db }> {
  const { url, queueName } = options;
  const location = urlWithoutPassword(url);
  if (!isPostgresUrl(url)) {
    throw new JobError({
      message: `not a PostgreSQL URL: ${location} (expected a URL such as postgres://HOST:5432/DB, with USER:PASSWORD@ before the host)`,
      reason: "invalid",
    });
  }
  const boss = new PgBoss({
    connectionString: url,
    max: options.poolSize,
    connectionTimeoutMillis: 10_000,
    superviseIntervalSeconds: options.superviseIntervalSeconds,
    monitorIntervalSeconds: options.superviseIntervalSeconds,
    // No cron schedules here; their timekeeper would only poll.
    schedule: false,
    useListenNotify: options.listenForJobs,
  });
  boss.on("error", options.onError);
  try {
    await boss.start();
    const db = boss.getDb();
    await ensureJobTables(db);
    const abandoned = abandonedQueueName(queueName);
    await boss.createQueue(abandoned, { retryLimit: 5 });
    await boss.createQueue(queueName, { notify: true, deadLetter: abandoned });
    return { boss, db };
  } catch (error) {
    await boss.stop({ graceful: false }).catch(() => {});
    throw new JobError({
      message: `cannot open the job queue at ${location}: ${failureReason(error)}`,
      reason: "unavailable",
      cause: error,
    });
  }
}
