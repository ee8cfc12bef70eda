/**
 * Every statement on our job tables (see job-tables.ts), shared by the queue (submit, read, cancel) and the
 * worker (claim, events, end). Each change is one statement: the status change, its line in `jobs_endings` and
 * its notification commit together or not at all.
 */
import type { Db } from "pg-boss";
import type { JobEvent, JobRecord, JobStatus } from "../../spec/job-queue.ts";
import { JOBS_CHANNEL } from "./job-tables.ts";

/** Ids are UUIDs; anything much longer is no job of ours and is not sent to the database. */
const MAX_ID_LENGTH = 100;

export const isPlausibleId = (id: unknown): id is string =>
  typeof id === "string" && id.length > 0 && id.length <= MAX_ID_LENGTH;

interface RecordRow {
  id: string;
  status: JobStatus;
  owner: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  attempts: number;
  result: unknown;
  error: string | null;
}

const RECORD_COLUMNS = "id, status, owner, created_at, started_at, finished_at, attempts, result, error";

function toRecord(row: RecordRow): JobRecord {
  const record: JobRecord = {
    id: row.id,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    attempts: row.attempts,
  };
  if (row.started_at) record.startedAt = row.started_at.toISOString();
  if (row.finished_at) record.finishedAt = row.finished_at.toISOString();
  if (row.status === "completed") record.result = row.result;
  if (row.error !== null) record.error = row.error;
  if (row.owner !== null) record.owner = row.owner;
  return record;
}

/** Says "words stopped N time(s)" in SQL, N being the expression `count`. */
const stoppedTimes = (count: string) =>
  `'the worker running it stopped ' || ${count} || CASE WHEN ${count} = 1 THEN ' time' ELSE ' times' END`;

export async function insertRecord(
  db: Db,
  job: { id: string; queue: string; spec: string; owner: string | undefined; maxAttempts: number },
): Promise<JobRecord> {
  const { rows } = await db.executeSql(
    `INSERT INTO jobs_records (id, queue, status, spec, owner, max_attempts)
     VALUES ($1, $2, 'queued', $3::json, $4, $5) RETURNING ${RECORD_COLUMNS}`,
    [job.id, job.queue, job.spec, job.owner ?? null, job.maxAttempts],
  );
  return toRecord(rows[0] as RecordRow);
}

export async function countUnfinished(db: Db, queue: string): Promise<number> {
  const { rows } = await db.executeSql(
    "SELECT count(*)::int AS n FROM jobs_records WHERE queue = $1 AND status IN ('queued', 'running')",
    [queue],
  );
  return (rows[0] as { n: number }).n;
}

export async function readRecord(db: Db, id: string): Promise<JobRecord | undefined> {
  if (!isPlausibleId(id)) return undefined;
  const { rows } = await db.executeSql(`SELECT ${RECORD_COLUMNS} FROM jobs_records WHERE id = $1`, [id]);
  return rows[0] ? toRecord(rows[0] as RecordRow) : undefined;
}

/** Ends a job that has not ended as `cancelled`; `changed` says whether this call ended it. */
export async function cancelRecord(
  db: Db,
  id: string,
): Promise<{ record: JobRecord; changed: boolean; queue: string } | undefined> {
  if (!isPlausibleId(id)) return undefined;
  const { rows } = await db.executeSql(
    `WITH ended AS (
       UPDATE jobs_records SET status = 'cancelled', error = 'cancelled by request', finished_at = now()
       WHERE id = $1 AND status IN ('queued', 'running')
       RETURNING ${RECORD_COLUMNS}, queue
     ), logged AS (
       INSERT INTO jobs_endings (job_id, status, attempt, applied, ended_by)
       SELECT id, 'cancelled', attempts, true, 'cancel' FROM ended RETURNING 1
     ), notified AS (
       SELECT pg_notify('${JOBS_CHANNEL}', 's:' || id) FROM ended
     )
     SELECT ended.*, (SELECT count(*) FROM logged) + (SELECT count(*) FROM notified) AS side FROM ended`,
    [id],
  );
  if (rows[0]) return { record: toRecord(rows[0] as RecordRow), changed: true, queue: rows[0].queue };
  const record = await readRecord(db, id);
  return record ? { record, changed: false, queue: "" } : undefined;
}

