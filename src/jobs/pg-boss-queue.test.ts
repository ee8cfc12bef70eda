import { randomUUID } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { describeJobQueueConformance } from "../../test/job-queue-conformance.ts";
import { usePostgresDatabase } from "../../test/postgres-server.ts";
import type { JobQueue } from "../spec/job-queue.ts";
import { startJobWorker } from "./job-worker.ts";
import { createPgBossQueue } from "./pg-boss-queue.ts";

const postgres = usePostgresDatabase();

/** Fast polling for tests; users keep the defaults. */
const FAST = { pollingIntervalSeconds: 0.5 } as const;

// Each queue gets a pg-boss queue of its own in one shared database, so no test sees another's jobs.
describeJobQueueConformance("pg-boss", async (executor, options) => {
  const queueName = `test-${randomUUID()}`;
  const queue = await createPgBossQueue({ url: postgres.url, queueName });
  const worker = await startJobWorker({
    url: postgres.url,
    queueName,
    executor,
    concurrency: options?.concurrency ?? 1,
    ...FAST,
  });
  return {
    submit: (spec, submitOptions) => queue.submit(spec, submitOptions),
    get: (id) => queue.get(id),
    cancel: (id) => queue.cancel(id),
    events: (id, eventOptions) => queue.events(id, eventOptions),
    async close() {
      await worker.stop({ graceMs: 0 });
      await queue.close();
    },
  } satisfies JobQueue;
});

describe("pg-boss job queue", () => {
  it("names the server without its password when it cannot connect", async () => {
    const error = await createPgBossQueue({ url: "postgres://alice:s3cret@127.0.0.1:9/jobs" }).catch(
      (e) => e,
    );
    expect(error.reason).toBe("unavailable");
    expect(error.message).toMatch(/^cannot open the job queue at postgres:\/\/alice@127\.0\.0\.1:9\/jobs: /);
    expect(String(error.stack)).not.toContain("s3cret");
  });

  // Two executors a stop interrupts: one that throws on abort, and one that resolves with what it has, as the
  // RLM's executor does (`status: "cancelled"`): the second was stored as the job's result, and the run was lost.
  it.each([
    ["throws when aborted", "throws"],
    ["resolves when aborted, as the RLM's executor does", "resolves"],
  ])(
    "a stopping worker gives its running job back (an executor that %s), and another finishes it as attempt 2",
    async (_what, how) => {
      const queueName = `test-${randomUUID()}`;
      const queue = await createPgBossQueue({ url: postgres.url, queueName });
      let started = () => {};
      const running = new Promise<void>((resolve) => {
        started = resolve;
      });
      const stopping = await startJobWorker({
        url: postgres.url,
        queueName,
        ...FAST,
        executor: (_spec, { signal }) => {
          started();
          return new Promise((resolve, reject) =>
            signal.addEventListener("abort", () =>
              how === "throws"
                ? reject(new Error("aborted"))
                : resolve({ status: "cancelled", answer: null }),
            ),
          );
        },
      });
      const reports: string[] = [];
      try {
        const { id } = await queue.submit({});
        await running;
        const second = await startJobWorker({
          url: postgres.url,
          queueName,
          ...FAST,
          executor: async (_spec, { attempt }) => ({ attempt }),
          onJobEnd: (report) => reports.push(`${report.outcome} ${report.attempt}`),
        });
        await stopping.stop({ graceMs: 0 });
        for (;;) {
          const record = await queue.get(id);
          if (record?.status === "completed") {
            expect(record).toMatchObject({ attempts: 2, result: { attempt: 2 } });
            break;
          }
          expect(record?.status).toMatch(/queued|running/);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(reports).toEqual(["completed 2"]);
        await second.stop({ graceMs: 0 });
      } finally {
        await stopping.stop({ graceMs: 0 });
        await queue.close();
      }
    },
  );

  it("reads events after any whole number a client may send (past PostgreSQL's integer)", async () => {
    // rlm serve follows each job of a key with `after: Number.MAX_SAFE_INTEGER` to book its usage; a client
    // may send any Last-Event-ID. Neither may fail (it left the key's usage unbooked and its place held).
    const queue = await createPgBossQueue({ url: postgres.url, queueName: `test-${randomUUID()}` });
    try {
      const { id } = await queue.submit({});
      await queue.cancel(id);
      for (const after of [2 ** 31, Number.MAX_SAFE_INTEGER]) {
        const seen: unknown[] = [];
        for await (const event of queue.events(id, { after })) seen.push(event);
        expect(seen).toEqual([]);
      }
    } finally {
      await queue.close();
    }
  });

  it("logs each job's ending once, in the same statement as the status", async () => {
    const queueName = `test-${randomUUID()}`;
    const queue = await createPgBossQueue({ url: postgres.url, queueName });
    const worker = await startJobWorker({
      url: postgres.url,
      queueName,
      executor: async (spec) => spec,
      concurrency: 2,
      ...FAST,
    });
    try {
      const jobs = await Promise.all(Array.from({ length: 6 }, (_, index) => queue.submit({ index })));
      await queue.cancel(jobs[5]?.id ?? "");
      for (const job of jobs) {
        for (;;) {
          const record = await queue.get(job.id);
          if (record && record.status !== "queued" && record.status !== "running") break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      try {
        const { rows } = await client.query(
          `SELECT r.id, r.status, count(e.*) FILTER (WHERE e.applied)::int AS applied
           FROM jobs_records r LEFT JOIN jobs_endings e ON e.job_id = r.id
           WHERE r.id = ANY($1) GROUP BY r.id, r.status`,
          [jobs.map((job) => job.id)],
        );
        expect(rows).toHaveLength(6);
        for (const row of rows) expect(row.applied).toBe(1);
      } finally {
        await client.end();
      }
    } finally {
      await worker.stop({ graceMs: 0 });
      await queue.close();
    }
  });
});
