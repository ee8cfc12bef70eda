/**
 * The job queue of `rlm serve`: in this process by default (its runs share the server's run slots), or in
 * PostgreSQL with `--db postgres://...` for `rlm worker` processes (pg-boss, loaded only then).
 */

import { UsageError } from "../errors/usage-error.ts";
import { createInProcessQueue } from "../jobs/in-process-queue.ts";
import type { JobExecutor, JobQueue } from "../spec/job-queue.ts";
import type { RunSlots } from "./run-slots.ts";

export async function openJobQueue(
  db: string | undefined,
  options: { executor: JobExecutor; slots: RunSlots; concurrency: number },
): Promise<JobQueue> {
  if (db === undefined) {
    const { executor, slots } = options;
    return createInProcessQueue({
      executor: (spec, context) => slots.run(context.signal, () => executor(spec, context)),
      concurrency: options.concurrency,
    });
  }
  if (!/^postgres(ql)?:\/\//i.test(db) || !URL.canParse(db)) {
    throw new UsageError({
      message: `--db takes a PostgreSQL URL (postgres://user@host/db), got "${db.replace(/:[^:@/]*@/, ":***@")}"; without --db, runs execute in this process.`,
    });
  }
  const { createPgBossQueue } = await import("../jobs/pg-boss-queue.ts");
  return createPgBossQueue({ url: db });
}
