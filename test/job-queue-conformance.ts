import { afterEach, describe, expect, it } from "vitest";
import { JobError } from "../src/errors/job-error.ts";
import { mulberry32 } from "../src/shared/random.ts";
import {
  FINAL_JOB_STATUSES,
  type JobEvent,
  type JobExecutor,
  type JobQueue,
  type JobRecord,
} from "../src/spec/job-queue.ts";

/**
 * Opens a queue whose jobs `executor` runs, `concurrency` at once (default 1), that sees no jobs of other
 * tests. Its `close()` stops whatever runs the jobs too.
 */
export type OpenJobQueue = (executor: JobExecutor, options?: { concurrency?: number }) => Promise<JobQueue>;

/** How long a test waits for a queue to get somewhere (a worker polls; a CI machine is slow). */
const WAIT_MS = 15_000;

/** A promise to open from outside: `open()` resolves `opened`. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

async function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the job until `done` holds for it. */
async function waitFor(
  queue: JobQueue,
  id: string,
  done: (record: JobRecord) => boolean,
  what: string,
): Promise<JobRecord> {
  const deadline = Date.now() + WAIT_MS;
  while (true) {
    const record = await queue.get(id);
    if (record && done(record)) return record;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last seen ${JSON.stringify(record)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const ended = (record: JobRecord) => FINAL_JOB_STATUSES.includes(record.status);

async function collect(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const seen: JobEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

/** The one suite every JobQueue passes (src/spec/job-queue.ts); the executors are test functions. */
export function describeJobQueueConformance(name: string, openQueue: OpenJobQueue): void {
  describe(`job queue conformance: ${name}`, () => {
    const opened: JobQueue[] = [];

    async function open(executor: JobExecutor, concurrency = 1): Promise<JobQueue> {
      const queue = await openQueue(executor, { concurrency });
      opened.push(queue);
      return queue;
    }

    afterEach(async () => {
      for (const queue of opened.splice(0)) await queue.close();
    });

    it("stores a job as queued at once, reads it back, and refuses specs that are not JSON or too large", async () => {
      const release = gate();
      const queue = await open(async () => {
        await release.opened;
        return null;
      });
      const submitted = await queue.submit({ question: "what?" }, { owner: "alice" });
      expect(submitted).toMatchObject({ status: "queued", attempts: 0, owner: "alice" });
      expect(typeof submitted.id).toBe("string");
      expect(new Date(submitted.createdAt).toISOString()).toBe(submitted.createdAt);
      expect((await queue.get(submitted.id))?.id).toBe(submitted.id);
      expect(await queue.get("no-such-job")).toBeUndefined();
      expect(await queue.cancel("no-such-job")).toBeUndefined();

      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(queue.submit(cyclic)).rejects.toMatchObject({ reason: "invalid" });
      const huge = queue.submit({ text: "x".repeat(1_100_000) });
      await expect(huge).rejects.toBeInstanceOf(JobError);
      await expect(huge).rejects.toThrow(/more than the \d+ allowed/);
      await expect(queue.submit({}, { owner: "o".repeat(201) })).rejects.toMatchObject({ reason: "invalid" });
      release.open();
      await waitFor(queue, submitted.id, ended, "the job to end");
    });

    it("stores what the executor returns, as JSON, and gives it the spec, the job id and the attempt", async () => {
      const calls: Array<{ spec: unknown; jobId: string; attempt: number }> = [];
      const queue = await open(async (spec, context) => {
        calls.push({ spec, jobId: context.jobId, attempt: context.attempt });
        return { answer: "42", at: new Date(0), nested: { list: [1, "two", null] }, dropped: undefined };
      });
      const { id } = await queue.submit({ question: "meaning?", when: new Date(86_400_000) });
      const record = await waitFor(queue, id, ended, "the job to complete");
      expect(record).toMatchObject({ id, status: "completed", attempts: 1 });
      expect(record.result).toEqual({
        answer: "42",
        at: "1970-01-01T00:00:00.000Z",
        nested: { list: [1, "two", null] },
      });
      expect(record.error).toBeUndefined();
      expect(Date.parse(record.startedAt ?? "")).toBeLessThanOrEqual(Date.parse(record.finishedAt ?? ""));
      expect(calls).toEqual([
        { spec: { question: "meaning?", when: "1970-01-02T00:00:00.000Z" }, jobId: id, attempt: 1 },
      ]);
    });

    it("stores a failure with the first line of the error's message, and no result", async () => {
      const queue = await open(async () => {
        throw new Error("the model refused\n    at someFrame (file.ts:1:1)");
      });
      const { id } = await queue.submit({});
      const record = await waitFor(queue, id, ended, "the job to fail");
      expect(record).toMatchObject({ status: "failed", error: "the model refused", attempts: 1 });
      expect(record.result).toBeUndefined();
    });

    it("cancels a queued job: it never starts", async () => {
      const release = gate();
      const started: string[] = [];
      const queue = await open(async (spec, { jobId }) => {
        started.push(jobId);
        if ((spec as { block?: boolean }).block) await release.opened;
        return "done";
      });
      const first = await queue.submit({ block: true });
      const second = await queue.submit({});
      await waitFor(queue, first.id, (record) => record.status === "running", "the first job to start");
      const cancelled = await queue.cancel(second.id);
      expect(cancelled).toMatchObject({ id: second.id, status: "cancelled" });
      expect(cancelled?.error).toEqual(expect.any(String));
      release.open();
      // Jobs start in order: once a later job has run, the cancelled one would have started before it.
      const third = await queue.submit({});
      await waitFor(queue, third.id, ended, "a later job to end");
      expect(started).toEqual([first.id, third.id]);
      expect((await queue.get(second.id))?.status).toBe("cancelled");
      expect((await queue.get(first.id))?.status).toBe("completed");
    });

    it("cancels a running job: its signal aborts, and what it returns afterwards is not kept", async () => {
      const aborted = gate();
      const queue = await open(async (spec, { signal }) => {
        if (!(spec as { wait?: boolean }).wait) return "next";
        await new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => resolve(), { once: true }),
        );
        aborted.open();
        return { answer: "too late" };
      });
      const { id } = await queue.submit({ wait: true });
      await waitFor(queue, id, (record) => record.status === "running", "the job to start");
      const cancelled = await queue.cancel(id);
      expect(cancelled?.status).toBe("cancelled");
      await within(aborted.opened, "the executor's signal to abort");
      // With one job at a time, the next job ends only after the cancelled one's executor has returned.
      const next = await queue.submit({});
      await waitFor(queue, next.id, ended, "the next job to end");
      const record = await queue.get(id);
      expect(record?.status).toBe("cancelled");
      expect(record?.result).toBeUndefined();
      expect((await queue.cancel(id))?.status).toBe("cancelled");
    });

    it("numbers events from 1, streams them live, and replays those after `after` to a late reader", async () => {
      const release = gate();
      const queue = await open(async (_spec, { emit }) => {
        emit({ n: 1 });
        emit({ n: 2, at: new Date(0) });
        await release.opened;
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        emit(cyclic);
        return "ok";
      });
      const { id } = await queue.submit({});
      const live: JobEvent[] = [];
      const twoSeen = gate();
      const reading = (async () => {
        for await (const event of queue.events(id)) {
          live.push(event);
          if (live.length === 2) twoSeen.open();
        }
      })();
      // The first two arrive while the job still runs: they are live, not read after the end.
      await within(twoSeen.opened, "the first two events");
      expect((await queue.get(id))?.status).toBe("running");
      release.open();
      await within(reading, "the reader to end with the job");
      const all = [
        { seq: 1, event: { n: 1 } },
        { seq: 2, event: { n: 2, at: "1970-01-01T00:00:00.000Z" } },
        { seq: 3, event: { type: "event-not-json" } },
      ];
      expect(live).toEqual(all);
      expect((await queue.get(id))?.status).toBe("completed");
      expect(await collect(queue.events(id))).toEqual(all);
      expect(await collect(queue.events(id, { after: 1 }))).toEqual(all.slice(1));
      expect(await collect(queue.events(id, { after: 3 }))).toEqual([]);
      expect(await collect(queue.events("no-such-job"))).toEqual([]);
    });

    it("gives a reader that attaches mid-run the stored events first, and stops a reader on its signal", async () => {
      const release = gate();
      const emitted = gate();
      const queue = await open(async (_spec, { emit }) => {
        emit("a");
        emit("b");
        emitted.open();
        await release.opened;
        emit("c");
        return "ok";
      });
      const { id } = await queue.submit({});
      await within(emitted.opened, "the first events");
      const controller = new AbortController();
      const seen: JobEvent[] = [];
      for await (const event of queue.events(id, { after: 1, signal: controller.signal })) {
        seen.push(event);
        controller.abort();
      }
      expect(seen).toEqual([{ seq: 2, event: "b" }]);
      const late = queue.events(id);
      release.open();
      expect(await within(collect(late), "the late reader")).toEqual([
        { seq: 1, event: "a" },
        { seq: 2, event: "b" },
        { seq: 3, event: "c" },
      ]);
    });

    it("ends every job exactly once when cancels race with completions", async () => {
      const random = mulberry32(16);
      const delays = Array.from({ length: 12 }, () => Math.floor(random() * 40));
      const queue = await open(async (spec, { emit, signal }) => {
        const { index } = spec as { index: number };
        emit({ index, phase: "start" });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delays[index]);
          const stop = () => {
            clearTimeout(timer);
            resolve();
          };
          signal.addEventListener("abort", stop, { once: true });
        });
        if (signal.aborted) throw new Error("stopped");
        emit({ index, phase: "end" });
        return { index };
      }, 3);
      const jobs = await Promise.all(delays.map((_, index) => queue.submit({ index })));
      const readers = jobs.map((job) => collect(queue.events(job.id)));
      const cancels = await Promise.all(
        jobs.map(async (job, index) => {
          if (index % 3 !== 0) return undefined;
          await new Promise((resolve) => setTimeout(resolve, delays[index]));
          return queue.cancel(job.id);
        }),
      );
      const finals = await Promise.all(
        jobs.map((job) => waitFor(queue, job.id, ended, `job ${job.id} to end`)),
      );
      const events = await within(Promise.all(readers), "every reader to end");
      for (const [index, record] of finals.entries()) {
        const cancelledAs = cancels[index];
        // What a cancel answered is what the job stays: a cancel that lost the race reports the job as it ended.
        if (cancelledAs && ended(cancelledAs)) expect(record.status).toBe(cancelledAs.status);
        if (record.status === "completed") {
          expect(record.result).toEqual({ index });
          expect(record.error).toBeUndefined();
        } else {
          expect(record.status).toBe("cancelled");
          expect(index % 3).toBe(0);
          expect(record.result).toBeUndefined();
        }
        const seqs = (events[index] ?? []).map((event) => event.seq);
        expect(seqs).toEqual(seqs.map((_, position) => position + 1));
        expect(record.attempts).toBeLessThanOrEqual(1);
      }
      expect(finals.filter((record) => record.status === "completed").length).toBeGreaterThanOrEqual(8);
      // Read again once everything has settled: nothing moved after it ended.
      const again = await Promise.all(jobs.map((job) => queue.get(job.id)));
      expect(again).toEqual(finals);
    });
  });
}