export interface Claim {
  status: JobStatus;
  attempts: number;
  spec: unknown;
  eventCount: number;
  eventBytes: number;
}

/**
 * A worker takes a job pg-boss gave it: one more attempt, `running`. A job that has used its attempts ends
 * `failed` here instead (its earlier workers stopped mid-run). Undefined when the job has ended or is unknown.
 */
export async function claimRecord(db: Db, id: string, worker: string): Promise<Claim | undefined> {
  const over = "attempts + 1 > max_attempts";
  const { rows } = await db.executeSql(
    `WITH claimed AS (
       UPDATE jobs_records SET
         attempts = attempts + 1,
         status = CASE WHEN ${over} THEN 'failed' ELSE 'running' END,
         started_at = COALESCE(started_at, now()),
         finished_at = CASE WHEN ${over} THEN now() END,
         error = CASE WHEN ${over} THEN ${stoppedTimes("attempts")} END,
         worker = $2
       WHERE id = $1 AND status IN ('queued', 'running')
       RETURNING id, status, attempts, spec, event_count, event_bytes
     ), logged AS (
       INSERT INTO jobs_endings (job_id, status, attempt, applied, ended_by)
       SELECT id, status, attempts, true, $2 FROM claimed WHERE status = 'failed' RETURNING 1
     ), notified AS (
       SELECT pg_notify('${JOBS_CHANNEL}', 's:' || id) FROM claimed WHERE status = 'failed'
     )
     SELECT claimed.*, (SELECT count(*) FROM logged) + (SELECT count(*) FROM notified) AS side FROM claimed`,
    [id, worker],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    status: row.status,
    attempts: row.attempts,
    spec: row.spec,
    eventCount: row.event_count,
    eventBytes: Number(row.event_bytes),
  };
}

export type Ending = { status: "completed"; result: string } | { status: "failed"; error: string };

/**
 * Ends the job as `ending` says if it is still `running` under this attempt; logs the try either way. Returns
 * whether it took (false: it was cancelled, or another worker's attempt holds it now).
 */
export async function endRecord(
  db: Db,
  job: { id: string; attempt: number; ending: Ending; endedBy: string },
): Promise<boolean> {
  const { ending } = job;
  const { rows } = await db.executeSql(
    `WITH ended AS (
       UPDATE jobs_records SET status = $3, result = $4::json, error = $5, finished_at = now()
       WHERE id = $1 AND attempts = $2 AND status = 'running'
       RETURNING id
     ), logged AS (
       INSERT INTO jobs_endings (job_id, status, attempt, applied, ended_by)
       SELECT $1, $3, $2, EXISTS (SELECT 1 FROM ended), $6
       WHERE EXISTS (SELECT 1 FROM jobs_records WHERE id = $1)
       RETURNING 1
     ), notified AS (
       SELECT pg_notify('${JOBS_CHANNEL}', 's:' || id) FROM ended
     )
     SELECT (SELECT count(*) FROM ended)::int AS applied,
            (SELECT count(*) FROM logged) + (SELECT count(*) FROM notified) AS side`,
    [
      job.id,
      job.attempt,
      ending.status,
      ending.status === "completed" ? ending.result : null,
      ending.status === "failed" ? ending.error : null,
      job.endedBy,
    ],
  );
  return (rows[0] as { applied: number }).applied === 1;
}

