import { describe, expect, it } from "vitest";
import { describeJobQueueConformance } from "../../test/job-queue-conformance.ts";
import type { JobEvent, JobQueue, JobRecord } from "../spec/job-queue.ts";
import { createInProcessQueue } from "./in-process-queue.ts";
import { JOB_LIMITS } from "./job-limits.ts";

describeJobQueueConformance("in-process", async (executor, options) =>
  createInProcessQueue({ executor, concurrency: options?.concurrency ?? 1 }),
);

async function settled(queue: JobQueue, id: string): Promise<JobRecord> {
  for (;;) {
    const record = await queue.get(id);
    if (record && ["completed", "failed", "cancelled"].includes(record.status)) return record;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function collect(events: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const seen: JobEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

describe("in-process job queue", () => {
  it("on close, cancels queued and running jobs and aborts the running ones' signals", async () => {
    let abortedReason: unknown;
    const queue = createInProcessQueue({
      concurrency: 1,
      executor: (_spec, { signal }) =>
        new Promise((resolve) =>
          signal.addEventListener("abort", () => {
            abortedReason = signal.reason;
            resolve("late");
          }),
        ),
    });
    const running = await queue.submit({});
    const queued = await queue.submit({});
    await queue.close();
    expect(abortedReason).toBeInstanceOf(Error);
    expect(await queue.get(running.id)).toMatchObject({
      status: "cancelled",
      error: expect.stringMatching(/stopped/),
    });
    expect(await queue.get(queued.id)).toMatchObject({ status: "cancelled", attempts: 0 });
    await expect(queue.submit({})).rejects.toMatchObject({ reason: "unavailable" });
  });

  it("refuses work past its cap of unfinished jobs and forgets the oldest ended jobs past its cap", async () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const queue = createInProcessQueue({
      executor: async () => {
        await released;
        return "ok";
      },
      maxUnfinished: 2,
      maxEndedJobs: 2,
    });
    const first = await queue.submit({});
    await queue.submit({});
    await expect(queue.submit({})).rejects.toMatchObject({ reason: "full" });
    release();
    await settled(queue, first.id);
    const later = [await queue.submit({}), await queue.submit({})];
    for (const job of later) await settled(queue, job.id);
    expect(await queue.get(first.id)).toBeUndefined();
    expect((await queue.get(later[1]?.id ?? ""))?.status).toBe("completed");
    await queue.close();
  });

  it("caps a job's events: too large ones become a marker, and past the count one marker says the rest is dropped", async () => {
    const queue = createInProcessQueue({
      executor: async (_spec, { emit }) => {
        emit("x".repeat(JOB_LIMITS.eventBytes + 1));
        for (let index = 0; index < JOB_LIMITS.eventsPerJob + 5; index++) emit(index);
        return "ok";
      },
    });
    const { id } = await queue.submit({});
    await settled(queue, id);
    const events = await collect(queue.events(id));
    expect(events).toHaveLength(JOB_LIMITS.eventsPerJob);
    expect(events[0]?.event).toEqual({ type: "event-too-large", bytes: JOB_LIMITS.eventBytes + 3 });
    expect(events.at(-1)?.event).toMatchObject({ type: "events-dropped" });
    await queue.close();
  });

  it("keeps at most maxEventBytes of events over all jobs, forgetting ended jobs first", async () => {
    const queue = createInProcessQueue({
      maxEventBytes: 10_000,
      executor: async (spec, { emit }) => {
        for (let index = 0; index < 20; index++) emit("y".repeat(400));
        return spec;
      },
    });
    const first = await queue.submit(1);
    await settled(queue, first.id);
    const second = await queue.submit(2);
    await settled(queue, second.id);
    expect(await queue.get(first.id)).toBeUndefined();
    expect(await collect(queue.events(second.id))).toHaveLength(20);
    await queue.close();
  });
});
