/**
 * The job queue of `rlm serve`: in this process by default (its runs share the server's run slots), or in
 * PostgreSQL with `--db postgres://...` for `rlm worker` processes (pg-boss, loaded only then). The in-process
 * queue also says what each run spent as its executor returns (RunSpendSource), so a cancelled job's spend is
 * booked exactly under its key.
 */

import { UsageError } from "../errors/usage-error.ts";
import { createInProcessQueue } from "../jobs/in-process-queue.ts";
import { isPostgresUrl, urlWithoutPassword } from "../shared/postgres-url.ts";
import type { JobExecutor, JobQueue } from "../spec/job-queue.ts";
import type { RunSlots } from "./run-slots.ts";
import { RunSpendLog, type RunSpendSource } from "./run-spend.ts";

export async function openJobQueue(
  db: string | undefined,
  options: { executor: JobExecutor; slots: RunSlots; concurrency: number },
): Promise<JobQueue> {
  if (db === undefined) {
    const { executor, slots } = options;
    const spend = new RunSpendLog();
    const queue = createInProcessQueue({
      executor: async (spec, context) => {
        let result: unknown;
        try {
          result = await slots.run(context.signal, () => executor(spec, context));
          return result;
        } finally {
          spend.record(context.jobId, result);
        }
      },
      concurrency: options.concurrency,
    });
    const withSpend: JobQueue & RunSpendSource = {
      submit: (spec, submitOptions) => queue.submit(spec, submitOptions),
      get: (id) => queue.get(id),
      cancel: (id) => queue.cancel(id),
      events: (id, eventOptions) => queue.events(id, eventOptions),
      close: () => queue.close(),
      runSpend: (id, waitMs, signal) => spend.runSpend(id, waitMs, signal),
    };
    return withSpend;
  }
  if (!isPostgresUrl(db)) {
    throw new UsageError({
      message: `--db takes a PostgreSQL URL such as postgres://HOST:5432/DB (user and password as USER:PASSWORD@ before the host), got "${urlWithoutPassword(db)}"; without --db, runs execute in this process.`,
    });
  }
  const { createPgBossQueue } = await import("../jobs/pg-boss-queue.ts");
  return createPgBossQueue({ url: db });
}