/** pg-boss gave up on the job (its workers kept stopping): it ends `failed`, saying so. */
export async function failAbandonedRecord(db: Db, id: string, endedBy: string): Promise<boolean> {
  const { rows } = await db.executeSql(
    `WITH ended AS (
       UPDATE jobs_records SET status = 'failed', finished_at = now(),
         error = CASE WHEN attempts = 0 THEN 'no worker could start it' ELSE ${stoppedTimes("attempts")} END
       WHERE id = $1 AND status IN ('queued', 'running')
       RETURNING id, attempts
     ), logged AS (
       INSERT INTO jobs_endings (job_id, status, attempt, applied, ended_by)
       SELECT id, 'failed', attempts, true, $2 FROM ended RETURNING 1
     ), notified AS (
       SELECT pg_notify('${JOBS_CHANNEL}', 's:' || id) FROM ended
     )
     SELECT (SELECT count(*) FROM ended)::int AS applied,
            (SELECT count(*) FROM logged) + (SELECT count(*) FROM notified) AS side`,
    [id, endedBy],
  );
  return (rows[0] as { applied: number }).applied === 1;
}

/**
 * Appends events (JSON texts, in order) numbered after the job's last one, if the job still runs under this
 * attempt. Returns how many were stored (0: the job ended or another attempt holds it).
 */
export async function appendEvents(
  db: Db,
  job: { id: string; attempt: number },
  events: string[],
  bytes: number,
): Promise<number> {
  const { rows } = await db.executeSql(
    `WITH job AS (
       UPDATE jobs_records SET event_count = event_count + $3, event_bytes = event_bytes + $4
       WHERE id = $1 AND attempts = $2 AND status = 'running'
       RETURNING id, event_count - $3 AS base
     ), inserted AS (
       INSERT INTO jobs_events (job_id, seq, event)
       SELECT job.id, job.base + e.ordinality, e.value
       FROM job, json_array_elements($5::json) WITH ORDINALITY AS e(value, ordinality)
       RETURNING 1
     ), notified AS (
       SELECT pg_notify('${JOBS_CHANNEL}', 'e:' || id) FROM job
     )
     SELECT (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM notified) AS side`,
    [job.id, job.attempt, events.length, bytes, `[${events.join(",")}]`],
  );
  return (rows[0] as { inserted: number }).inserted;
}

/**
 * The job's status and its next events after `after` (at most `limit`), read in one snapshot. `after` is
 * compared as a bigint: it may be any safe integer (rlm serve waits for a job's end with the largest), past
 * the `integer` range of `seq`.
 */
export async function readEvents(
  db: Db,
  id: string,
  after: number,
  limit: number,
): Promise<{ status: JobStatus; events: JobEvent[] } | undefined> {
  if (!isPlausibleId(id)) return undefined;
  const { rows } = await db.executeSql(
    `SELECT r.status, e.seq, e.event FROM jobs_records r
     LEFT JOIN LATERAL (
       SELECT seq, event FROM jobs_events WHERE job_id = r.id AND seq > $2::bigint ORDER BY seq LIMIT $3
     ) e ON true
     WHERE r.id = $1
     ORDER BY e.seq`,
    [id, after, limit],
  );
  if (rows.length === 0) return undefined;
  const events = rows
    .filter((row) => row.seq !== null)
    .map((row) => ({ seq: row.seq as number, event: row.event as unknown }));
  return { status: rows[0].status as JobStatus, events };
}

/** Deletes at most `limit` jobs that ended more than `days` ago (events and log lines go with them). */
export async function deleteOldRecords(db: Db, days: number, limit: number): Promise<number> {
  const { rows } = await db.executeSql(
    `WITH old AS (
       SELECT id FROM jobs_records WHERE finished_at < now() - $1 * interval '1 day'
       LIMIT $2 FOR UPDATE SKIP LOCKED
     ), deleted AS (
       DELETE FROM jobs_records WHERE id IN (SELECT id FROM old) RETURNING 1
     )
     SELECT count(*)::int AS n FROM deleted`,
    [days, limit],
  );
  return (rows[0] as { n: number }).n;
}
