import type { Db } from "pg-boss";

/**
 * Our tables beside pg-boss's (which lives in its own `pgboss` schema and holds only the queue: which job is
 * waiting, which worker holds it, its retries). Ours hold the canonical job: status, result, events. Names carry
 * a `jobs_` prefix: the database is shared with the memory store (`memory_` tables) and maybe other programs.
 *
 * - `jobs_records`: one row per job. A job ends by one conditional UPDATE (`... WHERE status = 'running' AND
 *   attempts = $attempt`), so two writers can never both end it; `attempts` fences out a worker whose claim
 *   lapsed. `event_count`/`event_bytes` number the events and count them against the limits.
 * - `jobs_events`: a job's events by number (1, 2, ...), JSON as emitted (`json`, not `jsonb`: kept verbatim,
 *   NUL characters included).
 * - `jobs_endings`: an append-only log of every try to end a job, whether it took (`applied`) or found the job
 *   ended already: who ended each job, and proof that none ended twice.
 */

/** The channel of our notifications: `e:<id>` (new events) and `s:<id>` (the job ended). */
export const JOBS_CHANNEL = "rlm_jobs";

const TABLES = [
  `CREATE TABLE IF NOT EXISTS jobs_records (
    id text PRIMARY KEY,
    queue text NOT NULL,
    status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    spec json NOT NULL,
    owner text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    result json,
    error text,
    event_count integer NOT NULL DEFAULT 0,
    event_bytes bigint NOT NULL DEFAULT 0,
    worker text
  )`,
  `CREATE TABLE IF NOT EXISTS jobs_events (
    job_id text NOT NULL REFERENCES jobs_records (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    event json NOT NULL,
    PRIMARY KEY (job_id, seq)
  )`,
  `CREATE TABLE IF NOT EXISTS jobs_endings (
    seq bigserial PRIMARY KEY,
    job_id text NOT NULL REFERENCES jobs_records (id) ON DELETE CASCADE,
    status text NOT NULL,
    attempt integer NOT NULL,
    applied boolean NOT NULL,
    ended_by text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE INDEX IF NOT EXISTS jobs_records_unfinished ON jobs_records (queue)
    WHERE status IN ('queued', 'running')`,
  "CREATE INDEX IF NOT EXISTS jobs_records_finished ON jobs_records (finished_at) WHERE finished_at IS NOT NULL",
  "CREATE INDEX IF NOT EXISTS jobs_endings_job ON jobs_endings (job_id)",
];

/** Held while the tables are created (two-key form, apart from the memory store's schema lock). */
const SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(1919708523, 2)";

/** Creates what is missing; safe when several processes start at once. */
export async function ensureJobTables(db: Db): Promise<void> {
  const { rows } = await db.executeSql(
    "SELECT to_regclass('jobs_records') IS NOT NULL AND to_regclass('jobs_endings_job') IS NOT NULL AS ready",
  );
  if (rows[0]?.ready) return;
  await inTransaction(db, async (tx) => {
    await tx.executeSql(SCHEMA_LOCK);
    for (const statement of TABLES) await tx.executeSql(statement);
  });
}

/** Runs `work` in one transaction on pg-boss's pool. */
export async function inTransaction<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  if (!db.beginTransaction) throw new Error("this pg-boss database adapter cannot open transactions");
  const transaction = await db.beginTransaction();
  try {
    const result = await work(transaction.db);
    await transaction.commit();
    return result;
  } catch (error) {
    await transaction.rollback();
    throw error;
  }
}

/** What `Db.listen` returns (pg-boss does not export the type). */
export type ListenHandle = Awaited<ReturnType<NonNullable<Db["listen"]>>>;
