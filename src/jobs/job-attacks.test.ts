/**
 * The job queues attacked: a flood of large specs, runs with large results, an error line a database would
 * refuse. What a queue keeps in memory must stay bounded whatever its clients and runs send.
 */
import { describe, expect, it } from "vitest";
import type { JobQueue, JobRecord } from "../spec/job-queue.ts";
import { createInProcessQueue } from "./in-process-queue.ts";
import { errorLine, JOB_LIMITS } from "./job-limits.ts";

async function settled(queue: JobQueue, id: string): Promise<JobRecord> {
  for (;;) {
    const record = await queue.get(id);
    if (record && ["completed", "failed", "cancelled"].includes(record.status)) return record;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("the in-process queue under a flood", () => {
  it("refuses specs past the bytes that may wait, and lets a spec go once its job starts", async () => {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const queue = createInProcessQueue({
      concurrency: 1,
      maxQueuedSpecBytes: 1_000_000,
      executor: async () => {
        await released;
        return "ok";
      },
    });
    const spec = { text: "x".repeat(300_000) };
    try {
      const running = await queue.submit(spec); // starts at once: its spec no longer waits
      const waiting = [await queue.submit(spec), await queue.submit(spec), await queue.submit(spec)];
      await expect(queue.submit(spec)).rejects.toMatchObject({ reason: "full" });
      // A cancelled job that waited gives its place back.
      await queue.cancel(waiting[2]?.id ?? "");
      const again = await queue.submit(spec);
      release();
      for (const job of [running, ...waiting.slice(0, 2), again]) {
        expect((await settled(queue, job.id)).status).toBe("completed");
      }
    } finally {
      release();
      await queue.close();
    }
  });

  it("forgets the oldest ended jobs past the bytes of results it keeps", async () => {
    const queue = createInProcessQueue({
      maxResultBytes: 1_000_000,
      executor: async (spec) => ({ n: spec, text: "y".repeat(400_000) }),
    });
    try {
      const ids: string[] = [];
      for (let n = 0; n < 4; n++) {
        const { id } = await queue.submit(n);
        await settled(queue, id);
        ids.push(id);
      }
      expect(await queue.get(ids[0] ?? "")).toBeUndefined();
      expect(await queue.get(ids[1] ?? "")).toBeUndefined();
      expect((await queue.get(ids[3] ?? ""))?.result).toMatchObject({ n: 3 });
    } finally {
      await queue.close();
    }
  });
});

describe("a job's error line", () => {
  it("holds no control characters (PostgreSQL's text refuses NUL) and is cut to size", () => {
    const line = errorLine(new Error(`bad\u0000byte\rhere\u001b[31m ${"z".repeat(10_000_000)}\nsecond line`));
    const controls = [...line].filter((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
    expect(controls).toEqual([]);
    expect(line.startsWith("bad byte here [31m zzz")).toBe(true);
    expect(line.length).toBeLessThanOrEqual(JOB_LIMITS.errorChars);
  });
});
